"""An in-memory TTL cache in front of any vault (the vault stays the one source of truth): it holds only what was
read from, or committed to, the backing store; invalidated when Sikka rejects the credentials."""

from __future__ import annotations

import time

from sqlalchemy.ext.asyncio import AsyncSession

from server.vault.base import PracticeCredentials, SecretRef, Vault


class CachedVault:
    def __init__(self, inner: Vault, ttl_seconds: float = 300.0) -> None:
        self.inner = inner
        self.prefix = inner.prefix
        self.ttl = ttl_seconds
        self.reads = 0  # reads that reached the backing store (observable in tests and metrics)
        self._entries: dict[str, tuple[PracticeCredentials, float]] = {}

    async def get(self, account_id: str) -> PracticeCredentials:
        entry = self._entries.get(account_id)
        if entry is not None and time.monotonic() - entry[1] < self.ttl:
            return entry[0]
        return await self.reload(account_id)

    async def reload(self, account_id: str) -> PracticeCredentials:
        """Bypass the cache (e.g. another replica may have stored newer keys)."""
        self.reads += 1
        credentials = await self.inner.get(account_id)
        self._entries[account_id] = (credentials, time.monotonic())
        return credentials

    async def put(
        self, account_id: str, credentials: PracticeCredentials, session: AsyncSession | None = None
    ) -> SecretRef:
        """Store through the backing vault. Inside a caller's `session` the write is not committed yet, so nothing
        is cached: the entry is dropped, and the caller drops it again after its commit (`invalidate`)."""
        ref = await self.inner.put(account_id, credentials, session)
        if session is None:
            self._entries[account_id] = (credentials, time.monotonic())
        else:
            self.invalidate(account_id)
        return ref

    async def schedule_deletion(
        self, account_id: str, recovery_days: int = 30, session: AsyncSession | None = None
    ) -> None:
        self.invalidate(account_id)
        await self.inner.schedule_deletion(account_id, recovery_days, session)

    def invalidate(self, account_id: str) -> None:
        self._entries.pop(account_id, None)

    def invalidate_all(self) -> None:
        self._entries.clear()
