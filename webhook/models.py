"""The authorization webhook's payload."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

OfficeId = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")


class AuthorizationEvent(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, frozen=True)

    event: Literal["app.authorized", "app.deauthorized"]
    app_id: str = Field(min_length=1, max_length=64)
    office_id: str = OfficeId
    secret_key: SecretStr = Field(min_length=1, max_length=256)
    practice_name: str = Field("", max_length=200)
    practice_id: str = Field("1", min_length=1, max_length=16, pattern=r"^[0-9A-Za-z-]+$")
