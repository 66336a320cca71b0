"""Blind indexes: HMAC-SHA256 of a normalised value under the account's own index key.

Each account gets a random 32-byte index key, stored wrapped by the PHI cipher (so key rotation re-wraps it
without changing any index). Lookups compare indexes, never plaintext.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.db.engine import upsert
from server.db.models import PhiIndexKey
from server.phi.cipher import Binding, PhiCipher


def index_key_binding(account_id: str) -> Binding:
    return Binding("phi_index_keys", "wrapped_key", account_id, account_id)


class BlindIndex:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], cipher: PhiCipher) -> None:
        self.sessions = sessions
        self.cipher = cipher
        self._keys: dict[str, bytes] = {}

    async def digest(self, account_id: str, kind: str, *parts: str) -> str:
        """HMAC over `kind` and the already-normalised parts (E.164 phones, ISO dates, ids)."""
        key = await self._key(account_id)
        message = "\x1f".join((kind, *parts)).encode()
        return hmac.new(key, message, hashlib.sha256).hexdigest()

    async def _key(self, account_id: str) -> bytes:
        key = self._keys.get(account_id)
        if key is None:
            key = self._keys[account_id] = await self._load_or_create(account_id)
        return key

    async def _load_or_create(self, account_id: str) -> bytes:
        binding = index_key_binding(account_id)
        async with self.sessions.begin() as session:
            row = await session.get(PhiIndexKey, account_id)
            if row is None:
                wrapped = await self.cipher.encrypt(os.urandom(32), binding)
                await session.execute(
                    upsert(session, PhiIndexKey)
                    .values(account_id=account_id, wrapped_key=wrapped)
                    .on_conflict_do_nothing(index_elements=["account_id"])
                )
                row = await session.get(PhiIndexKey, account_id, populate_existing=True)
            assert row is not None
            wrapped_key = row.wrapped_key
        return await self.cipher.decrypt(wrapped_key, binding)
