"""The practice's opening hours for the coming week, from its own schedule (holidays and closed days included),
and whether it is open at a given moment (pure functions; wall times in the practice's zone)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from server.sikka import DayHours, PracticeMetadata
from tools.speech import spoken_day, spoken_list, spoken_time

WEEK_DAYS = 7


@dataclass(frozen=True, slots=True)
class OpeningDay:
    day: date
    hours: DayHours

    @property
    def holiday_name(self) -> str | None:
        """The holiday's name; None on an ordinary day and for a holiday the schedule does not name."""
        holiday = self.hours.holiday
        return holiday if holiday and holiday != "holiday" else None

    @property
    def said(self) -> str:
        """ "8:00 AM to 12:00 PM and 1:00 PM to 5:00 PM", "closed", or "closed for Founders Day"."""
        if self.holiday_name:
            return f"closed for {self.holiday_name}"
        if self.hours.closed:
            return "closed"
        return spoken_list([f"{spoken_time(opens)} to {spoken_time(closes)}" for opens, closes in self.hours.spans])


def coming_week(metadata: PracticeMetadata, today: date) -> list[OpeningDay]:
    """Today and the six days after it, as the practice's schedule rows give them."""
    days = (today + timedelta(days=n) for n in range(WEEK_DAYS))
    return [OpeningDay(day, metadata.schedule.practice_day(day)) for day in days]


def open_until(week: list[OpeningDay], now: datetime) -> time | None:
    """The closing time of the span `now` (practice-local wall time) falls in, or None when closed now."""
    today = next((d for d in week if d.day == now.date()), None)
    clock = now.time()
    spans = today.hours.spans if today else ()
    return next((closes for opens, closes in spans if opens <= clock < closes), None)


def next_opening(week: list[OpeningDay], now: datetime) -> datetime | None:
    """The next start of an open span after `now` (aware, practice-local) within the week, in `now`'s zone."""
    starts = (datetime.combine(d.day, opens, now.tzinfo) for d in week for opens, _ in d.hours.spans)
    return min((start for start in starts if start > now), default=None)


def spoken_opening(moment: datetime, today: date) -> str:
    """ "today at 1:00 PM", "tomorrow at 8:00 AM", "on Monday, December 7 at 8:00 AM"."""
    if moment.date() == today:
        day = "today"
    elif moment.date() == today + timedelta(days=1):
        day = "tomorrow"
    else:
        day = f"on {spoken_day(moment.date())}"
    return f"{day} at {spoken_time(moment)}"
