"""The challenge of a 401 (RFC 6750 §3): `Bearer`, with `error="invalid_token"` only when credentials were sent
(§3.1: a request that lacks any authentication information gets no error code)."""

from __future__ import annotations


def challenge(*, credentials_sent: bool) -> str:
    return 'Bearer error="invalid_token"' if credentials_sent else "Bearer"
