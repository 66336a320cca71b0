"""Per-practice TTL caches with single-flight loading, for what does not change from call to call (practice
metadata, insurance carriers, coverage tables): each is read from Sikka once per TTL and account. A value read
while Sikka was reloading the practice's data (`Data-Insert: in progress`) serves that call only."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, Protocol, TypeVar


class Cacheable(Protocol):
    @property
    def cacheable(self) -> bool:
        """False when the value was read during a data reload (it may be incomplete)."""
        ...


T = TypeVar("T", bound=Cacheable)


class PracticeCache(Generic[T]):
    """TTL cache keyed by account, loading each account at most once at a time."""

    def __init__(
        self,
        load: Callable[[str], Awaitable[T]],
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self.ttl = ttl_seconds
        self.clock = clock
        self._entries: dict[str, tuple[T, float]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def _fresh(self, account_id: str) -> T | None:
        entry = self._entries.get(account_id)
        return entry[0] if entry is not None and self.clock() - entry[1] < self.ttl else None

    async def get(self, account_id: str, load: Callable[[], Awaitable[T]] | None = None) -> T:
        """The fresh value, else one loaded by `load` (this cache's loader by default)."""
        cached = self._fresh(account_id)
        if cached is not None:
            return cached
        async with self._locks.setdefault(account_id, asyncio.Lock()):
            cached = self._fresh(account_id)
            if cached is not None:
                return cached
            value = await (load() if load is not None else self._load(account_id))
            if value.cacheable:
                self._entries[account_id] = (value, self.clock())
            return value

    def invalidate(self, account_id: str) -> None:
        self._entries.pop(account_id, None)
