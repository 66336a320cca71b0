"""The `idempotency_keys` rows behind write tools' once-per-key (tools/idempotency.py): claims, stored results,
take-overs from a dead holder, and stale outcomes dropped. Results arrive already encrypted."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.db.engine import insert_new
from server.db.models import IdempotencyKey, utcnow

LEGACY_CLAIM = timedelta(minutes=1)  # claims made before claims expired


@dataclass(frozen=True)
class Stored:
    """A key's row as read: its encrypted result once done, and whether it is still current."""

    result: str | None  # the encrypted result; None while in progress
    completed_at: datetime | None
    expired: bool  # an unsettled claim whose holder is past its time
    superseded: bool  # another write of the same call completed after this one


@dataclass(frozen=True)
class IdempotencyRows:
    """The row of one key (`key`, a blind index of call id, tool and arguments) in one call (`call_key`). A claim
    expires by `clock`, the clock its `until` was read from (the tool call's)."""

    sessions: async_sessionmaker[AsyncSession]
    key: str
    call_key: str
    account_id: str
    tool: str
    clock: Callable[[], datetime] = utcnow

    async def claim(self, until: datetime) -> bool:
        """Insert the claim; False when the key's row exists."""
        row = IdempotencyKey(
            key_hash=self.key,
            account_id=self.account_id,
            tool=self.tool,
            status="in_progress",
            call_key=self.call_key,
            claimed_until=until,
        )
        return await insert_new(self.sessions, row)

    async def take_over(self, until: datetime) -> bool:
        """Extend a claim whose holder is past its time (it died); False when there is none."""
        now = self.clock()
        expired = (IdempotencyKey.claimed_until < now) | (
            IdempotencyKey.claimed_until.is_(None) & (IdempotencyKey.created_at < now - LEGACY_CLAIM)
        )
        async with self.sessions.begin() as session:
            taken = await session.execute(
                update(IdempotencyKey)
                .where(IdempotencyKey.key_hash == self.key, IdempotencyKey.status == "in_progress", expired)
                .values(claimed_until=until)
            )
        return bool(taken.rowcount)  # type: ignore[attr-defined]

    async def read(self) -> Stored | None:
        """The key's row, or None when there is none."""
        async with self.sessions() as session:
            row = await session.scalar(select(IdempotencyKey).where(IdempotencyKey.key_hash == self.key))
            latest = await session.scalar(
                select(func.max(IdempotencyKey.completed_at)).where(IdempotencyKey.call_key == self.call_key)
            )
        if row is None:
            return None
        done = row.status == "done" and bool(row.result) and row.completed_at is not None
        return Stored(
            result=row.result if done else None,
            completed_at=row.completed_at if done else None,
            expired=not done and _expired(row, self.clock()),
            superseded=done and latest is not None and row.completed_at is not None and latest > row.completed_at,
        )

    async def settle(self, envelope: str) -> None:
        async with self.sessions.begin() as session:
            await session.execute(
                update(IdempotencyKey)
                .where(IdempotencyKey.key_hash == self.key)
                .values(status="done", result=envelope, completed_at=utcnow())
            )

    async def release(self) -> None:
        async with self.sessions.begin() as session:
            await session.execute(delete(IdempotencyKey).where(IdempotencyKey.key_hash == self.key))

    async def drop(self, completed_at: datetime) -> None:
        """Delete the stale outcome (only the one seen: a concurrent retry may have replaced it already)."""
        stale = (IdempotencyKey.key_hash == self.key) & (IdempotencyKey.completed_at == completed_at)
        async with self.sessions.begin() as session:
            await session.execute(delete(IdempotencyKey).where(stale))


def _expired(row: IdempotencyKey, now: datetime) -> bool:
    if row.claimed_until is None:
        return row.created_at < now - LEGACY_CLAIM
    return row.claimed_until < now
