"""`call_prefetches`: what a call's start read from Sikka (server/prefetch.py), in the database every replica
shares, so a call's tool requests find it whichever replica they reach.

One row per call: the account and the blind index of the call id (never the id). It is claimed (`running`)
before the reads, within the practice's budget of prefetch requests per minute (the `requests` of the account's
rows created in the last minute, whatever their state); filled (`ready`) with the listings, encrypted like any
PHI and bound to the row; `cleared` when the call ends or writes (the listings go, the row stays to count
against the budget). Listings are served only while `ready` and before `expires_at`; the retention purge
deletes rows past it. Concurrent claims by two replicas for two calls can each pass a nearly spent budget: it
bounds prefetch to about its share, not to the request.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.db.engine import upsert
from server.db.models import CallPrefetch, utcnow
from server.phi.blind_index import BlindIndex
from server.phi.cipher import Binding, PhiCipher
from server.sikka import Listing

RUNNING, READY, CLEARED = "running", "ready", "cleared"
CALL_KIND = "prefetch-call"
BUDGET_WINDOW = timedelta(minutes=1)

Claim = Literal["claimed", "exists", "over_budget"]
Listings = dict[str, Listing]


def data_binding(account_id: str, call_key: str) -> Binding:
    return Binding("call_prefetches", "data", call_key, account_id)


class PrefetchStore:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        cipher: PhiCipher,
        blind_index: BlindIndex,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.cipher = cipher
        self.blind_index = blind_index
        self.clock = clock

    async def call_key(self, account_id: str, call_id: str) -> str:
        return await self.blind_index.digest(account_id, CALL_KIND, call_id)

    async def claim(self, account_id: str, call_key: str, *, requests: int, ttl: timedelta, budget: int) -> Claim:
        """Reserve `requests` of the practice's budget for this call's prefetch, unless it has one already."""
        now = self.clock()
        async with self.sessions.begin() as session:
            if await session.get(CallPrefetch, (account_id, call_key)) is not None:
                return "exists"
            spent = await session.scalar(
                select(func.coalesce(func.sum(CallPrefetch.requests), 0)).where(
                    CallPrefetch.account_id == account_id, CallPrefetch.created_at > now - BUDGET_WINDOW
                )
            )
            if int(spent or 0) + requests > budget:
                return "over_budget"
            inserted = await session.execute(
                upsert(session, CallPrefetch)
                .values(
                    account_id=account_id,
                    call_key=call_key,
                    state=RUNNING,
                    requests=requests,
                    created_at=now,
                    expires_at=now + ttl,
                )
                .on_conflict_do_nothing(index_elements=["account_id", "call_key"])
            )
        return "claimed" if inserted.rowcount else "exists"  # type: ignore[attr-defined]

    async def fill(self, account_id: str, call_key: str, listings: Listings, *, requests: int) -> bool:
        """Store the listings of a claimed prefetch; False when the call ended or wrote meanwhile."""
        plain = {key: listing.items for key, listing in listings.items()}
        envelope = await self.cipher.encrypt_json(plain, data_binding(account_id, call_key))
        async with self.sessions.begin() as session:
            result = await session.execute(
                update(CallPrefetch)
                .where(
                    CallPrefetch.account_id == account_id,
                    CallPrefetch.call_key == call_key,
                    CallPrefetch.state == RUNNING,
                )
                .values(state=READY, data=envelope, requests=requests)
            )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def clear(self, account_id: str, call_key: str) -> int:
        """Drop the call's listings (its row stays, for the budget); 1 when there were any to drop or to come."""
        async with self.sessions.begin() as session:
            result = await session.execute(
                update(CallPrefetch)
                .where(
                    CallPrefetch.account_id == account_id,
                    CallPrefetch.call_key == call_key,
                    CallPrefetch.state != CLEARED,
                )
                .values(state=CLEARED, data=None)
            )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def listings(self, account_id: str, call_key: str) -> Listings:
        """The call's listings while they are ready and unexpired; none otherwise."""
        async with self.sessions() as session:
            envelope = await session.scalar(
                select(CallPrefetch.data).where(
                    CallPrefetch.account_id == account_id,
                    CallPrefetch.call_key == call_key,
                    CallPrefetch.state == READY,
                    CallPrefetch.expires_at > self.clock(),
                )
            )
        if envelope is None:
            return {}
        plain = await self.cipher.decrypt_json(envelope, data_binding(account_id, call_key))
        return {key: Listing(items) for key, items in plain.items()}
