"""How Sikka writes values: every scalar a string, in the forms of the documented examples.

- dates `2026-12-01T00:00:00` (midnight datetimes), appointment times `10:30` (24-hour, §10);
- schedule times `8:00 AM` / `1:30 PM`: the format is undocumented (§23.1), so the sandbox takes the least
  convenient reading, a 12-hour clock unlike the appointments' `10:30`;
- amounts with four decimals, `125.5000` (§11 examples `0.0000`, `1000.0000`).
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

_CLOCK = re.compile(r"(1[0-2]|[1-9]):([0-5]\d) (AM|PM)")


def sikka_date(day: date) -> str:
    """`2026-12-01T00:00:00`."""
    return f"{day.isoformat()}T00:00:00"


def to_minutes(hhmm: str) -> int:
    """Minutes after midnight of a 24-hour `10:30`."""
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def to_hhmm(minutes: int) -> str:
    """`10:30`: an appointment time."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def to_clock(minutes: int) -> str:
    """`8:00 AM`, `1:30 PM`, `12:00 PM` (noon): a schedule time."""
    hours, rest = divmod(minutes, 60)
    return f"{(hours - 1) % 12 + 1}:{rest:02d} {'AM' if hours < 12 else 'PM'}"


def from_clock(text: str) -> int:
    """Minutes after midnight of a 12-hour `1:30 PM`."""
    match = _CLOCK.fullmatch(text)
    if match is None:
        raise ValueError(f"not a 12-hour time: {text!r}")
    hours = int(match[1]) % 12 + (12 if match[3] == "PM" else 0)
    return hours * 60 + int(match[2])


def amount(value: Decimal | int) -> str:
    """`125.5000`."""
    return f"{Decimal(value):.4f}"
