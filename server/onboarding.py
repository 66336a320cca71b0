"""Practice onboarding and offboarding, always confirmed with Sikka (never on a request body's word).

Activate: the location must be listed by `authorized_practices` (show=all) and a request_key exchange must
succeed; then the account, the vault secret and the integration are written in one transaction: ACTIVE when
Sikka has its data (`data_insert_date` set), PENDING before (a sync activates it once the data is there).
API access comes first: Sikka refuses a key grant (API2007) while a location the grant covers has its access off,
so the caller turns it on (`POST /practice_location`, an app call that needs no request key) unless
`GET /practice_location` shows it on, and only then exchanges keys. Authorise (signed webhook, `practices connect`):
the same, for one location named with its secret_key; a location Sikka does not list yet stores nothing. Retire:
stop serving a location Sikka no longer lists (REVOKED by a signed deauthorisation, INACTIVE by the sync;
server/practice_sync.py).
"""

from __future__ import annotations

import contextlib
import hmac
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth import revoke_account_tokens
from server.db.models import Account, PmsIntegration, utcnow
from server.db.models import IntegrationStatus as IntegrationStatus  # the result's status, for the webhook
from server.logs import get_logger
from server.services import Services
from server.sikka.client import Deadline, Item
from server.sikka.errors import PracticeNotAuthorized, SikkaAuthError, SikkaError
from server.sikka.keys import exchange_request_key, forget_access, revoke_keys
from server.sikka.metadata import Capabilities
from server.sikka.records import text
from server.sikka.zones import UnknownZone, resolve_zone_name
from server.vault.base import PracticeCredentials, SecretNotFound, VaultError

log = get_logger(__name__)

ONBOARDING_DEADLINE_SECONDS = 15.0
ZONE_FIELD = "practice_management_system_refresh_date_time_zone"  # the PMS server's zone (§8)
SECRET_RECOVERY_DAYS = 30


class NotConfirmed(Exception):
    """Sikka lists this office, but not with this secret key or practice (a forged or stale request)."""


class StillAuthorized(Exception):
    """A deauthorisation arrived, but Sikka still lists the practice."""


@dataclass(frozen=True)
class PracticeRef:
    office_id: str
    practice_id: str
    secret_key: str
    practice_name: str = ""


@dataclass(frozen=True)
class OnboardingResult:
    status: IntegrationStatus
    account_id: str | None = None
    created: bool = False
    problem: UnknownZone | None = None  # why a listed location is kept from serving (PENDING)


def listing_for(listed: list[Item], office_id: str, practice_id: str) -> Item | None:
    return next(
        (i for i in listed if text(i, "office_id") == office_id and text(i, "practice_id") == practice_id),
        None,
    )


def same_secret(item: Item, secret_key: str) -> bool:
    return hmac.compare_digest(text(item, "secret_key").encode(), secret_key.encode())


def sharing_keys(item: Item, other: Item) -> bool:
    """Whether two listed locations share request keys: the same office and secret key (one grant covers both)."""
    return text(item, "office_id") == text(other, "office_id") and same_secret(item, text(other, "secret_key"))


def data_ready(item: Item) -> bool:
    """Sikka has uploaded the location's data (before that, its reads answer API2010)."""
    return bool(text(item, "data_insert_date"))


def access_value(item: Item) -> str | None:
    """A `practice_location` row's access as we record it: "on", "off", or None when Sikka says neither."""
    value = text(item, "access").lower()
    return value if value in ("on", "off") else None


class Onboarding:
    def __init__(self, services: Services) -> None:
        self.services = services

    @staticmethod
    def deadline() -> Deadline:
        return Deadline.after(ONBOARDING_DEADLINE_SECONDS)

    async def authorize(self, practice: PracticeRef) -> OnboardingResult:
        """Raises NotConfirmed, SikkaError (unavailable: retry later) or VaultError; writes all or nothing."""
        deadline = self.deadline()
        listed = await self.services.gateway.authorized_practices(deadline)
        item = listing_for(listed, practice.office_id, practice.practice_id)
        if item is None:
            if any(text(i, "office_id") == practice.office_id for i in listed):
                raise NotConfirmed("practice id not listed for this office")
            return OnboardingResult(IntegrationStatus.PENDING)
        if not same_secret(item, practice.secret_key):
            raise NotConfirmed("secret key differs from Sikka's")
        covered = [text(i, "practice_id") for i in listed if sharing_keys(i, item)]
        await self.ensure_access(practice.office_id, covered, deadline)
        return await self.activate(item, deadline, access="on")

    async def secret_changed(self, account_id: str, item: Item) -> bool:
        """Whether Sikka lists another secret key for this location than the one on file (the practice authorised
        the app again, or Sikka issued a new key): its request keys must be exchanged again with the new one."""
        on_file = await self.services.vault.get(account_id)
        return not same_secret(item, on_file.secret_key)

    async def activate(self, item: Item, deadline: Deadline, *, access: str | None = None) -> OnboardingResult:
        """Exchange a request_key for a listed location, then write account, secret and integration together:
        ACTIVE when its data is uploaded, else PENDING. The caller has turned its API access on (`access`: what
        it confirmed, stored as `api_access`); a grant Sikka refuses for access (API2007) marks it unknown, so the
        next sync reads it again. A location that has an account already is re-keyed under the renewal lock.
        A location whose time zone is unknown is stored PENDING without keys, the reason in `last_error` (never
        served in a guessed zone); each sync tries again."""
        from_listing = PracticeCredentials(
            office_id=text(item, "office_id"),
            secret_key=text(item, "secret_key"),
            practice_id=text(item, "practice_id"),
            practice_name=text(item, "practice_name"),
            pms_type=text(item, "practice_management_system"),
        )
        office_id, practice_id = from_listing.office_id, from_listing.practice_id
        pmses = await self.services.gateway.supported_pmses(deadline)
        features = _features(Capabilities.for_pms(from_listing.pms_type, pmses))
        async with self._keys_held(office_id, practice_id):
            try:
                time_zone = resolve_zone_name(text(item, ZONE_FIELD), text(item, "state"))
            except UnknownZone as exc:
                log.warning("practice not activated: unknown time zone", office_id=office_id, zone=exc.reported)
                return await self._store(from_listing, item, features, IntegrationStatus.PENDING, access, problem=exc)
            granted_at = utcnow()
            try:
                grant = await exchange_request_key(
                    self.services.sikka, office_id, from_listing.secret_key, deadline, granted_at
                )
            except PracticeNotAuthorized as exc:
                await forget_access(self.services.sessions, office_id)
                raise NotConfirmed(f"request_key exchange refused ({exc.code})") from None
            except SikkaAuthError as exc:
                raise NotConfirmed(f"request_key exchange refused ({exc.code})") from None
            credentials = from_listing.model_copy(
                update={
                    "time_zone": time_zone,
                    "request_key": grant.request_key,
                    "refresh_key": grant.refresh_key,
                    "token_expiry": grant.expires_at,
                    "token_issued_at": granted_at,
                }
            )
            status = IntegrationStatus.ACTIVE if data_ready(item) else IntegrationStatus.PENDING
            return await self._store(credentials, item, features, status, access)

    @contextlib.asynccontextmanager
    async def _keys_held(self, office_id: str, practice_id: str) -> AsyncIterator[None]:
        """The renewal lock of the location's account, when it has one (`RequestKeys.exclusive`)."""
        async with self.services.sessions() as session:
            account_id = await session.scalar(
                select(PmsIntegration.account_id).where(
                    PmsIntegration.office_id == office_id, PmsIntegration.practice_id == practice_id
                )
            )
        if account_id is None:
            yield
            return
        async with self.services.request_keys.exclusive(account_id):
            yield

    async def _store(
        self,
        credentials: PracticeCredentials,
        item: Item,
        features: dict[str, bool],
        status: IntegrationStatus,
        access: str | None,
        problem: UnknownZone | None = None,
    ) -> OnboardingResult:
        vault = self.services.vault
        async with self.services.sessions.begin() as session:
            integration, created = await _get_or_create(session, credentials)
            ref = await vault.put(integration.account_id, credentials, session)
            integration.status = status
            integration.secret_name = ref.name
            integration.secret_arn = ref.arn
            integration.pms_type = credentials.pms_type
            integration.time_zone = credentials.time_zone
            integration.features = features
            integration.meta = _metadata(item)
            integration.last_sync_at = utcnow()
            integration.missed_syncs = 0
            integration.last_error = str(problem) if problem else None
            if access is not None:
                integration.api_access = access
            account_id = integration.account_id
        vault.invalidate(account_id)  # committed: the next read takes the new keys from the vault
        self.services.gateway.metadata_cache.invalidate(account_id)
        log.info("practice stored", account_id=account_id, status=str(status), created=created)
        return OnboardingResult(status, account_id, created, problem)

    async def ensure_access(self, office_id: str, practice_ids: Sequence[str], deadline: Deadline) -> list[str]:
        """Turn API access on for these listed locations of one office unless `practice_location` shows it on,
        recording what Sikka shows; returns the ids turned on. Raises SikkaError (what was read stays recorded)."""
        shown = {
            text(row, "practice_id"): access_value(row)
            for row in await self.services.gateway.practice_locations(office_id, deadline)
        }
        await self._record_access(office_id, {practice_id: shown.get(practice_id) for practice_id in practice_ids})
        off = [practice_id for practice_id in practice_ids if shown.get(practice_id) != "on"]
        if off:
            await self.services.gateway.turn_on_access(office_id, off, deadline)
            await self._record_access(office_id, dict.fromkeys(off, "on"))
        return off

    async def _record_access(self, office_id: str, access: dict[str, str | None]) -> None:
        async with self.services.sessions.begin() as session:
            for practice_id, value in access.items():
                await session.execute(
                    update(PmsIntegration)
                    .where(PmsIntegration.office_id == office_id, PmsIntegration.practice_id == practice_id)
                    .values(api_access=value)
                )

    async def deauthorize(self, office_id: str, practice_id: str) -> OnboardingResult:
        """Raises StillAuthorized while Sikka lists the practice; SikkaError/VaultError to retry later."""
        deadline = self.deadline()
        listed = await self.services.gateway.authorized_practices(deadline)
        if listing_for(listed, office_id, practice_id) is not None:
            raise StillAuthorized("Sikka still lists the practice")
        async with self.services.sessions() as session:
            integration = await session.scalar(
                select(PmsIntegration).where(
                    PmsIntegration.office_id == office_id, PmsIntegration.practice_id == practice_id
                )
            )
        if integration is None:
            return OnboardingResult(IntegrationStatus.REVOKED)
        await self.retire(integration.account_id, IntegrationStatus.REVOKED, deadline)
        return OnboardingResult(IntegrationStatus.REVOKED, integration.account_id)

    async def retire(self, account_id: str, status: IntegrationStatus, deadline: Deadline) -> None:
        """Stop serving a location Sikka no longer lists: its Sikka keys revoked (best effort), then the status
        and its secret scheduled for deletion together; this process refuses its tokens at once, other replicas
        within TOKEN_CACHE_SECONDS. REVOKED (a signed deauthorisation) also revokes the tokens for good; INACTIVE
        (the sync) keeps them, refused while inactive, so a location listed again serves its assistant at once."""
        await self._revoke_sikka_keys(account_id, deadline)
        async with self.services.sessions.begin() as session:
            await session.execute(
                update(PmsIntegration)
                .where(PmsIntegration.account_id == account_id)
                .values(status=status, updated_at=utcnow())
            )
            if status == IntegrationStatus.REVOKED:
                await revoke_account_tokens(session, account_id)
            with contextlib.suppress(SecretNotFound):
                await self.services.vault.schedule_deletion(account_id, SECRET_RECOVERY_DAYS, session)
        self.services.tokens.forget_account(account_id)
        log.info("practice retired", account_id=account_id, status=str(status))

    async def _revoke_sikka_keys(self, account_id: str, deadline: Deadline) -> None:
        try:
            credentials = await self.services.vault.reload(account_id)
            await revoke_keys(self.services.sikka, credentials, deadline)
        except (SikkaError, VaultError) as exc:  # the practice already cut access; its keys may be dead
            log.info("sikka key revocation skipped", account_id=account_id, error=type(exc).__name__)


def _features(capabilities: Capabilities) -> dict[str, bool]:
    return {
        "new_patient_writeback": capabilities.new_patient,
        "new_appointment_writeback": capabilities.new_appointment,
        "appointment_status_writeback": capabilities.appointment_status,
        "appointment_reschedule_writeback": capabilities.reschedule,
        "patient_update_writeback": capabilities.patient_update,
    }


def _metadata(item: Item) -> dict[str, Any]:
    """Practice facts worth keeping (no secrets, no PHI)."""
    keys = (
        "practice_name",
        "practice_management_system",
        "practice_management_system_version",
        "city",
        "state",
    )
    return {key: text(item, key) for key in keys if text(item, key)}


async def _get_or_create(session: AsyncSession, credentials: PracticeCredentials) -> tuple[PmsIntegration, bool]:
    """The practice's integration row (locked on PostgreSQL); created with its account on first sight.
    The unique (office_id, practice_id) constraint decides races between concurrent deliveries."""
    query = (
        select(PmsIntegration)
        .where(
            PmsIntegration.office_id == credentials.office_id,
            PmsIntegration.practice_id == credentials.practice_id,
        )
        .with_for_update()
    )
    existing = await session.scalar(query)
    if existing is not None:
        return existing, False
    try:
        async with session.begin_nested():
            account = Account(name=credentials.practice_name or credentials.office_id)
            session.add(account)
            await session.flush()
            integration = PmsIntegration(
                account_id=account.id, office_id=credentials.office_id, practice_id=credentials.practice_id
            )
            session.add(integration)
            await session.flush()
        return integration, True
    except IntegrityError:
        existing = await session.scalar(query.execution_options(populate_existing=True))
        if existing is None:
            raise
        return existing, False
