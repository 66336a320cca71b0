"""Configuration from the environment. The README's configuration table lists exactly these fields, defaults and
descriptions (tests/unit/test_readme.py holds the two together)."""

from __future__ import annotations

import base64
import binascii
import ipaddress
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from server.forwarded import TrustedProxies

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
MIN_AUDIT_RETENTION_DAYS = 6 * 366  # 45 CFR 164.316(b)(2): six years, leap days included

SecretsBackend = Literal["local", "aws"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
CommaList = Annotated[list[str], NoDecode]


class ConfigError(Exception):
    """A setting is missing or wrong; the message names the variable and the problem (no values)."""


def decode_phi_key(value: str) -> bytes:
    """Decode a base64 AES-256 key, rejecting anything that is not exactly 32 bytes."""
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("must be base64") from exc
    if len(raw) != 32:
        raise ValueError(f"must decode to 32 bytes (got {len(raw)})")
    return raw


class Settings(BaseSettings):
    """Every environment variable the service reads. Field names are the variable names, lower-cased."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True, env_ignore_empty=True)

    database_url: str = Field(
        "sqlite+aiosqlite:///var/parlae.db",
        description="Async DB URL: SQLite under var/ by default; postgresql+asyncpg://... in production.",
    )
    sikka_api_url: str = Field(
        "https://api.sikkasoft.com/v4",
        description="Sikka v4 base URL; https:// outside demo mode (http:// only for loopback hosts).",
    )
    sikka_app_id: SecretStr | None = Field(None, description="Sikka application id (required outside demo).")
    sikka_app_key: SecretStr | None = Field(None, description="Sikka application key (required outside demo).")
    sikka_webhook_secret: SecretStr | None = Field(
        None, description="Standard Webhooks secret (`whsec_...`) that signs authorization webhooks."
    )
    sikka_deadline_seconds: float = Field(
        5.0, gt=0, le=19, description="Deadline for one Sikka operation, retries included (Vapi waits 20 s)."
    )
    sikka_refresh_margin_seconds: int = Field(
        3600, ge=0, description="Refresh a practice's request_key this long before it expires."
    )
    writeback_budget_seconds: float = Field(
        2.0,
        ge=0,
        le=15,
        description="How long a tool waits for a writeback before answering `pending` (real ones take 10-30 s: a "
        "longer wait is silence on the line for nothing).",
    )
    writeback_max_pending_seconds: int = Field(
        345_600,
        ge=600,
        description="A write still not applied after this long is handed to staff (a follow-up), never withdrawn; "
        "the default, four days, outlasts a long weekend with the office's computer off.",
    )
    booking_min_notice_minutes: int = Field(
        120, ge=0, le=7 * 24 * 60, description="Earliest bookable start, in minutes from now."
    )
    webhook_accept_callback_key: bool = Field(
        False,
        description="Also accept an unsigned webhook whose `callback-key` header is SIKKA_WEBHOOK_SECRET.",
    )
    secrets_backend: SecretsBackend = Field(
        "local",
        description="Practice credential vault: `local` (encrypted rows in the DB) or `aws` (Secrets Manager)",
    )
    secrets_prefix: str = Field("parlae/pms/sikka", description="Vault secret name prefix: {prefix}/{accountId}.")
    secrets_kms_key_id: str | None = Field(
        None, description="KMS key for Secrets Manager secrets (defaults to PHI_KMS_KEY_ID)."
    )
    aws_region: str = Field("us-east-1", description="AWS region for Secrets Manager and KMS.")
    aws_endpoint_url: str | None = Field(None, description="AWS endpoint override (tests, LocalStack).")
    phi_encryption_key: SecretStr | None = Field(
        None,
        description="Local PHI key: base64 of 32 random bytes; this or `PHI_KMS_KEY_ID` is required.",
    )
    phi_encryption_old_keys: SecretStr | None = Field(
        None,
        description="Comma-separated earlier PHI_ENCRYPTION_KEY values, still used to decrypt (rotation).",
    )
    phi_kms_key_id: str | None = Field(None, description="KMS key id/ARN for PHI data keys (production).")
    parlae_demo_token: SecretStr | None = Field(
        None, description="Demo mode: the practice token to accept (generated and printed once when unset)."
    )
    parlae_allowed_hosts: CommaList = Field(
        default_factory=lambda: ["127.0.0.1:*", "localhost:*", "[::1]:*"],
        description="Comma-separated Host values accepted on /mcp (`host:*` for any port).",
    )
    practices_sync_interval_seconds: int = Field(
        300,
        ge=0,
        le=86_400,
        description="How often one replica reconciles practices with Sikka's authorized_practices (0: never).",
    )
    token_cache_seconds: float = Field(
        30.0, ge=0, le=300, description="How long a verified practice token is cached (revocation delay)."
    )
    identity_breaker_delay_seconds: float = Field(
        2.0,
        ge=0,
        le=10,
        description="How long each identity check waits while a practice token is over its hourly failed-check "
        "threshold (a circuit breaker that slows guessing instead of refusing every caller).",
    )
    metadata_cache_seconds: float = Field(
        900.0,
        ge=0,
        description="How long practice metadata (providers, schedule, statuses; insurance carriers and coverage "
        "tables) is cached.",
    )
    prefetch_ttl_seconds: int = Field(
        300,
        ge=0,
        le=3600,
        description="How long a call's prefetched Sikka reads may answer its read tools (0 turns prefetch off); "
        "the call's end or its own writes remove them sooner.",
    )
    prefetch_days: int = Field(
        3, ge=0, le=14, description="Openings prefetched at call start: today and this many days after it."
    )
    prefetch_requests_per_minute: int = Field(
        100,
        ge=0,
        le=200,
        description="Sikka requests a practice's call-start prefetches may use per minute (Sikka allows about 200); "
        "a call starting over it is not prefetched.",
    )
    retention_pending_patients_days: int = Field(
        30, ge=1, description="Purge pending-patient PHI (kept by earlier versions) after N days."
    )
    retention_idempotency_days: int = Field(
        7, ge=1, description="Purge stored tool results (and writes final that long) after N days."
    )
    retention_messages_days: int = Field(
        90, ge=1, description="Purge staff inbox items (resolved or not) and their deliveries after N days."
    )
    retention_consents_days: int = Field(
        MIN_AUDIT_RETENTION_DAYS, ge=1, description="Purge consent records after N days."
    )
    retention_audit_days: int = Field(
        MIN_AUDIT_RETENTION_DAYS,
        ge=MIN_AUDIT_RETENTION_DAYS,
        description="Purge audit records after N days (never fewer than six years).",
    )
    ses_sender: str | None = Field(
        None,
        description="From address of staff inbox emails (an SES-verified identity; unset: no email is sent).",
    )
    ses_configuration_set: str | None = Field(
        None, validate_default=True, description="SES configuration set that requires TLS; required with SES_SENDER."
    )
    audit_anchor_url: str | None = Field(
        None,
        description="Where `audit anchor` writes signed chain heads: `s3://bucket/prefix` or `file:///dir` "
        "(unset: anchoring is off).",
    )
    audit_anchor_kms_key_id: str | None = Field(
        None, description="KMS key (HMAC_256, GENERATE_VERIFY_MAC) that authenticates anchors (production)."
    )
    audit_anchor_key_file: str | None = Field(
        None, description="File holding the anchor key, base64 of at least 32 random bytes (tests, development)."
    )
    forwarded_allow_ips: str = Field(
        "127.0.0.1",
        description="Comma-separated proxy IPs or CIDRs (or `*`: any peer, one hop) whose X-Forwarded-For names "
        "the client in audit rows: the rightmost untrusted entry, never the leftmost (behind an ALB: its subnets).",
    )
    log_level: LogLevel = Field("INFO", description="Log level for every logger.")
    metrics_emf_interval_seconds: int = Field(
        0,
        ge=0,
        le=3600,
        description="Print the health metrics as one CloudWatch EMF line on stdout every N seconds "
        "(0 = off; 60 on AWS, where the alarms read them).",
    )

    @field_validator("parlae_allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return [host.strip() for host in value.split(",") if host.strip()]
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("phi_encryption_key")
    @classmethod
    def _check_phi_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            decode_phi_key(value.get_secret_value())
        return value

    @field_validator("phi_encryption_old_keys")
    @classmethod
    def _check_old_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            for key in value.get_secret_value().split(","):
                if key.strip():
                    decode_phi_key(key)
        return value

    @field_validator("sikka_api_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("secrets_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        value = value.strip("/")
        if not value or any(c.isspace() for c in value):
            raise ValueError("must be a non-empty path without spaces")
        return value

    @field_validator("audit_anchor_url")
    @classmethod
    def _check_anchor_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.query or parts.fragment:
            raise ValueError("must be s3://bucket/prefix or file:///absolute/dir (no query)")
        if (parts.scheme == "s3" and parts.hostname) or (
            parts.scheme == "file" and not parts.netloc and parts.path.startswith("/")
        ):
            return value
        raise ValueError("must be s3://bucket/prefix or file:///absolute/dir")

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _check_proxies(cls, value: str) -> str:
        TrustedProxies.parse(value)
        return value

    @field_validator("ses_configuration_set")
    @classmethod
    def _email_needs_tls_set(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("ses_sender") and not value:
            raise ValueError("required with SES_SENDER (the configuration set is what requires TLS)")
        return value

    @property
    def email_enabled(self) -> bool:
        return bool(self.ses_sender)

    @classmethod
    def env_names(cls) -> list[str]:
        """Every environment variable this service reads, upper-case, in declaration order."""
        return [name.upper() for name in cls.model_fields]

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def kms_key_for_secrets(self) -> str | None:
        return self.secrets_kms_key_id or self.phi_kms_key_id

    def require_production_ready(self) -> None:
        """Refuse to run for real practices without credentials, a PHI key and TLS to Sikka."""
        missing = [
            name
            for name, value in (("SIKKA_APP_ID", self.sikka_app_id), ("SIKKA_APP_KEY", self.sikka_app_key))
            if value is None or not value.get_secret_value()
        ]
        if missing:
            raise ConfigError(f"{missing[0]}: required outside demo mode")
        if self.phi_encryption_key is None and not self.phi_kms_key_id:
            raise ConfigError("PHI_ENCRYPTION_KEY or PHI_KMS_KEY_ID: a PHI key source is required")
        if not is_secure_url(self.sikka_api_url):
            raise ConfigError("SIKKA_API_URL: must use https:// (http:// is allowed only for loopback hosts)")

    def anchor_key_source(self) -> tuple[Literal["kms", "file"], str]:
        """The key that authenticates anchors, as (kind, KMS key id or file path): exactly one must be set."""
        sources: list[tuple[Literal["kms", "file"], str]] = []
        if self.audit_anchor_kms_key_id:
            sources.append(("kms", self.audit_anchor_kms_key_id))
        if self.audit_anchor_key_file:
            sources.append(("file", self.audit_anchor_key_file))
        if len(sources) != 1:
            raise ConfigError(
                "AUDIT_ANCHOR_KMS_KEY_ID or AUDIT_ANCHOR_KEY_FILE: set exactly one when AUDIT_ANCHOR_URL is set"
            )
        return sources[0]


def is_secure_url(url: str) -> bool:
    """True for https URLs and for plain http to a loopback host (tests, a local sandbox)."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return True
    host = parts.hostname or ""
    if parts.scheme != "http":
        return False
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_settings(**overrides: object) -> Settings:
    """Read the environment; turn pydantic's report into one ConfigError line naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]).upper() if error["loc"] else "configuration"
        message = str(error["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{name}: {message}") from None
