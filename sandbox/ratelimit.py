"""Sikka's per-app request limit over a fixed 60-second window, reported in X-Rate-Limit-* headers."""

from __future__ import annotations

import math
from datetime import datetime

WINDOW_SECONDS = 60


class RateWindow:
    """Counts an app's requests in the current 60 s window."""

    def __init__(self) -> None:
        self._started: datetime | None = None
        self._used = 0

    def hit(self, now: datetime, limit: int) -> tuple[bool, dict[str, str]]:
        """Count one request: whether it is within `limit`, and the rate-limit headers to send."""
        if self._started is None or (now - self._started).total_seconds() >= WINDOW_SECONDS:
            self._started, self._used = now, 0
        self._used += 1
        elapsed = (now - self._started).total_seconds()
        headers = {
            "X-Rate-Limit-Limit": str(limit),
            "X-Rate-Limit-Remaining": str(max(0, limit - self._used)),
            "X-Rate-Limit-Reset": str(math.ceil(WINDOW_SECONDS - elapsed)),
        }
        return self._used <= limit, headers
