"""`RequestKeys`: a practice's request key as the credentials of its requests (`PracticeKey`), and that key's
lifecycle (exchange, refresh before expiry, re-key on rejection).

The vault is the one source of truth for a practice's current key; the process's `CachedVault` only caches it.
A key is used only while it is fresh: before its stated expiry (less the refresh margin) and, once Sikka has
rejected a key, only a key known not to share its fate: one granted after the rejected request was sent, or one
granted by the renewal that replaced it (its fingerprint is in the new key's `supersedes`). A key rejected before
its stated expiry shows that expiry cannot be trusted, so another stored key granted earlier (the sync's re-keying,
another replica's cache) is not tried: it may have died with it.

Single-flight at two levels: within a process an asyncio lock per account makes concurrent callers share
one renewal; across replicas a row lock on the practice's `pms_integrations` row (PostgreSQL) serialises
renewals, and whoever waited re-reads the vault and uses what the first one stored instead of renewing again.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.db.models import PmsIntegration, utcnow
from server.logs import get_logger
from server.metrics import Metrics
from server.sikka.client import NO_CREDENTIALS, Deadline, Fixed, SikkaClient, SikkaResponse
from server.sikka.errors import AppNotAuthorized, PracticeNotAuthorized, SikkaAuthError, SikkaValidationError
from server.vault.base import PracticeCredentials
from server.vault.cached import CachedVault

log = get_logger(__name__)

KEY_LIFETIME_FALLBACK = timedelta(hours=23)
SUPERSEDED_KEPT = 8  # fingerprints of replaced keys a stored key remembers
_EXPIRES_IN = re.compile(r"(\d+)")


def fingerprint(request_key: str) -> str:
    """A short SHA-256 fingerprint of a request key (what a stored key remembers of the keys it replaced)."""
    return hashlib.sha256(request_key.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Rejection:
    """Sikka rejected `request_key` on a request sent at `sent_at`."""

    request_key: str
    sent_at: datetime


@dataclass(frozen=True, slots=True)
class KeyGrant:
    request_key: str
    refresh_key: str
    expires_at: datetime


def parse_grant(response: SikkaResponse, now: datetime) -> KeyGrant:
    """Read a `POST /request_key` answer; expiry from Request-Key-Expires, else `expires_in` text."""
    body = response.envelope or {}
    request_key = str(body.get("request_key") or "")
    if not request_key:
        raise SikkaValidationError("Sikka returned no request_key")
    return KeyGrant(request_key, str(body.get("refresh_key") or ""), _expiry(response, body, now))


def _expiry(response: SikkaResponse, body: dict[str, object], now: datetime) -> datetime:
    header = response.headers.get("request-key-expires")
    if header:
        try:
            return parsedate_to_datetime(header).astimezone(UTC)
        except (TypeError, ValueError):
            pass
    match = _EXPIRES_IN.search(str(body.get("expires_in") or ""))
    if match:
        return now + timedelta(seconds=int(match.group(1)))
    return now + KEY_LIFETIME_FALLBACK


async def _grant(client: SikkaClient, body: dict[str, str], deadline: Deadline, now: datetime) -> KeyGrant:
    response = await client.send(
        "POST",
        "request_key",
        credentials=NO_CREDENTIALS,
        deadline=deadline,
        json_body={**body, "app_id": client.app_id, "app_key": client.app_key},
    )
    return parse_grant(response, now)


async def exchange_request_key(
    client: SikkaClient, office_id: str, secret_key: str, deadline: Deadline, now: datetime
) -> KeyGrant:
    """A new key from the practice's secret (`grant_type=request_key`)."""
    body = {"grant_type": "request_key", "office_id": office_id, "secret_key": secret_key}
    return await _grant(client, body, deadline, now)


async def refresh_request_key(client: SikkaClient, refresh_key: str, deadline: Deadline, now: datetime) -> KeyGrant:
    """A new key from the refresh key (the grant is `refresh_key`, not `refresh_token`)."""
    return await _grant(client, {"grant_type": "refresh_key", "refresh_key": refresh_key}, deadline, now)


async def forget_access(sessions: async_sessionmaker[AsyncSession], office_id: str) -> None:
    """Sikka refused a key grant for API access (API2007): what we recorded of the office's locations' access is
    stale, so the next sync reads `practice_location` again and turns it on (server/practice_sync.py)."""
    async with sessions.begin() as session:
        await session.execute(
            update(PmsIntegration).where(PmsIntegration.office_id == office_id).values(api_access=None)
        )


async def revoke_keys(client: SikkaClient, credentials: PracticeCredentials, deadline: Deadline) -> None:
    """`DELETE /request_key` and `DELETE /refresh_key` (best effort: an already dead key is fine)."""
    if credentials.request_key:
        key = Fixed({"Request-Key": credentials.request_key})
        await client.send("DELETE", "request_key", credentials=key, deadline=deadline)
    if credentials.refresh_key:
        refresh = Fixed({**client.app_keys.values, "Refresh-Key": credentials.refresh_key})
        await client.send("DELETE", "refresh_key", credentials=refresh, deadline=deadline)


class RequestKeys:
    """Hands out a valid request_key per account and re-keys when Sikka rejects one."""

    def __init__(
        self,
        client: SikkaClient,
        vault: CachedVault,
        sessions: async_sessionmaker[AsyncSession],
        *,
        refresh_margin: timedelta = timedelta(hours=1),
        row_lock: bool = False,
        clock: Callable[[], datetime] = utcnow,
        metrics: Metrics | None = None,
    ) -> None:
        self.client = client
        self.vault = vault
        self.sessions = sessions
        self.refresh_margin = refresh_margin
        self.row_lock = row_lock
        self.clock = clock
        self.metrics = metrics
        self.renewals = 0  # key renewals this process performed (refresh or exchange)
        self._locks: dict[str, asyncio.Lock] = {}

    def _margin(self, credentials: PracticeCredentials) -> timedelta:
        """The refresh margin, at most half the key's lifetime: a key that lives less than the margin is renewed
        once per half-life, not on every call."""
        issued, expiry = credentials.token_issued_at, credentials.token_expiry
        if issued is None or expiry is None:
            return self.refresh_margin
        return min(self.refresh_margin, (expiry - issued) / 2)

    def _fresh(self, credentials: PracticeCredentials) -> bool:
        expiry = credentials.token_expiry
        if not credentials.request_key or expiry is None:
            return False
        return expiry - self._margin(credentials) > self.clock()

    async def credentials(self, account_id: str) -> PracticeCredentials:
        return await self.vault.get(account_id)

    async def request_key(self, account_id: str, deadline: Deadline) -> str:
        return (await self.current(account_id, deadline)).request_key

    async def current(self, account_id: str, deadline: Deadline) -> PracticeCredentials:
        credentials = await self.vault.get(account_id)
        if self._fresh(credentials):
            return credentials
        return await self.renew(account_id, deadline, None)

    @asynccontextmanager
    async def exclusive(self, account_id: str) -> AsyncIterator[None]:
        """This process's renewal lock for the account: onboarding exchanges and stores a practice's keys under it,
        so a renewal never works from credentials it is replacing (take it before any row lock)."""
        async with self._lock(account_id):
            yield

    def _lock(self, account_id: str) -> asyncio.Lock:
        return self._locks.setdefault(account_id, asyncio.Lock())

    def practice(self, account_id: str, deadline: Deadline) -> PracticeKey:
        """The credentials of one request sent with the practice's request key."""
        return PracticeKey(self, account_id, deadline)

    async def renew(self, account_id: str, deadline: Deadline, rejection: Rejection | None) -> PracticeCredentials:
        """A usable key: the cached one, else the stored one (another caller or replica renewed), else a new grant."""
        async with self._lock(account_id):
            credentials = await self.vault.get(account_id)
            if self._usable(credentials, rejection):
                return credentials
            try:
                async with self._replica_lock(account_id):
                    credentials = await self.vault.reload(account_id)
                    if self._usable(credentials, rejection):
                        return credentials
                    renewed = await self._new_keys(account_id, credentials, deadline, rejection)
                    await self.vault.put(account_id, renewed)
                    return renewed
            except PracticeNotAuthorized:
                await forget_access(self.sessions, credentials.office_id)
                raise

    def _usable(self, credentials: PracticeCredentials, rejection: Rejection | None) -> bool:
        """Fresh, and after a rejection known not to share the rejected key's fate (see the module docstring)."""
        if not self._fresh(credentials):
            return False
        if rejection is None:
            return True
        if credentials.request_key == rejection.request_key:
            return False
        issued = credentials.token_issued_at
        granted_since = issued is not None and issued >= rejection.sent_at
        return granted_since or fingerprint(rejection.request_key) in credentials.supersedes

    @asynccontextmanager
    async def _replica_lock(self, account_id: str) -> AsyncIterator[None]:
        """Hold the integration row lock (PostgreSQL `SELECT ... FOR UPDATE`). SQLite deployments are a single
        process, where the asyncio lock suffices (and its one pooled connection must stay free for the vault)."""
        if not self.row_lock:
            yield
            return
        async with self.sessions.begin() as session:
            await session.execute(
                select(PmsIntegration.id).where(PmsIntegration.account_id == account_id).with_for_update()
            )
            yield

    async def _new_keys(
        self, account_id: str, credentials: PracticeCredentials, deadline: Deadline, rejection: Rejection | None
    ) -> PracticeCredentials:
        """Refresh the request_key, or exchange a new one when the refresh grant is refused; a failure of both
        (or Sikka not answering) is counted in `parlae_key_renewal_failures_total` and raised. After a rejection
        the new key records what it replaces: the rejected key and the stored one found unusable."""
        try:
            renewed = await self._grant_new_keys(account_id, credentials, deadline)
        except Exception:
            if self.metrics is not None:
                self.metrics.key_renewal_failures.inc()
            raise
        if rejection is None:
            return renewed
        replaced = [fingerprint(key) for key in dict.fromkeys((rejection.request_key, credentials.request_key)) if key]
        supersedes = tuple(dict.fromkeys((*replaced, *credentials.supersedes)))[:SUPERSEDED_KEPT]
        return renewed.model_copy(update={"supersedes": supersedes})

    async def _grant_new_keys(
        self, account_id: str, credentials: PracticeCredentials, deadline: Deadline
    ) -> PracticeCredentials:
        now = self.clock()
        grant: KeyGrant | None = None
        if credentials.refresh_key:
            try:
                grant = await refresh_request_key(self.client, credentials.refresh_key, deadline, now)
            except (SikkaAuthError, AppNotAuthorized, SikkaValidationError) as exc:  # e.g. a deleted refresh key
                log.info("refresh grant refused; exchanging a new key", account_id=account_id, code=exc.code)
        if grant is None:
            try:
                grant = await exchange_request_key(
                    self.client, credentials.office_id, credentials.secret_key, deadline, now
                )
            except (SikkaAuthError, PracticeNotAuthorized):
                self.vault.invalidate(account_id)
                raise
        self.renewals += 1
        log.info("request key renewed", account_id=account_id)
        return credentials.model_copy(
            update={
                "request_key": grant.request_key,
                "refresh_key": grant.refresh_key or credentials.refresh_key,
                "token_expiry": grant.expires_at,
                "token_issued_at": now,
            }
        )


@dataclass
class PracticeKey:
    """`Credentials` sent with the practice's request key: the current one for each send, or, right after Sikka
    rejected one, the key renewed for that rejection."""

    keys: RequestKeys
    account_id: str
    deadline: Deadline
    _renewed: PracticeCredentials | None = None  # the key to send next, renewed after a rejection
    _sent: Rejection | None = None  # the key last sent and when, should Sikka reject it

    async def headers(self) -> dict[str, str]:
        key = self._renewed or await self.keys.current(self.account_id, self.deadline)
        self._renewed = None
        self._sent = Rejection(key.request_key, self.keys.clock())
        return {"Request-Key": key.request_key}

    async def rejected(self) -> bool:
        if self._sent is None:
            return False
        log.info("sikka rejected the request key; re-keying", account_id=self.account_id)
        self._renewed = await self.keys.renew(self.account_id, self.deadline, self._sent)
        return True
