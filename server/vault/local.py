"""The embedded vault: AES-256-GCM envelopes in `vault_secrets`, bound to the secret's name and account."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.db.engine import DATABASE_ERRORS, upsert
from server.db.models import VaultSecret, utcnow
from server.phi.cipher import Binding, DecryptionFailed, PhiCipher
from server.vault.base import PracticeCredentials, SecretNotFound, SecretRef, VaultUnavailable, secret_name


class LocalVault:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], cipher: PhiCipher, prefix: str) -> None:
        self.sessions = sessions
        self.cipher = cipher
        self.prefix = prefix

    def _binding(self, account_id: str) -> Binding:
        return Binding("vault_secrets", "ciphertext", secret_name(self.prefix, account_id), account_id)

    async def get(self, account_id: str) -> PracticeCredentials:
        name = secret_name(self.prefix, account_id)
        try:
            async with self.sessions() as session:
                row = await session.scalar(select(VaultSecret).where(VaultSecret.name == name))
        except DATABASE_ERRORS as exc:
            raise VaultUnavailable(f"vault database unavailable ({type(exc).__name__})") from None
        if row is None or row.delete_after is not None:
            raise SecretNotFound(f"no secret {name}")
        try:
            plaintext = await self.cipher.decrypt(row.ciphertext.decode(), self._binding(account_id))
        except DecryptionFailed as exc:
            raise VaultUnavailable(f"secret {name} cannot be decrypted: {exc}") from None
        return PracticeCredentials.from_secret_string(plaintext.decode())

    async def put(
        self, account_id: str, credentials: PracticeCredentials, session: AsyncSession | None = None
    ) -> SecretRef:
        name = secret_name(self.prefix, account_id)
        envelope = await self.cipher.encrypt(credentials.to_secret_string().encode(), self._binding(account_id))
        try:
            if session is not None:
                await self._upsert(session, name, envelope.encode())
            else:
                async with self.sessions.begin() as own:
                    await self._upsert(own, name, envelope.encode())
        except DATABASE_ERRORS as exc:
            raise VaultUnavailable(f"vault database unavailable ({type(exc).__name__})") from None
        return SecretRef(name=name, arn=None)

    @staticmethod
    async def _upsert(session: AsyncSession, name: str, ciphertext: bytes) -> None:
        """Insert, or add a version (also restoring a secret scheduled for deletion); race-free."""
        statement = upsert(session, VaultSecret).values(name=name, ciphertext=ciphertext, version=1)
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["name"],
                set_={
                    "ciphertext": statement.excluded.ciphertext,
                    "version": VaultSecret.version + 1,
                    "updated_at": utcnow(),
                    "delete_after": None,
                },
            )
        )

    async def schedule_deletion(
        self, account_id: str, recovery_days: int = 30, session: AsyncSession | None = None
    ) -> None:
        name = secret_name(self.prefix, account_id)
        try:
            if session is not None:
                await self._mark_deleted(session, name, recovery_days)
            else:
                async with self.sessions.begin() as own:
                    await self._mark_deleted(own, name, recovery_days)
        except DATABASE_ERRORS as exc:
            raise VaultUnavailable(f"vault database unavailable ({type(exc).__name__})") from None

    @staticmethod
    async def _mark_deleted(session: AsyncSession, name: str, recovery_days: int) -> None:
        row = await session.get(VaultSecret, name)
        if row is None:
            raise SecretNotFound(f"no secret {name}")
        if row.delete_after is None:  # a repeated deauthorization keeps the first date, as in Secrets Manager
            row.delete_after = utcnow() + timedelta(days=recovery_days)
