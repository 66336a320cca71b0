"""Sikka's error codes mapped to a small taxonomy that tools turn into speakable outcomes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The request key is expired (API1025, sent as HTTP 400) or missing/invalid (API1004): a new key can help.
KEY_CODES = frozenset({"API1025", "API1004"})
# Our app id/key are wrong (API2003) or the API is not in our plan (API2004): a new request key cannot help.
APP_CODES = frozenset({"API2003", "API2004"})
RATE_LIMIT_CODES = frozenset({"API2011", "API2012"})
UNAVAILABLE_CODES = frozenset({"API2001", "API2002", "API2006", "API2022"})
# Documented as arriving with HTTP 200 although they are errors.
HTTP_200_ERROR_CODES = frozenset({"API4002", "API4003", "API4004", "API4005", "API0005", "API0008"})


class SikkaError(Exception):
    """Base class. `message` is Sikka's own short text (never request data)."""

    kind = "error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.retry_after = retry_after

    def __str__(self) -> str:
        parts = [self.message]
        if self.code:
            parts.append(f"code={self.code}")
        if self.status is not None:
            parts.append(f"status={self.status}")
        return " ".join(parts)


class SikkaAuthError(SikkaError):
    """The request key is expired, missing or invalid (API1025/API1004, or a bare 401): re-keying may help."""

    kind = "auth"


class AppNotAuthorized(SikkaError):
    """Our app credentials (API2003) or licence (API2004) were refused: re-keying cannot help; staff must act."""

    kind = "app_not_authorized"


class PracticeNotAuthorized(SikkaError):
    """API2007: the practice has not allowed this app access."""

    kind = "not_authorized"


class RateLimited(SikkaError):
    """HTTP 429 (API2011/API2012 or the per-minute limit); `retry_after` from X-Rate-Limit-Reset."""

    kind = "rate_limited"


class SpuOffline(SikkaError):
    """412/API2017: the practice's SPU (the on-premises sync utility) is offline."""

    kind = "spu_offline"


class DataNotReady(SikkaError):
    """API2010: the practice's data has not been uploaded yet (first hours after install)."""

    kind = "data_not_ready"


class SikkaUnavailable(SikkaError):
    """5xx, API2002, timeouts, connection failures and malformed responses."""

    kind = "unavailable"


class SikkaNoAnswer(SikkaUnavailable):
    """The request was sent but no answer came (timeout, connection lost): Sikka may have acted on it."""


class SikkaValidationError(SikkaError):
    """Any other 4xx: Sikka rejected the request itself."""

    kind = "validation"


def classify(status: int, envelope: Mapping[str, Any] | None, retry_after: float | None = None) -> SikkaError | None:
    """The error a response represents, or None for success (including HTTP-200 error envelopes)."""
    code = str(envelope.get("error_code") or "") if envelope else ""
    message = _message(envelope) or f"HTTP {status}"
    if status < 400 and code not in HTTP_200_ERROR_CODES:
        return None
    if code == "API2007":
        return PracticeNotAuthorized(message, code=code, status=status)
    if code in APP_CODES:
        return AppNotAuthorized(message, code=code, status=status)
    if code in KEY_CODES or status == 401:
        return SikkaAuthError(message, code=code or None, status=status)
    if status == 429 or code in RATE_LIMIT_CODES:
        return RateLimited(message, code=code or None, status=status, retry_after=retry_after)
    if status == 412 or code == "API2017":
        return SpuOffline(message, code=code or None, status=status)
    if code == "API2010":
        return DataNotReady(message, code=code, status=status)
    if status >= 500 or code in UNAVAILABLE_CODES:
        return SikkaUnavailable(message, code=code or None, status=status)
    return SikkaValidationError(message, code=code or None, status=status)


def _message(envelope: Mapping[str, Any] | None) -> str:
    if not envelope:
        return ""
    for key in ("short_message", "long_message", "http_code_desc"):
        value = envelope.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()[:200]
    return ""
