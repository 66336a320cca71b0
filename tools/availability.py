"""Open slots computed from the practice schedule minus booked appointments (pure functions, no I/O).

Wall-clock hours come from `practice_schedule` (practice ∩ provider, practice ∩ operatory); every
comparison is made on aware instants in the practice's zone, so DST days are right: wall times that do not
exist are skipped, and an appointment's end is its start plus its length in real time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from server.sikka import Appointment, DayHours, Interval, Operatory, PracticeMetadata, Provider
from tools.speech import spoken_day

PartOfDay = Literal["morning", "afternoon", "evening"]
PARTS_OF_DAY: dict[str, tuple[time, time]] = {
    "morning": (time(0), time(12)),
    "afternoon": (time(12), time(17)),
    "evening": (time(17), time(23, 59, 59)),
}
STEP = timedelta(minutes=15)
MAX_OPTIONS = 5


@dataclass(frozen=True, slots=True)
class Candidate:
    start: datetime  # aware, in the practice's zone
    provider: Provider
    operatory: Operatory


@dataclass(frozen=True, slots=True)
class Busy:
    start: datetime  # UTC
    end: datetime  # UTC


def local(day: date, clock: time, zone: ZoneInfo) -> datetime | None:
    """The instant for a wall time, or None when that wall time does not exist (spring-forward gap)."""
    candidate = datetime.combine(day, clock, tzinfo=zone)
    round_trip = candidate.astimezone(UTC).astimezone(zone)
    return candidate if (round_trip.date(), round_trip.time()) == (day, clock) else None


def intersect(first: Sequence[Interval], second: Sequence[Interval]) -> list[Interval]:
    result = []
    for a_start, a_end in first:
        for b_start, b_end in second:
            start, end = max(a_start, b_start), min(a_end, b_end)
            if start < end:
                result.append((start, end))
    return sorted(result)


def busy_by(appointments: Iterable[Appointment]) -> tuple[dict[str, list[Busy]], dict[str, list[Busy]]]:
    """Non-cancelled appointments as busy instants, per provider and per operatory."""
    providers: dict[str, list[Busy]] = {}
    operatories: dict[str, list[Busy]] = {}
    for appointment in appointments:
        if appointment.cancelled or appointment.length_minutes <= 0:
            continue
        start = appointment.start.astimezone(UTC)
        busy = Busy(start, start + timedelta(minutes=appointment.length_minutes))
        providers.setdefault(appointment.provider_id, []).append(busy)
        if appointment.operatory:
            operatories.setdefault(appointment.operatory, []).append(busy)
    return providers, operatories


# Comparisons are made in UTC: aware datetimes sharing a tzinfo compare by wall time, ignoring the offset.
Window = tuple[datetime, datetime]  # UTC


def _free(busy: Sequence[Busy], start: datetime, end: datetime) -> bool:
    return all(b.end <= start or b.start >= end for b in busy)


def _within(windows: Sequence[Window], start: datetime, end: datetime) -> bool:
    return any(opens <= start and end <= closes for opens, closes in windows)


def _windows(intervals: Sequence[Interval], day: date, zone: ZoneInfo) -> list[Window]:
    """Open intervals as UTC instants (an edge that does not exist on a DST day drops its interval)."""
    windows = []
    for open_start, open_end in intervals:
        opens, closes = local(day, open_start, zone), local(day, open_end, zone)
        if opens is not None and closes is not None:
            windows.append((opens.astimezone(UTC), closes.astimezone(UTC)))
    return windows


@dataclass(frozen=True)
class DayPlan:
    """Everything needed to test one start time on one day."""

    day: date
    metadata: PracticeMetadata
    provider_busy: dict[str, list[Busy]]
    operatory_busy: dict[str, list[Busy]]
    _open: dict[tuple[str, str], list[Window]] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def build(cls, day: date, metadata: PracticeMetadata, appointments: Iterable[Appointment]) -> DayPlan:
        same_day = [a for a in appointments if a.start.date() == day or a.end.date() == day]
        providers, operatories = busy_by(same_day)
        return cls(day, metadata, providers, operatories)

    def _hours(self, kind: str, resource_id: str) -> list[Interval]:
        practice = self.metadata.schedule.practice_hours(self.day)
        own = self.metadata.schedule.resource_hours(kind, resource_id, self.day)
        return list(practice) if own is None else intersect(practice, own)

    def provider_hours(self, provider: Provider) -> list[Interval]:
        return self._hours("provider", provider.provider_id)

    def _opening(self, kind: str, resource_id: str) -> list[Window]:
        """A resource's open windows this day, in UTC, computed once per plan."""
        key = (kind, resource_id)
        if key not in self._open:
            self._open[key] = _windows(self._hours(kind, resource_id), self.day, self.metadata.zone)
        return self._open[key]

    def free_operatory(self, start: datetime, end: datetime) -> Operatory | None:
        for operatory in self.metadata.open_operatories:
            windows = self._opening("operatory", operatory.operatory)
            if _within(windows, start, end) and _free(self.operatory_busy.get(operatory.operatory, []), start, end):
                return operatory
        return None

    def check(self, provider: Provider, start: datetime, duration: timedelta) -> Candidate | None:
        """The slot with a free operatory, if `provider` can see a patient at `start` for `duration`."""
        start_utc = start.astimezone(UTC)
        end = start_utc + duration
        if not _within(self._opening("provider", provider.provider_id), start_utc, end):
            return None
        if not _free(self.provider_busy.get(provider.provider_id, []), start_utc, end):
            return None
        operatory = self.free_operatory(start_utc, end)
        return None if operatory is None else Candidate(start, provider, operatory)

    def candidates(
        self, providers: Sequence[Provider], duration: timedelta, earliest: datetime, part: PartOfDay | None
    ) -> list[Candidate]:
        zone = self.metadata.zone
        found: list[Candidate] = []
        window = PARTS_OF_DAY[part] if part else None
        for provider in providers:
            for open_start, open_end in self.provider_hours(provider):
                wall = datetime.combine(self.day, open_start)
                while wall.time() < open_end and wall.date() == self.day:
                    start = local(self.day, wall.time(), zone)
                    wall += STEP
                    if start is None or start < earliest:
                        continue
                    if window and not window[0] <= start.time() < window[1]:
                        continue
                    candidate = self.check(provider, start, duration)
                    if candidate is not None:
                        found.append(candidate)
        return sorted(found, key=lambda c: (c.start, c.provider.provider_id))


def open_slots(
    days: Sequence[date],
    metadata: PracticeMetadata,
    appointments: Sequence[Appointment],
    *,
    duration: timedelta,
    earliest: datetime,
    provider_id: str | None = None,
    part: PartOfDay | None = None,
) -> dict[date, list[Candidate]]:
    """Every bookable start per day (15-minute grid), for the practice's bookable providers."""
    providers = [p for p in metadata.bookable_providers if provider_id in (None, p.provider_id)]
    return {
        day: DayPlan.build(day, metadata, appointments).candidates(providers, duration, earliest, part) for day in days
    }


def closure(hours: DayHours, day: date) -> str | None:
    """ "Friday, December 25" when the office is closed on `day` (a holiday or an ordinary closed day); None when
    its hours that day have open spans. A holiday's name is the PMS's free text: never part of a sentence."""
    return spoken_day(day) if hours.holiday or hours.closed else None


def closed_on(metadata: PracticeMetadata, day: date, provider_id: str | None) -> str | None:
    """How to say a day is closed ("The office is closed on Friday, December 25"), or None when the practice
    is open that day and one of the (asked) bookable providers works."""
    closed = closure(metadata.schedule.practice_day(day), day)
    if closed is not None:
        return f"The office is closed on {closed}"
    providers = [p for p in metadata.bookable_providers if provider_id in (None, p.provider_id)]
    plan = DayPlan.build(day, metadata, ())
    if not any(plan.provider_hours(p) for p in providers):
        return f"No one is seeing patients on {spoken_day(day)}"
    return None


def nearest_open_days(found: dict[date, list[Candidate]], limit: int) -> list[date]:
    """The first `limit` days, in date order, that have at least one candidate."""
    return [day for day in sorted(found) if found[day]][:limit]


def nearest(candidates: Sequence[Candidate], preferred: time, limit: int = MAX_OPTIONS) -> list[Candidate]:
    """At most `limit` options whose time of day is nearest `preferred` (the earlier day first on a tie), in time
    order, varying providers where times coincide: a free `preferred` time is always one of them."""
    wanted = preferred.hour * 60 + preferred.minute

    def distance(start: datetime) -> tuple[int, datetime]:
        return abs(start.hour * 60 + start.minute - wanted), start

    closest = set(sorted({c.start for c in candidates}, key=distance)[:limit])
    return spread([c for c in candidates if c.start in closest], limit)


def spread(candidates: Sequence[Candidate], limit: int = MAX_OPTIONS) -> list[Candidate]:
    """At most `limit` options spread evenly over the day(s), varying providers where times coincide."""
    times = sorted({c.start for c in candidates})
    if not times:
        return []
    if len(times) > limit:
        times = [times[round(i * (len(times) - 1) / (limit - 1))] for i in range(limit)] if limit > 1 else times[:1]
    chosen = []
    for index, start in enumerate(times):
        options = [c for c in candidates if c.start == start]
        chosen.append(options[index % len(options)])
    return chosen
