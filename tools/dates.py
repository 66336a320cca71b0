"""Dates as callers say them, resolved where the practice is.

A date argument is ISO (`2026-12-08`), or "today", "tomorrow", a weekday ("tuesday": the next Tuesday, never
today) or "next tuesday" (the same day: callers mean the coming one), any case. Words are kept as words until
the tool knows the practice's today (`SpokenDate.on`), so "tomorrow" is the practice's tomorrow, not the host's
or UTC's. Answers say the resolved day back ("Tuesday, December 8") for the model to confirm with the caller.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

WEEKDAYS = {name.casefold(): index for index, name in enumerate(calendar.day_name)}
RELATIVE = {"today": 0, "tomorrow": 1}
UNREADABLE = 'dates must be YYYY-MM-DD, "today", "tomorrow", or a weekday such as "tuesday" or "next tuesday"'


@dataclass(frozen=True)
class SpokenDate:
    """A date argument before it meets the practice's calendar: an ISO date, a number of days from today, or a
    weekday (0 = Monday) meaning the next such day after today."""

    iso: date | None = None
    days_from_today: int | None = None
    weekday: int | None = None

    @classmethod
    def parse(cls, value: Any) -> SpokenDate:
        """Raises ValueError with a sentence that does not repeat the value."""
        if isinstance(value, SpokenDate):
            return value
        if not isinstance(value, str):
            raise ValueError(UNREADABLE)
        words = " ".join(value.casefold().split())
        try:
            return cls(iso=date.fromisoformat(words))
        except ValueError:
            pass
        if words in RELATIVE:
            return cls(days_from_today=RELATIVE[words])
        weekday = WEEKDAYS.get(words.removeprefix("next "))
        if weekday is None:
            raise ValueError(UNREADABLE)
        return cls(weekday=weekday)

    def on(self, today: date) -> date:
        """The day this names, seen from the practice's `today`."""
        if self.iso is not None:
            return self.iso
        if self.weekday is not None:
            return today + timedelta(days=(self.weekday - today.weekday() - 1) % 7 + 1)
        return today + timedelta(days=self.days_from_today or 0)
