"""Reading `practice_schedule` rows: the open hours of a practice, provider or operatory on a date.

Semantics are inferred (Sikka documents the columns only); data.py's docstring states them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date

DAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
SLOTS = (1, 2, 3)

Interval = tuple[int, int]
"""A half-open span [start, end) in minutes after local midnight."""


def to_minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def to_hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def day_name(on: date) -> str:
    return DAYS[(on.weekday() + 1) % 7]


def intersect(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    """The spans covered by both `a` and `b` (each a sorted list of disjoint spans)."""
    spans = [(max(s1, s2), min(e1, e2)) for s1, e1 in a for s2, e2 in b]
    return sorted((start, end) for start, end in spans if start < end)


def resource_hours(
    rows: Iterable[Mapping[str, str]], on: date, resource_type: str, resource_id: str | None = None
) -> list[Interval] | None:
    """A resource's own hours on `on`: its dated row for that day, else its weekly row; None without rows."""
    dated = f"{on.isoformat()}T00:00:00"
    weekly: Mapping[str, str] | None = None
    for row in rows:
        if row["resource_type"] != resource_type or resource_id not in (None, row["resource_id"]):
            continue
        if row["date"] == dated:
            return _row_hours(row, on)
        if row["date"] == "":
            weekly = row
    return None if weekly is None else _row_hours(weekly, on)


def open_hours(
    rows: Sequence[Mapping[str, str]], on: date, *, provider_id: str = "", operatory: str = ""
) -> list[Interval]:
    """The practice's hours on `on`, narrowed by the provider's and the operatory's own rows if any."""
    spans = resource_hours(rows, on, "practice") or []
    for resource_type, resource_id in (("provider", provider_id), ("operatory", operatory)):
        own = resource_hours(rows, on, resource_type, resource_id) if resource_id else None
        if own is not None:
            spans = intersect(spans, own)
    return spans


def _row_hours(row: Mapping[str, str], on: date) -> list[Interval]:
    day = day_name(on)
    if row[f"{day}_holiday"] == "True":
        return []
    return [
        (to_minutes(row[f"{day}_start_{n}"]), to_minutes(row[f"{day}_end_{n}"]))
        for n in SLOTS
        if row[f"{day}_start_{n}"]
    ]
