"""Practice access tokens: random, shown once, stored as SHA-256, revocable; verified into the Caller they stand for.

A token maps to exactly one account (one practice location). Verification is cached briefly in-process,
so a call costs no database read; revocation takes effect within the cache TTL (at once in this process).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.caller import Caller
from server.db.models import IntegrationStatus, PmsIntegration, PracticeToken, utcnow

TOKEN_PREFIX = "pmt_"  # noqa: S105 (a prefix, not a secret)
NEGATIVE_CACHE_SECONDS = 5.0
MAX_CACHED = 10_000


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    account_id: str
    token_id: str
    token: str


async def issue_token(
    sessions: async_sessionmaker[AsyncSession], account_id: str, label: str = "", token: str | None = None
) -> IssuedToken:
    """Create a token (or register a given one, e.g. PARLAE_DEMO_TOKEN); the plaintext is returned once."""
    token = token or TOKEN_PREFIX + secrets.token_urlsafe(32)
    token_id = "tok_" + secrets.token_hex(8)
    async with sessions.begin() as session:
        session.add(PracticeToken(id=token_id, account_id=account_id, token_hash=token_hash(token), label=label))
    return IssuedToken(account_id, token_id, token)


async def revoke_token(sessions: async_sessionmaker[AsyncSession], token_id: str) -> bool:
    async with sessions.begin() as session:
        result = await session.execute(
            update(PracticeToken)
            .where(PracticeToken.id == token_id, PracticeToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def revoke_account_tokens(session: AsyncSession, account_id: str, label: str | None = None) -> int:
    """Revoke every live token of an account (optionally only those with `label`), in the caller's transaction."""
    query = update(PracticeToken).where(PracticeToken.account_id == account_id, PracticeToken.revoked_at.is_(None))
    if label is not None:
        query = query.where(PracticeToken.label == label)
    result = await session.execute(query.values(revoked_at=utcnow()))
    return int(result.rowcount)  # type: ignore[attr-defined]


class PracticeTokenVerifier:
    """Bearer token -> the caller it stands for: its account, its id as the actor, the account's integration."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], ttl_seconds: float) -> None:
        self.sessions = sessions
        self.ttl = ttl_seconds
        self.lookups = 0  # database lookups (cache misses)
        self._cache: OrderedDict[str, tuple[Caller | None, float]] = OrderedDict()

    async def verify(self, token: str) -> Caller | None:
        digest = token_hash(token)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and now < cached[1]:
            return cached[0]
        caller = await self._lookup(digest)
        self._remember(digest, caller, now + (self.ttl if caller else min(self.ttl, NEGATIVE_CACHE_SECONDS)))
        return caller

    async def _lookup(self, digest: str) -> Caller | None:
        self.lookups += 1
        async with self.sessions.begin() as session:
            row = (
                await session.execute(
                    select(PracticeToken.id, PracticeToken.account_id, PmsIntegration.id)
                    .join(PmsIntegration, PmsIntegration.account_id == PracticeToken.account_id)
                    .where(
                        PracticeToken.token_hash == digest,
                        PracticeToken.revoked_at.is_(None),
                        PmsIntegration.status == IntegrationStatus.ACTIVE,
                    )
                )
            ).first()
            if row is None:
                return None
            token_id, account_id, integration_id = row
            await session.execute(
                update(PracticeToken).where(PracticeToken.id == token_id).values(last_used_at=utcnow())
            )
        return Caller(account_id, token_id, integration_id)

    def _remember(self, digest: str, caller: Caller | None, expires: float) -> None:
        self._cache[digest] = (caller, expires)
        self._cache.move_to_end(digest)
        while len(self._cache) > MAX_CACHED:
            self._cache.popitem(last=False)

    def forget_account(self, account_id: str) -> None:
        """Drop cached tokens of an account at once (deauthorisation in this process)."""
        for digest, (caller, _) in list(self._cache.items()):
            if caller is not None and caller.account_id == account_id:
                del self._cache[digest]
