"""checkAvailability, bookAppointment, rescheduleAppointment, cancelAppointment."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, model_validator

from server.inbox import InboxKind, StaffNote
from server.intents import Asked, HeldSlot, Hold, Intent, IntentState, Progress, Write
from server.sikka import (
    Appointment,
    NeedsStaff,
    Operatory,
    Patient,
    PracticeMetadata,
    Provider,
    as_time,
    text,
    writes,
)
from tools.arguments import (
    AppointmentId,
    Args,
    CalendarDate,
    ClockTime,
    Duration,
    Note,
    ProviderId,
    ProviderName,
    ShortText,
    StartTime,
)
from tools.availability import (
    Candidate,
    DayPlan,
    PartOfDay,
    closed_on,
    local,
    nearest,
    nearest_open_days,
    open_slots,
    spread,
)
from tools.base import tool
from tools.codes import Code
from tools.context import ToolCall
from tools.gather import Beside
from tools.identity import VerifyArgs, verify
from tools.names import providers_named
from tools.results import AppointmentResult, AvailabilityResult, ProviderChoice, Refused, Slot
from tools.spec import CHANGES, CREATES, READ_ONLY
from tools.speech import spoken_day, spoken_list, spoken_time
from tools.writing import NOT_SENT, callback_number, is_pending, patient_name, waiting

DEFAULT_DURATION = 30
MAX_RANGE_DAYS = 14
LOOKAHEAD_DAYS = 14
NEXT_DATES = 3
ALTERNATIVES = 3


@dataclass(frozen=True)
class SlotRequest:
    start: datetime  # aware, in the practice's zone
    duration: timedelta


def as_slot(candidate: Candidate) -> Slot:
    return Slot(
        start_time=candidate.start.isoformat(),
        provider_id=candidate.provider.provider_id,
        provider_name=candidate.provider.display_name,
        operatory=candidate.operatory.operatory,
    )


def spoken_slots(candidates: list[Candidate]) -> str:
    days = sorted({c.start.date() for c in candidates})
    parts = []
    for day in days:
        times = [spoken_time(c.start) for c in candidates if c.start.date() == day]
        parts.append(f"{spoken_day(day)} at {spoken_list(times)}")
    return "; ".join(parts)


def spoken_date(day: date) -> str:
    """ "Monday, November 30, 2026": with the year, for a model that slipped a year."""
    return f"{spoken_day(day)}, {day.year}"


def already_there(current: Appointment, wanted: SlotRequest, provider_id: str, metadata: PracticeMetadata) -> bool:
    """The move asks for the appointment's own time, provider and length: nothing to write."""
    same_start = current.start == wanted.start
    same_length = current.length_minutes * 60 == wanted.duration.total_seconds()
    return same_start and same_length and current.provider_id == provider_id


def local_start(moment: datetime, metadata: PracticeMetadata) -> datetime:
    """An aware instant in the practice's zone (a time without offset is read as practice-local)."""
    if moment.tzinfo is None:
        return datetime.combine(moment.date(), moment.time(), metadata.zone)
    return moment.astimezone(metadata.zone)


# --- checkAvailability ------------------------------------------------------------------------------


class CheckAvailabilityArgs(Args):
    day: CalendarDate | None = Field(None, alias="date")
    start_date: CalendarDate | None = Field(None, description="First day of a range (with endDate).")
    end_date: CalendarDate | None = Field(None, description="Last day of a range (at most 14 days).")
    duration_minutes: Duration = DEFAULT_DURATION
    provider_id: ProviderId | None = None
    provider_name: ProviderName | None = None
    appointment_type: ShortText | None = Field(None, description="e.g. cleaning, exam, emergency.")
    part_of_day: Literal["morning", "afternoon", "evening"] | None = None
    preferred_time: ClockTime | None = None

    @model_validator(mode="after")
    def _one_form(self) -> CheckAvailabilityArgs:
        if not (self.day or (self.start_date and self.end_date)):
            raise ValueError("give date, or startDate and endDate")
        if self.provider_id and self.provider_name:
            raise ValueError("give providerId or providerName, not both")
        if self.start_date and self.end_date and self.start_date.iso and self.end_date.iso:
            _range(self.start_date.iso, self.end_date.iso)  # written dates are checked at once
        return self

    def days(self, today: date) -> tuple[date, date]:
        """(first, last) day asked for, seen from the practice's `today`; ValueError for a range that is not one."""
        first, last = self.day or self.start_date, self.day or self.end_date
        if first is None or last is None:
            raise ValueError("give date, or startDate and endDate")
        return _range(first.on(today), last.on(today))


def _range(start: date, end: date) -> tuple[date, date]:
    if end < start:
        raise ValueError("endDate must not be before startDate")
    if (end - start).days >= MAX_RANGE_DAYS:
        raise ValueError(f"a range can cover at most {MAX_RANGE_DAYS} days")
    return start, end


def spoken_days(first: date, last: date) -> str:
    """ "Tuesday, December 8", or "Tuesday, December 8 to Friday, December 11"."""
    return spoken_day(first) if first == last else f"{spoken_day(first)} to {spoken_day(last)}"


def asked_provider(metadata: PracticeMetadata, args: CheckAvailabilityArgs) -> Provider | None:
    """The provider asked for, by id or by name (None: any); refused when it is not one (or not just one) bookable
    provider."""
    bookable = metadata.bookable_providers
    if args.provider_id:
        provider = metadata.provider(args.provider_id)
        if provider in bookable:
            return provider
        raise Refused(Code.UNKNOWN_PROVIDER, "I don't know that provider; check availability without one.")
    if not args.provider_name:
        return None
    named = providers_named(bookable, args.provider_name)
    if len(named) == 1:
        return named[0]
    if not named:
        raise Refused(
            Code.UNKNOWN_PROVIDER_NAME,
            "No provider here has that name; check the names with getProviders, or check without one.",
        )
    raise Refused(
        Code.AMBIGUOUS_PROVIDER,
        f"{len(named)} providers have that name; ask the caller which one, then pass its providerId.",
        providers=[ProviderChoice(provider_id=p.provider_id, name=p.display_name) for p in named],
    )


def _day_list(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


async def _candidates(
    call: ToolCall,
    metadata: PracticeMetadata,
    days: list[date],
    duration: timedelta,
    provider_id: str | None,
    part: PartOfDay | None,
) -> dict[date, list[Candidate]]:
    """Open starts per day: Sikka's own slots where the PMS has them, else computed from the schedule."""
    earliest = call.earliest
    days = [d for d in days if d >= earliest.astimezone(metadata.zone).date()]
    if not days:
        return {}
    if metadata.has_slot_endpoint:
        items = await call.practice.available_slots(days[0], days[-1])
        return _sikka_slots(items, metadata, days, duration, earliest, provider_id)
    appointments = await call.practice.appointments(days[0], days[-1])
    return open_slots(
        days, metadata, appointments, duration=duration, earliest=earliest, provider_id=provider_id, part=part
    )


def _sikka_slots(
    items: list[dict[str, str]],
    metadata: PracticeMetadata,
    days: list[date],
    duration: timedelta,
    earliest: datetime,
    provider_id: str | None,
) -> dict[date, list[Candidate]]:
    """`appointments_available_slots` items (OrthoTrac/Dolphin) as candidates that fit the duration."""
    result: dict[date, list[Candidate]] = {day: [] for day in days}
    for item in items:
        parsed = Appointment.from_item({**item, "length": "0", "status": ""}, metadata.zone)
        end = as_time(item.get("end_time"))
        provider = metadata.provider(text(item, "provider_id"))
        if parsed is None or provider is None or provider_id not in (None, provider.provider_id):
            continue
        start = parsed.start
        length = (datetime.combine(start.date(), end, start.tzinfo) - start) if end else duration
        if start < earliest or length < duration or start.date() not in result:
            continue
        operatory = Operatory(text(item, "operatory"), "", False)
        result[start.date()].append(Candidate(start, provider, operatory))
    return result


@tool(
    "checkAvailability",
    title="Find open appointment times",
    description="""
Find open appointment times on a day (date) or over a range (startDate and endDate, up to 14 days), for a
length in minutes (default 30). Dates may be YYYY-MM-DD or the caller's words "today", "tomorrow", "tuesday" or
"next tuesday" (both the coming Tuesday, never today), in the practice's time zone: the answer's `day` says the
date it resolved to; confirm it with the caller. Optionally for one provider (providerId, or providerName as the
caller says it, e.g. "Dr. Patel"), a part of the day, or a preferredTime (HH:MM, 24-hour): then the options are
the nearest to it, the time itself when it is free. Returns up to 5 options, each with startTime (pass it
unchanged to bookAppointment), providerId and providerName. If the day is full, returns the nearest dates that
have openings.
""",
    hints=READ_ONLY,
    crud="R",
    phi_fields=(),
    summary="availability check",
)
async def check_availability(call: ToolCall, args: CheckAvailabilityArgs) -> AvailabilityResult:
    metadata = await call.practice.metadata()
    provider = asked_provider(metadata, args)
    provider_id = provider.provider_id if provider else None
    today = call.today_at(metadata.zone)
    try:
        first, last = args.days(today)
    except ValueError as exc:
        return AvailabilityResult(message=f"Please correct the arguments: {exc}.", code=Code.INVALID_ARGUMENTS)
    asked = {"day": spoken_days(first, last), "start_date": first.isoformat(), "end_date": last.isoformat()}
    if last < today:
        return AvailabilityResult(
            message=f"{spoken_date(last)} has already passed; today is {spoken_date(today)}.",
            code=Code.DATE_IN_PAST,
            **asked,
        )
    days = _day_list(max(first, today), last)
    # A day the schedule closes has no openings: read only the others (none: straight to the nearest open days).
    # Sikka's own slots (OrthoTrac, Dolphin) are read as they are.
    readable = days if metadata.has_slot_endpoint else [d for d in days if not closed_on(metadata, d, provider_id)]
    found = await _candidates(call, metadata, readable, duration(args), provider_id, args.part_of_day)
    candidates = [c for day in sorted(found) for c in found[day]]
    options = nearest(candidates, args.preferred_time) if args.preferred_time else spread(candidates)
    if options:
        return AvailabilityResult(
            message=f"Openings on {spoken_slots(options)}.",
            code=Code.SLOTS_FOUND,
            slots=[as_slot(c) for c in options],
            **asked,
        )
    later = await _candidates(
        call,
        metadata,
        _day_list(last + timedelta(days=1), last + timedelta(days=LOOKAHEAD_DAYS)),
        duration(args),
        provider_id,
        args.part_of_day,
    )
    open_days = nearest_open_days(later, NEXT_DATES)
    closures = [closure for day in days if (closure := closed_on(metadata, day, provider_id)) is not None]
    if len(closures) == len(days):
        code = Code.OFFICE_CLOSED
        said = closures[0] if len(days) == 1 else f"The office is closed from {asked['day']}"
    else:
        code, said = Code.DAY_FULL, f"{asked['day']} is full" if len(days) == 1 else f"{asked['day']} are full"
    if not open_days:
        return AvailabilityResult(
            message=f"{said}, and I don't see openings in the two weeks after; the office can help by phone.",
            code=Code.NO_OPENINGS,
            **asked,
        )
    return AvailabilityResult(
        message=f"{said}. The nearest openings are on {spoken_list([spoken_day(d) for d in open_days])}.",
        code=code,
        next_available_dates=[d.isoformat() for d in open_days],
        **asked,
    )


def duration(args: CheckAvailabilityArgs) -> timedelta:
    return timedelta(minutes=args.duration_minutes)


# --- bookAppointment --------------------------------------------------------------------------------


class BookAppointmentArgs(VerifyArgs):
    start_time: StartTime
    duration_minutes: Duration = DEFAULT_DURATION
    provider_id: ProviderId | None = None
    appointment_type: ShortText | None = None
    notes: Note | None = Field(None, description="Reason for the visit, in a few words.")


def _day_read(call: ToolCall, day: date) -> Beside[list[Appointment]]:
    """The day's appointments, for the slot's re-check: read beside the identity check."""
    return Beside(lambda: call.practice.appointments(day, day))


def _day_plan(metadata: PracticeMetadata, day: date, appointments: list[Appointment], ignore: str | None) -> DayPlan:
    """The day's plan from its appointments, minus `ignore` (the appointment being moved)."""
    return DayPlan.build(day, metadata, [a for a in appointments if a.appointment_id != ignore])


def _providers(metadata: PracticeMetadata, provider_id: str | None) -> list[Provider]:
    return [p for p in metadata.bookable_providers if provider_id in (None, p.provider_id)]


def _first_free(plan: DayPlan, providers: list[Provider], start: datetime, duration: timedelta) -> Candidate | None:
    if local(start.date(), start.time(), plan.metadata.zone) is None:
        return None  # a wall time the DST change skips
    return next((c for p in providers if (c := plan.check(p, start, duration)) is not None), None)


def _alternatives(
    call: ToolCall, plan: DayPlan, providers: list[Provider], duration: timedelta, current: Appointment | None
) -> list[Candidate]:
    """Other open starts that day; never the appointment's own current time."""
    own = current.start if current else None
    options = [c for c in plan.candidates(providers, duration, call.earliest, None) if c.start != own]
    return spread(options, ALTERNATIVES)


def ensure_bookable(call: ToolCall, metadata: PracticeMetadata, start: datetime) -> None:
    """Refuse, truthfully, a start time in the past, too soon, or on a day the office is closed."""
    today = call.today_at(metadata.zone)
    if start <= call.now:
        raise Refused(
            Code.TIME_IN_PAST,
            f"{spoken_date(start.date())} at {spoken_time(start)} has already passed; today is {spoken_date(today)}.",
            today=today.isoformat(),
        )
    earliest = call.earliest.astimezone(metadata.zone)
    if start < earliest:
        raise Refused(
            Code.TOO_SOON,
            f"That's too soon to book by phone; the earliest is {spoken_day(earliest.date())} "
            f"at {spoken_time(earliest)}.",
            today=today.isoformat(),
        )
    closure = closed_on(metadata, start.date(), None)
    if closure is not None:
        raise Refused(Code.CLOSED, f"{closure}; please choose another day.", today=today.isoformat())


TAKEN = "That time was just taken or isn't open."


def _taken(alternatives: list[Candidate], reason: Code = Code.SLOT_TAKEN, said: str = TAKEN) -> AppointmentResult:
    offer = f" I can offer {spoken_slots(alternatives)}." if alternatives else ""
    return AppointmentResult(
        message=f"{said}{offer}",
        outcome="refused",
        code=reason,
        alternatives=[as_slot(c) for c in alternatives],
    )


def as_held(hold: Hold, zone: ZoneInfo) -> Appointment:
    """An open booking or move of ours, as the appointment it will become (its slot is taken meanwhile)."""
    return Appointment(
        appointment_id=f"intent:{hold.intent_id}",
        patient_id=hold.patient_ref or "",
        provider_id=hold.provider_id,
        start=hold.start.astimezone(zone),
        length_minutes=hold.minutes,
        status="",
        type="",
        description="",
        operatory=hold.operatory,
        cancelled=False,
    )


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The practice-local day as a UTC range."""
    start = datetime.combine(day, time(), zone)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


# What the verbs are called in codes and sentences.
VERBS = {
    "booked": ("booking", Code.APPOINTMENT_BOOKED, Code.BOOKED_PENDING, Code.BOOKING_FAILED),
    "moved": ("move", Code.APPOINTMENT_MOVED, Code.MOVED_PENDING, Code.RESCHEDULE_FAILED),
}


def appointment_answer(facts: dict[str, str], progress: Progress) -> AppointmentResult:
    """The answer about a booking, a move or a cancellation, from what its intent recorded and how far it got."""
    verb, when = facts["verb"], facts["when"]
    fields = {
        "start_time": facts.get("startTime"),
        "provider_name": facts.get("providerName"),
        "reference": progress.writeback_id,
        "office_system_offline": progress.office_offline or None,
    }
    if verb == "cancelled":
        return _cancellation_answer(facts, progress)
    noun, done_code, pending_code, failed_code = VERBS[verb]
    if progress.state == IntentState.CONFIRMED:
        return AppointmentResult(
            message=f"{verb.capitalize()} for {when}.",
            outcome="confirmed",
            code=done_code,
            appointment_id=progress.created_id if verb == "booked" else facts.get("appointmentId"),
            **fields,
        )
    if is_pending(progress):
        return AppointmentResult(
            message=f"I've sent the request for {when}; {waiting(progress)}.",
            outcome="pending",
            code=pending_code,
            appointment_id=facts.get("appointmentId"),
            **fields,
        )
    if progress.state == IntentState.NOT_SENT:
        return AppointmentResult(
            message=NOT_SENT,
            outcome="unavailable",
            code=Code.WRITE_NOT_SENT,
        )
    return AppointmentResult(
        message=f"The office system did not accept that {noun}; the office staff have it and will call you back.",
        outcome="refused",
        code=failed_code,
        appointment_id=facts.get("appointmentId"),
        **fields,
    )


def _cancellation_answer(facts: dict[str, str], progress: Progress) -> AppointmentResult:
    when = facts["when"]
    common = {
        "appointment_id": facts.get("appointmentId"),
        "reference": progress.writeback_id,
        "office_system_offline": progress.office_offline or None,
    }
    if progress.state == IntentState.CONFIRMED:
        return AppointmentResult(
            message=f"The appointment on {when} is cancelled.",
            outcome="confirmed",
            code=Code.APPOINTMENT_CANCELLED,
            **common,
        )
    if is_pending(progress):
        return AppointmentResult(
            message=f"I've asked the office system to cancel the appointment on {when}; {waiting(progress)}.",
            outcome="pending",
            code=Code.CANCEL_PENDING,
            **common,
        )
    if progress.state == IntentState.NOT_SENT:
        return AppointmentResult(
            message=NOT_SENT,
            outcome="unavailable",
            code=Code.WRITE_NOT_SENT,
        )
    return AppointmentResult(
        message="The office system did not accept the cancellation; the staff will need to cancel it.",
        outcome="refused",
        code=Code.CANCEL_FAILED,
        **common,
    )


def replayed_appointment(intent: Intent) -> AppointmentResult:
    return appointment_answer(intent.asked.facts, Progress.of(intent))


@dataclass(frozen=True)
class Booking:
    """What a booking or a move needs besides the slot: who, how to write it, and how to say it."""

    patient: Patient
    verb: Literal["booked", "moved"]
    write: Callable[[Candidate], Write]
    moving: Appointment | None = None


def _asked(call: ToolCall, booking: Booking, candidate: Candidate, minutes: int) -> Asked:
    when = f"{spoken_day(candidate.start.date())} at {spoken_time(candidate.start)}"
    provider = candidate.provider.display_name
    action = "move the appointment to" if booking.moving else "book"
    facts = {"verb": booking.verb, "when": when, "startTime": candidate.start.isoformat(), "providerName": provider}
    if booking.moving:
        facts["appointmentId"] = booking.moving.appointment_id
    start = candidate.start.astimezone(UTC)
    slot = HeldSlot(start, minutes, candidate.provider.provider_id, candidate.operatory.operatory)
    return Asked(
        tool=call.entry.action,
        request=f"{action} {when} with {provider}",
        who=patient_name(booking.patient),
        callback_number=callback_number(call, booking.patient),
        facts=facts,
        patient_id=booking.patient.patient_id,
        slot=slot,
    )


async def write_at_free_slot(
    call: ToolCall,
    metadata: PracticeMetadata,
    wanted: SlotRequest,
    providers: list[Provider],
    booking: Booking,
    that_day: Beside[list[Appointment]],
) -> AppointmentResult:
    """Re-check the slot against the day's fresh appointments (`that_day`, read beside the identity check) and
    our own open writes (ignoring the appointment being moved), record the write with a free operatory, send it
    and answer; a slot taken meanwhile (or refused by the PMS) offers alternatives. Reading the open writes and
    recording this one is one serialised step, so no two callers are both told "sent" for one chair."""
    ensure_bookable(call, metadata, wanted.start)
    day = wanted.start.date()
    ignore = booking.moving.appointment_id if booking.moving else None
    booked = [a for a in that_day.result() if a.appointment_id != ignore]
    minutes = int(wanted.duration.total_seconds() // 60)
    async with call.services.intents.slot_guard(call.account_id) as guard:
        holds = [h for h in await guard.holds(*day_bounds(day, metadata.zone)) if h.target_id != ignore or not ignore]
        mine = next((h for h in holds if _same_request(h, booking, wanted)), None)
        plan = DayPlan.build(day, metadata, [*booked, *(as_held(h, metadata.zone) for h in holds)])
        candidate = None if mine else _first_free(plan, providers, wanted.start, wanted.duration)
        intent = None
        if candidate is not None:
            asked = _asked(call, booking, candidate, minutes)
            intent = await guard.record(booking.write(candidate), asked, call.caller, call.idempotency_key)
    if mine is not None:
        return await _already_requested(call, mine)
    if intent is None or candidate is None:
        return _taken(_alternatives(call, plan, providers, wanted.duration, booking.moving))
    outcome = await call.send(intent)
    answer = appointment_answer(intent.asked.facts, outcome.progress())
    if outcome.status == "failed":
        fresh = _day_plan(metadata, day, await call.practice.appointments(day, day), ignore)
        alternatives = _alternatives(call, fresh, providers, wanted.duration, booking.moving)
        return _taken(alternatives, answer.code, answer.message.replace(" and will call you back", ""))
    return answer


def _same_request(hold: Hold, booking: Booking, wanted: SlotRequest) -> bool:
    """An open write of ours already asks for this: the same patient at the same start (and the same move)."""
    same_target = hold.target_id == (booking.moving.appointment_id if booking.moving else None)
    return hold.patient_ref == booking.patient.patient_id and hold.start == wanted.start and same_target


async def _already_requested(call: ToolCall, hold: Hold) -> AppointmentResult:
    intent = await call.services.intents.get(hold.intent_id)
    if intent is None or not intent.open:  # it became final meanwhile: the next re-check sees the PMS
        return _taken([])
    return appointment_answer(intent.asked.facts, Progress.of(intent))


@tool(
    "bookAppointment",
    title="Book an appointment",
    description="""
Book an appointment for a verified patient (patientId + dateOfBirth) at a startTime from checkAvailability,
optionally with providerId, length, type and a short note. Re-checks the time first; if it was just taken,
offers alternatives. Safe to retry: the same request on the same call never books twice. The answer is
confirmed with the appointmentId, or honestly pending while the office system saves it.
""",
    hints=CREATES,
    crud="C",
    phi_fields=("appointments",),
    summary="appointment booking",
    idempotent=True,
    replay=replayed_appointment,
)
async def book_appointment(call: ToolCall, args: BookAppointmentArgs) -> AppointmentResult:
    metadata = await call.practice.metadata()  # cached: the practice's zone says which day to re-check
    wanted = SlotRequest(local_start(args.start_time, metadata), timedelta(minutes=args.duration_minutes))
    that_day = _day_read(call, wanted.start.date())
    bookable = metadata.capabilities.new_appointment
    patient = await verify(call, args, beside=(that_day,) if bookable else ())
    if not bookable:
        return await _for_staff(call, InboxKind.APPOINTMENT_BOOKING, args, patient)

    def write(candidate: Candidate) -> Write:
        return writes.booking(
            metadata,
            patient=patient,
            start=candidate.start,
            length_minutes=args.duration_minutes,
            provider=candidate.provider,
            operatory=candidate.operatory,
            visit=args.appointment_type,
            note=args.notes,
        )

    try:
        providers = _providers(metadata, args.provider_id)
        return await write_at_free_slot(call, metadata, wanted, providers, Booking(patient, "booked", write), that_day)
    except NeedsStaff:  # the PMS needs what a call cannot give: nothing was sent
        return await _for_staff(call, InboxKind.APPOINTMENT_BOOKING, args, patient)


# --- rescheduleAppointment / cancelAppointment ------------------------------------------------------


class ExistingAppointmentArgs(VerifyArgs):
    appointment_id: AppointmentId


async def owned_appointment(
    call: ToolCall, args: ExistingAppointmentArgs, beside: Sequence[Beside[Any]] = ()
) -> tuple[Patient, Appointment]:
    """The verified patient and their own, future, not-cancelled appointment; refused otherwise. The appointment
    (and `beside`) are read beside the identity check."""
    booked = Beside(lambda: call.practice.appointment(args.appointment_id))
    patient = await verify(call, args, beside=(booked, *beside))
    appointment = booked.result()
    if appointment is None or appointment.patient_id != patient.patient_id:
        raise Refused(Code.APPOINTMENT_NOT_FOUND, "I couldn't find that appointment for this patient.")
    if appointment.cancelled:
        raise Refused(Code.ALREADY_CANCELLED, "That appointment is already cancelled.")
    return patient, appointment


class RescheduleAppointmentArgs(ExistingAppointmentArgs):
    new_start_time: StartTime
    duration_minutes: Duration | None = Field(None, description="Defaults to the appointment's current length.")
    provider_id: ProviderId | None = Field(None, description="Defaults to the appointment's current provider.")


@tool(
    "rescheduleAppointment",
    title="Move an appointment",
    description="""
Move a verified patient's appointment (appointmentId from getPatientInfo) to newStartTime from
checkAvailability. The appointment must belong to that patient (patientId + dateOfBirth). Re-checks the new
time; keeps the current provider and length unless given. Safe to retry on the same call.
""",
    hints=CHANGES,
    crud="U",
    phi_fields=("appointments",),
    summary="appointment reschedule",
    idempotent=True,
    replay=replayed_appointment,
)
async def reschedule_appointment(call: ToolCall, args: RescheduleAppointmentArgs) -> AppointmentResult:
    metadata = await call.practice.metadata()  # cached: the practice's zone says which day to re-check
    new_start = local_start(args.new_start_time, metadata)
    that_day = _day_read(call, new_start.date())
    patient, appointment = await owned_appointment(call, args, (that_day,) if metadata.capabilities.reschedule else ())
    if not metadata.capabilities.reschedule:
        return await _for_staff(call, InboxKind.APPOINTMENT_RESCHEDULE, args, patient, appointment.appointment_id)
    minutes = args.duration_minutes or appointment.length_minutes or DEFAULT_DURATION

    def write(candidate: Candidate) -> Write:
        return writes.move(
            metadata,
            appointment.appointment_id,
            start=candidate.start,
            length_minutes=minutes,
            provider=candidate.provider,
            operatory=candidate.operatory,
        )

    wanted = SlotRequest(new_start, timedelta(minutes=minutes))
    provider_id = args.provider_id or appointment.provider_id
    if already_there(appointment, wanted, provider_id, metadata):
        when = f"{spoken_day(wanted.start.date())} at {spoken_time(wanted.start)}"
        return AppointmentResult(
            message=f"The appointment is already on {when}; nothing needs to change.",
            outcome="ok",
            code=Code.ALREADY_AT_THAT_TIME,
            appointment_id=appointment.appointment_id,
            start_time=wanted.start.isoformat(),
        )
    moving = Booking(patient, "moved", write, appointment)
    return await write_at_free_slot(call, metadata, wanted, _providers(metadata, provider_id), moving, that_day)


class CancelAppointmentArgs(ExistingAppointmentArgs):
    reason: Note | None = Field(None, description="Why, in a few words (passed to staff only if needed).")


@tool(
    "cancelAppointment",
    title="Cancel an appointment",
    description="""
Cancel a verified patient's appointment (appointmentId from getPatientInfo; patientId + dateOfBirth). The
appointment must belong to that patient. Uses the practice's own cancellation status. Safe to retry on the
same call; the answer is cancelled (confirmed), pending while the office system saves it, or refused.
""",
    hints=CHANGES,
    crud="D",
    phi_fields=("appointments",),
    summary="appointment cancellation",
    idempotent=True,
    replay=replayed_appointment,
)
async def cancel_appointment(call: ToolCall, args: CancelAppointmentArgs) -> AppointmentResult:
    patient, appointment = await owned_appointment(call, args)
    metadata = await call.practice.metadata()
    if not metadata.capabilities.appointment_status:
        return await _for_staff(call, InboxKind.APPOINTMENT_CANCEL, args, patient, appointment.appointment_id)
    try:
        write = writes.cancellation(metadata, appointment.appointment_id)
    except NeedsStaff:  # no status the PMS can write, or a staff member it needs: nothing was sent
        return await _for_staff(call, InboxKind.APPOINTMENT_CANCEL, args, patient, appointment.appointment_id)
    start = appointment.start
    when = f"{spoken_day(start.date())} at {spoken_time(start)}"
    facts = {"verb": "cancelled", "when": when, "appointmentId": appointment.appointment_id}
    asked = Asked(
        tool=call.entry.action,
        request=f"cancel the appointment on {when}",
        who=patient_name(patient),
        callback_number=callback_number(call, patient),
        facts=facts,
        patient_id=patient.patient_id,
    )
    intent = await call.record(write, asked)
    outcome = await call.send(intent)
    return appointment_answer(facts, outcome.progress())


FOR_STAFF = {
    InboxKind.APPOINTMENT_BOOKING: ("booking", Code.BOOKING_RECORDED_FOR_STAFF),
    InboxKind.APPOINTMENT_RESCHEDULE: ("reschedule", Code.RESCHEDULE_RECORDED_FOR_STAFF),
    InboxKind.APPOINTMENT_CANCEL: ("cancel", Code.CANCEL_RECORDED_FOR_STAFF),
}


async def _for_staff(
    call: ToolCall, kind: InboxKind, args: VerifyArgs, patient: Patient, appointment_id: str | None = None
) -> AppointmentResult:
    """Put the request (encrypted) in the staff inbox and say so: nothing was written."""
    request, code = FOR_STAFF[kind]
    details = args.model_dump(mode="json", by_alias=True, exclude={"date_of_birth"})
    note = StaffNote(
        reason=f"This practice system cannot take a {request} through the integration; please make it by hand.",
        caller_name=patient_name(patient),
        callback_number=callback_number(call, patient),
        patient_id=patient.patient_id,
        request=f"{request} (see details)",
        details=details,
    )
    await call.services.inbox.post(call.account_id, kind, note, vapi_call_id=call.vapi_call_id)
    return AppointmentResult(
        message=f"The office will handle this {request} itself; I've passed the request to the staff.",
        outcome="recorded_for_staff",
        code=code,
        appointment_id=appointment_id,
    )
