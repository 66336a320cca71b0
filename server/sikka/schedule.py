"""`practice_schedule` rows as opening hours per resource and day.

Rows carry `resource_type` ("practice", "provider", "operatory"), `resource_id`, `<day>_start_1..3`,
`<day>_end_1..3` and `<day>_holiday`. A row with an empty `date` is the weekly template; a row with a
`date` applies to that date only and wins over the template (Sikka does not document the dated rows'
meaning; this reading is inferred). A holiday flag closes the resource for that day. The gap between
`_end_1` and `_start_2` is the lunch break.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from server.sikka.records import as_bool, as_date, as_time, text

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
Interval = tuple[dt.time, dt.time]


@dataclass(frozen=True, slots=True)
class ScheduleRow:
    resource_type: str
    resource_id: str
    date: dt.date | None
    hours: dict[int, tuple[Interval, ...]]  # weekday (Monday 0) -> open intervals
    holidays: frozenset[int]

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> ScheduleRow:
        hours: dict[int, tuple[Interval, ...]] = {}
        holidays = set()
        for index, day in enumerate(WEEKDAYS):
            if as_bool(item.get(f"{day}_holiday")):
                holidays.add(index)
            intervals = []
            for n in (1, 2, 3):
                start, end = as_time(item.get(f"{day}_start_{n}")), as_time(item.get(f"{day}_end_{n}"))
                if start is not None and end is not None and start < end:
                    intervals.append((start, end))
            hours[index] = tuple(sorted(intervals))
        return cls(
            resource_type=text(item, "resource_type").lower(),
            resource_id=text(item, "resource_id"),
            date=as_date(item.get("date")),
            hours=hours,
            holidays=frozenset(holidays),
        )

    def intervals_on(self, day: dt.date) -> tuple[Interval, ...]:
        weekday = day.weekday()
        return () if weekday in self.holidays else self.hours.get(weekday, ())


@dataclass(frozen=True)
class PracticeSchedule:
    rows: tuple[ScheduleRow, ...] = ()
    _index: dict[tuple[str, str, dt.date | None], ScheduleRow] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_items(cls, items: Iterable[dict[str, Any]]) -> PracticeSchedule:
        rows = tuple(ScheduleRow.from_item(item) for item in items)
        index = {(row.resource_type, row.resource_id, row.date): row for row in rows}
        return cls(rows, index)

    def _row(self, resource_type: str, resource_id: str, day: dt.date) -> ScheduleRow | None:
        dated = self._index.get((resource_type, resource_id, day))
        return dated if dated is not None else self._index.get((resource_type, resource_id, None))

    def practice_hours(self, day: dt.date) -> tuple[Interval, ...]:
        """The practice's hours; any practice row counts (Sikka gives one per location)."""
        for row in self.rows:
            if row.resource_type == "practice" and row.date == day:
                return row.intervals_on(day)
        for row in self.rows:
            if row.resource_type == "practice" and row.date is None:
                return row.intervals_on(day)
        return ()

    def resource_hours(self, resource_type: str, resource_id: str, day: dt.date) -> tuple[Interval, ...] | None:
        """A provider's or operatory's own hours that day; None without a row (practice hours apply)."""
        row = self._row(resource_type, resource_id, day)
        return None if row is None else row.intervals_on(day)
