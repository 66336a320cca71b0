"""The payloads `POST /api/sikka/webhook/authorize` accepts: our signed authorization event, and Sikka's
unsigned registration handshake (webhook/handshake.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

OFFICE_ID_PATTERN = r"^[A-Za-z0-9_-]+$"
OfficeId = Field(min_length=1, max_length=32, pattern=OFFICE_ID_PATTERN)
HANDSHAKE_EVENTS = {"active": "purchase", "cancelled": "cancellation", "canceled": "cancellation"}


class AuthorizationEvent(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, frozen=True)

    event: Literal["app.authorized", "app.deauthorized"]
    app_id: str = Field(min_length=1, max_length=64)
    office_id: str = OfficeId
    secret_key: SecretStr = Field(min_length=1, max_length=256)
    practice_name: str = Field("", max_length=200)
    practice_id: str = Field("1", min_length=1, max_length=16, pattern=r"^[0-9A-Za-z-]+$")


class RegistrationHandshake(BaseModel):
    """Only the office and the status are read; every other field (the SPU installation key, the e-mail address,
    ...) is dropped unread, never logged or stored."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, frozen=True, coerce_numbers_to_str=True)

    office_id: str = Field(alias="MasterCustomerID", min_length=1, max_length=32, pattern=OFFICE_ID_PATTERN)
    status: str = Field("", alias="Status", max_length=32)

    @property
    def event(self) -> str:
        """What the handshake says happened, in our words (its own text is repeated nowhere)."""
        return HANDSHAKE_EVENTS.get(self.status.casefold(), "unknown status")
