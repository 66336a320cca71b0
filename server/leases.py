"""Leases in the database, so replicas coordinate through it alone: one atomic upsert takes a lease when it is
free, expired or already ours (a row lock decides races on PostgreSQL, the write lock on SQLite).

- A lease (`Leases.hold`) guards exclusive work, the practice sync: its holder renews it before each write
  (`Lease.keep`) and releases it at the end; a holder that died leaves it to expire after its TTL.
- A marker (`Leases.once_per`) means "at most once per period" (the scheduled sync's turn, the handshake's rate
  limits): taken by a fresh holder and never released, it simply expires.

Expiry is compared with the taker's clock (replicas' clocks are NTP-synchronised; TTLs are tens of seconds).
An expired row means the same as no row, so `purge_expired` may delete it at any time.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import anyio
from sqlalchemy import Table, delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.db.engine import upsert
from server.db.models import SyncLease, utcnow

LEASES: Table = SyncLease.__table__  # type: ignore[assignment]
HOLD_POLL_SECONDS = 0.5


class LeaseLost(Exception):
    """The lease expired and another holder took it: stop before writing anything more."""


class Leases:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Callable[[], datetime] = utcnow) -> None:
        self.sessions = sessions
        self.clock = clock

    async def take(self, name: str, holder: str, ttl: timedelta) -> bool:
        """Take (or renew) `name` for `holder` until now + `ttl`; true when it is ours now."""
        now = self.clock()
        async with self.sessions.begin() as session:
            insert = upsert(session, LEASES).values(name=name, holder=holder, expires_at=now + ttl)
            taken = insert.on_conflict_do_update(
                index_elements=["name"],
                set_={"holder": insert.excluded.holder, "expires_at": insert.excluded.expires_at},
                where=(LEASES.c.expires_at <= now) | (LEASES.c.holder == holder),
            ).returning(LEASES.c.name)
            return (await session.execute(taken)).first() is not None

    async def hold(self, name: str, ttl: timedelta, *, wait_seconds: float = 0.0) -> Lease | None:
        """The lease `name` for a new holder, trying for up to `wait_seconds`; None while someone else holds it."""
        holder = secrets.token_hex(16)
        give_up = time.monotonic() + wait_seconds
        while not await self.take(name, holder, ttl):
            if time.monotonic() >= give_up:
                return None
            await anyio.sleep(HOLD_POLL_SECONDS)
        return Lease(self, name, holder, ttl, time.monotonic())

    async def once_per(self, name: str, period: timedelta) -> bool:
        """True at most once per `period` for `name`, across replicas."""
        return await self.take(name, secrets.token_hex(16), period)

    async def release(self, name: str, holder: str) -> None:
        async with self.sessions.begin() as session:
            await session.execute(delete(LEASES).where(LEASES.c.name == name, LEASES.c.holder == holder))

    async def purge_expired(self) -> int:
        """Delete expired leases and markers (rate-limit markers would otherwise pile up, one per office)."""
        async with self.sessions.begin() as session:
            result = await session.execute(delete(LEASES).where(LEASES.c.expires_at <= self.clock()))
        return int(result.rowcount)  # type: ignore[attr-defined]


@dataclass
class Lease:
    """A lease this process holds."""

    leases: Leases
    name: str
    holder: str
    ttl: timedelta
    renewed: float  # time.monotonic() of the last take

    async def keep(self) -> None:
        """Call before each write: renews once a third of the TTL has passed; raises LeaseLost when another
        holder has taken over (so work between two calls must take less than two thirds of the TTL)."""
        if time.monotonic() - self.renewed < self.ttl.total_seconds() / 3:
            return
        if not await self.leases.take(self.name, self.holder, self.ttl):
            raise LeaseLost(self.name)
        self.renewed = time.monotonic()

    async def release(self) -> None:
        with anyio.CancelScope(shield=True):  # also on cancellation: others need not wait for the TTL
            await self.leases.release(self.name, self.holder)
