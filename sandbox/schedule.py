"""`practice_schedule`: week rows, and the open hours they give a practice, provider or operatory on a date.

Sikka documents the columns and one sentence, "`date` holds the start date of a week" (§9); the rest is
undocumented (§23.1), so the sandbox takes the least convenient reading of each point:

- Rows are per week: one row per resource per week, no undated template row. `date` is the week's
  Sunday ("2026-11-22T00:00:00"); the `date` parameter matches a week start exactly, any other day
  matches nothing.
- `resource_type` is capitalised: "Practice" (`resource_id` = practice_id), "Provider" (provider_id),
  "Operatory" (the chair's `operatory`).
- `<day>_start_n`/`<day>_end_n` (n = 1..3) are a day's open spans in 12-hour form ("8:00 AM", "1:30 PM";
  appointments keep their documented "10:30"), "" when unused; a day without spans is closed.
- `<day>_holiday` is "" on ordinary days and holds the holiday's name (not "True") on a holiday. Only the
  Practice row carries it: provider and operatory rows keep their usual hours that day.
- A provider's or operatory's hours are its own row intersected with the practice's; a resource without
  rows (an unscheduled chair or person) follows the practice.
- Rows run from 4 weeks before to 8 weeks after the practice-local creation date. A day after the last
  week follows the latest earlier week of its resource; a day before the first week is closed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta

from sandbox import fields
from sandbox.envelopes import Record
from sandbox.formats import from_clock, sikka_date, to_clock

DAYS = fields.DAYS
SLOTS = (1, 2, 3)
WEEKS_BEFORE = 4
WEEKS_AFTER = 8

Interval = tuple[int, int]
"""A half-open span [start, end) in minutes after local midnight."""

Week = Mapping[str, Sequence[Interval]]
"""Open spans per day name; a missing day is closed."""

PRACTICE, PROVIDER, OPERATORY = "Practice", "Provider", "Operatory"


def day_name(on: date) -> str:
    return DAYS[(on.weekday() + 1) % 7]


def week_start(on: date) -> date:
    """The Sunday on or before `on`."""
    return on - timedelta(days=(on.weekday() + 1) % 7)


def week_starts(today: date) -> list[date]:
    """The Sundays of the weeks that have rows, for a practice created on `today`."""
    first = week_start(today) - timedelta(weeks=WEEKS_BEFORE)
    return [first + timedelta(weeks=n) for n in range(WEEKS_BEFORE + WEEKS_AFTER + 1)]


def week_row(common: Mapping[str, str], start: date, week: Week, holidays: Mapping[str, str]) -> Record:
    """A row for the week from `start`: `common` (href, ids, resource) plus hours and holiday names by day."""
    row = dict.fromkeys(fields.PRACTICE_SCHEDULE.keys, "")
    row.update(common, date=sikka_date(start))
    for day in DAYS:
        row[f"{day}_holiday"] = holidays.get(day, "")
        for n, (opens, closes) in zip(SLOTS, week.get(day, ()), strict=False):
            row[f"{day}_start_{n}"] = to_clock(opens)
            row[f"{day}_end_{n}"] = to_clock(closes)
    return row


def intersect(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    """The spans covered by both `a` and `b` (each a sorted list of disjoint spans)."""
    spans = [(max(s1, s2), min(e1, e2)) for s1, e1 in a for s2, e2 in b]
    return sorted((start, end) for start, end in spans if start < end)


def resource_hours(
    rows: Iterable[Mapping[str, str]], on: date, resource_type: str, resource_id: str
) -> list[Interval] | None:
    """A resource's own hours on `on` from its latest week row starting on or before it; None without rows."""
    own = [row for row in rows if row["resource_type"] == resource_type and row["resource_id"] == resource_id]
    if not own:
        return None
    start = sikka_date(week_start(on))
    earlier = [row for row in own if row["date"] <= start]
    return _row_hours(max(earlier, key=lambda row: row["date"]), on) if earlier else []


def open_hours(
    rows: Sequence[Mapping[str, str]], on: date, *, provider_id: str = "", operatory: str = ""
) -> list[Interval]:
    """The practice's hours on `on`, narrowed by the provider's and the operatory's own rows if any."""
    practice_id = next((row["resource_id"] for row in rows if row["resource_type"] == PRACTICE), "")
    spans = resource_hours(rows, on, PRACTICE, practice_id) or []
    for resource_type, resource_id in ((PROVIDER, provider_id), (OPERATORY, operatory)):
        own = resource_hours(rows, on, resource_type, resource_id) if resource_id else None
        if own is not None:
            spans = intersect(spans, own)
    return spans


def _row_hours(row: Mapping[str, str], on: date) -> list[Interval]:
    day = day_name(on)
    return [
        (from_clock(row[f"{day}_start_{n}"]), from_clock(row[f"{day}_end_{n}"]))
        for n in SLOTS
        if row[f"{day}_start_{n}"]
    ]
