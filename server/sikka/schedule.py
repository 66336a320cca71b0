"""`practice_schedule` rows as opening hours per resource and day.

Sikka documents one thing about the rows' dates (reference §9): `date` "holds the start date of a week". So a
row describes one week of one resource (`resource_type` practice / provider / operatory, any case, and
`resource_id`), with up to three open spans a day in `<day>_start_N`/`<day>_end_N` (only with
`fields=get_all`) and `<day>_holiday`. How each day's hours are chosen:

- the row whose week contains the day: `date <= day < date + 7`. The week is taken from the row's own date,
  so it does not matter which weekday the PMS starts its weeks on;
- else an undated row, if the PMS sends one: a standing weekly template;
- else the latest earlier week (a missing week, or days past the last week Sikka sent): schedules repeat, and
  the newest known week is the best evidence; before the first week and without a template: closed.

A day without spans is closed. `<day>_holiday` is undocumented in format: empty, "False", "0", "N" mean an
ordinary day; any other value ("True", "Y", or a holiday's name) closes the resource that day. Times may be
"08:00", "08:00:00" or "8:00 AM" (undocumented format). The gap between two spans is a break (lunch).
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from server.sikka.records import as_date, as_time, text

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
SPANS = (1, 2, 3)
WEEK = dt.timedelta(days=7)
NOT_A_HOLIDAY = frozenset({"", "false", "f", "no", "n", "0", "none"})
Interval = tuple[dt.time, dt.time]


@dataclass(frozen=True, slots=True)
class DayHours:
    """A resource's open spans on one day, and the holiday's name (or "holiday") when it is one."""

    spans: tuple[Interval, ...] = ()
    holiday: str | None = None

    @property
    def closed(self) -> bool:
        return not self.spans


def holiday_value(value: Any) -> str | None:
    """The holiday a `<day>_holiday` value names, or None for an ordinary day."""
    raw = str(value).strip() if value is not None else ""
    if raw.lower() in NOT_A_HOLIDAY:
        return None
    return "holiday" if raw.lower() in ("true", "t", "yes", "y", "1") else raw


@dataclass(frozen=True, slots=True)
class ScheduleRow:
    resource_type: str
    resource_id: str
    week_start: dt.date | None  # None: an undated (standing) row
    days: tuple[DayHours, ...]  # Monday first

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> ScheduleRow:
        return cls(
            resource_type=text(item, "resource_type").lower(),
            resource_id=text(item, "resource_id"),
            week_start=as_date(item.get("date")),
            days=tuple(_day_hours(item, day) for day in WEEKDAYS),
        )

    def on(self, day: dt.date) -> DayHours:
        return self.days[day.weekday()]


def _day_hours(item: dict[str, Any], day: str) -> DayHours:
    holiday = holiday_value(item.get(f"{day}_holiday"))
    if holiday is not None:
        return DayHours((), holiday)
    spans = []
    for n in SPANS:
        start, end = as_time(item.get(f"{day}_start_{n}")), as_time(item.get(f"{day}_end_{n}"))
        if start is not None and end is not None and start < end:
            spans.append((start, end))
    return DayHours(tuple(sorted(spans)))


@dataclass(frozen=True, slots=True)
class ResourceWeeks:
    """One resource's rows: dated weeks in order, and the undated template if any."""

    weeks: tuple[ScheduleRow, ...]  # sorted by week_start
    template: ScheduleRow | None

    def row_for(self, day: dt.date) -> ScheduleRow | None:
        starts = [row.week_start or dt.date.min for row in self.weeks]
        index = bisect_right(starts, day) - 1  # the latest week starting on or before `day`
        latest_earlier = self.weeks[index] if index >= 0 else None
        week_start = latest_earlier.week_start if latest_earlier else None
        if week_start is not None and day < week_start + WEEK:
            return latest_earlier  # the week that contains the day
        return self.template or latest_earlier  # a missing week: the template, else the latest earlier week


@dataclass(frozen=True)
class PracticeSchedule:
    rows: tuple[ScheduleRow, ...] = ()
    practice_id: str = ""
    _resources: dict[tuple[str, str], ResourceWeeks] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_items(cls, items: Iterable[dict[str, Any]], practice_id: str = "") -> PracticeSchedule:
        rows = tuple(ScheduleRow.from_item(item) for item in items)
        grouped: dict[tuple[str, str], list[ScheduleRow]] = {}
        for row in rows:
            grouped.setdefault((row.resource_type, row.resource_id), []).append(row)
        resources = {key: _weeks(group) for key, group in grouped.items()}
        return cls(rows, practice_id, resources)

    def _practice(self) -> ResourceWeeks | None:
        """The location's own practice row; any practice row when Sikka names it differently."""
        own = self._resources.get(("practice", self.practice_id))
        if own is not None:
            return own
        return next((weeks for (kind, _), weeks in self._resources.items() if kind == "practice"), None)

    def practice_day(self, day: dt.date) -> DayHours:
        """The practice's hours that day (closed when Sikka sent no practice row)."""
        weeks = self._practice()
        row = weeks.row_for(day) if weeks else None
        return row.on(day) if row else DayHours()

    def practice_hours(self, day: dt.date) -> tuple[Interval, ...]:
        return self.practice_day(day).spans

    def resource_hours(self, resource_type: str, resource_id: str, day: dt.date) -> tuple[Interval, ...] | None:
        """A provider's or operatory's own hours that day; None without rows (practice hours apply)."""
        weeks = self._resources.get((resource_type, resource_id))
        row = weeks.row_for(day) if weeks else None
        return None if row is None else row.on(day).spans


def _weeks(rows: Sequence[ScheduleRow]) -> ResourceWeeks:
    dated = sorted((row for row in rows if row.week_start is not None), key=lambda row: row.week_start or dt.date.min)
    template = next((row for row in rows if row.week_start is None), None)
    return ResourceWeeks(tuple(dated), template)
