"""The embedded vault: AES-256-GCM envelopes in `vault_secrets`, bound to the secret's name and account."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

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
        except SQLAlchemyError as exc:
            raise VaultUnavailable(f"vault database unavailable ({type(exc).__name__})") from None
        if row is None or row.delete_after is not None:
            raise SecretNotFound(f"no secret {name}")
        try:
            plaintext = await self.cipher.decrypt(row.ciphertext.decode(), self._binding(account_id))
        except DecryptionFailed as exc:
            raise VaultUnavailable(f"secret {name} cannot be decrypted: {exc}") from None
        return PracticeCredentials.from_secret_string(plaintext.decode())

    async def put(self, account_id: str, credentials: PracticeCredentials) -> SecretRef:
        name = secret_name(self.prefix, account_id)
        envelope = await self.cipher.encrypt(
            credentials.to_secret_string().encode(), self._binding(account_id)
        )
        try:
            async with self.sessions.begin() as session:
                row = await session.get(VaultSecret, name, with_for_update=True)
                if row is None:
                    session.add(VaultSecret(name=name, ciphertext=envelope.encode()))
                else:
                    row.ciphertext = envelope.encode()
                    row.version += 1
                    row.delete_after = None
        except SQLAlchemyError as exc:
            raise VaultUnavailable(f"vault database unavailable ({type(exc).__name__})") from None
        return SecretRef(name=name, arn=None)

    async def schedule_deletion(self, account_id: str, recovery_days: int = 30) -> None:
        name = secret_name(self.prefix, account_id)
        try:
            async with self.sessions.begin() as session:
                row = await session.get(VaultSecret, name)
                if row is None:
                    raise SecretNotFound(f"no secret {name}")
                row.delete_after = utcnow() + timedelta(days=recovery_days)
        except SQLAlchemyError as exc:
            raise VaultUnavailable(f"vault database unavailable ({type(exc).__name__})") from None
