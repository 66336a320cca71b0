"""Run-time configuration of the sandbox and the demo app credentials."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

DEMO_APP_ID = "5a1d2c3b4e5f60718293a4b5c6d7e8f9"
DEMO_APP_KEY = "0f9e8d7c6b5a49382716a5b4c3d2e1f0"

Clock = Callable[[], datetime]
"""Returns the current time as a timezone-aware datetime."""


def utc_now() -> datetime:
    """The default clock: the current time, timezone-aware in UTC."""
    return datetime.now(UTC)


@dataclass
class SandboxConfig:
    """Settings of one sandbox; mutable at run time (see `POST /_admin/config`)."""

    app_id: str = DEMO_APP_ID
    app_key: str = DEMO_APP_KEY
    key_ttl_seconds: float = 86400
    writeback_delay_seconds: float = 1.0
    writeback_delay_max_seconds: float = 0.0
    """Above writeback_delay_seconds: each writeback's delay is drawn uniformly between the two (seeded)."""
    latency_seconds: float = 0.0
    latency_p99_seconds: float = 0.0
    """Above latency_seconds: each request's latency is lognormal with latency_seconds as its median and this as
    its 99th percentile (seeded by `seed`); otherwise every request takes latency_seconds."""
    rate_limit_per_minute: int = 10000
    clock: Clock = field(default=utc_now)
    seed: int = 20261125
