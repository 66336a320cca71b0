"""The vault interface, its record type and its errors."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from sqlalchemy.ext.asyncio import AsyncSession


class VaultError(Exception):
    """Base class; messages never contain secret values."""


class SecretNotFound(VaultError):
    pass


class VaultAccessDenied(VaultError):
    pass


class VaultThrottled(VaultError):
    pass


class VaultUnavailable(VaultError):
    pass


class PracticeCredentials(BaseModel):
    """What the vault holds for one practice (`{officeId, secretKey, ...}` on the wire)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    office_id: str
    secret_key: str = Field(repr=False)
    practice_id: str
    practice_name: str = ""
    pms_type: str = ""
    time_zone: str = ""
    request_key: str = Field("", repr=False)
    refresh_key: str = Field("", repr=False)
    token_expiry: datetime | None = None
    token_issued_at: datetime | None = None  # when the request key was granted (its lifetime = expiry - this)
    # Fingerprints of the keys this one was granted to replace because Sikka rejected them (server/sikka/keys.py).
    supersedes: tuple[str, ...] = ()

    def to_secret_string(self) -> str:
        return self.model_dump_json(by_alias=True)

    @classmethod
    def from_secret_string(cls, text: str) -> PracticeCredentials:
        return cls.model_validate_json(text)


class SecretRef(BaseModel):
    name: str
    arn: str | None = None


class Vault(Protocol):
    prefix: str

    async def get(self, account_id: str) -> PracticeCredentials:
        """Raises SecretNotFound / VaultAccessDenied / VaultThrottled / VaultUnavailable."""
        ...

    async def put(
        self, account_id: str, credentials: PracticeCredentials, session: AsyncSession | None = None
    ) -> SecretRef:
        """Create the secret, or store a new version of it. The local vault writes inside `session` when
        given, so onboarding commits the secret and the integration together (all or nothing)."""
        ...

    async def schedule_deletion(
        self, account_id: str, recovery_days: int = 30, session: AsyncSession | None = None
    ) -> None:
        """Delete after a recovery window; a later put restores it. (`session`: as for put.)"""
        ...


def secret_name(prefix: str, account_id: str) -> str:
    return f"{prefix}/{account_id}"
