"""Small helpers that turn data into words a voice agent can say."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time
from decimal import Decimal


def spoken_day(day: date) -> str:
    return f"{day:%A}, {day:%B} {day.day}"


def spoken_time(moment: datetime | time) -> str:
    hour = moment.hour % 12 or 12
    return f"{hour}:{moment:%M} {'AM' if moment.hour < 12 else 'PM'}"


def spoken_dollars(amount: Decimal) -> str:
    """ "$1,234.50" for any sign: the sentence around it says whether it is owed or a credit."""
    return f"${abs(amount):,.2f}"


def dollars(amount: Decimal) -> str:
    """An amount for structured answers: "125.50", "-15.00" (negative = a credit)."""
    return f"{amount:.2f}"


def spoken_list(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def mask_email(email: str) -> str | None:
    local_part, _, domain = email.partition("@")
    if not local_part or not domain:
        return None
    return f"{local_part[0]}***@{domain}"
