"""Webhook authentication: Standard Webhooks signatures over the raw body, or (if enabled) Sikka's shared
`callback-key` header, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from standardwebhooks import Webhook


class SignatureInvalid(Exception):
    """Missing, malformed, wrong or stale signature (the reason is for logs; the sender only sees 401)."""


def verify(headers: Mapping[str, str], body: bytes, secret: str, *, accept_callback_key: bool) -> str:
    """Check the delivery and return its id (`webhook-id`, or a body digest for callback-key deliveries)."""
    if not secret:
        raise SignatureInvalid("SIKKA_WEBHOOK_SECRET is not configured")
    lowered = {name.lower(): value for name, value in headers.items()}
    if "webhook-signature" in lowered:
        try:
            Webhook(secret).verify(body, lowered, json_parse=False)
        except Exception as exc:  # the library raises several types for malformed input; all mean "invalid"
            raise SignatureInvalid(f"signature check failed ({type(exc).__name__})") from None
        return lowered["webhook-id"][:255]
    callback_key = lowered.get("callback-key")
    if accept_callback_key and callback_key is not None:
        if hmac.compare_digest(callback_key.encode(), secret.encode()):
            return "body-" + hashlib.sha256(body).hexdigest()
        raise SignatureInvalid("callback-key does not match")
    raise SignatureInvalid("no signature")
