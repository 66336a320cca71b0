"""The identity check, as a front desk does it: two identifiers before any PHI leaves or anything changes.

Rule: the patient id **and** the date of birth **and** a second identifier on file — the patient's name (the
first or preferred name and the last name, as the caller says them; case, accents, spaces and punctuation
ignored; middle names allowed) or a phone number on file (any of cell, home, work; compared as E.164). Any
mismatch, and an unknown id, get the same answer, so the check reveals nothing about who is a patient.

Every answer that depends on whether a birthdate is a patient's spends that patient's one budget, whatever the
tool: a verification, and a search narrowed by a date of birth (an attempt against every patient it could
match). An attempt is reserved before it is evaluated (server/throttle.py), so simultaneous guesses count, and
counted against:
- the patient (PER_PATIENT, across all calls of the practice): the budget that stops guessing one patient's
  birthdate however many calls or numbers are used. Unknown patient ids are counted the same way, so the limit
  tells nothing about which ids exist;
- the call (PER_CALL, with `X-Call-Id`) and the number it comes from (PER_NUMBER, when the platform gives it):
  one caller's guesses;
- the practice token (PER_TOKEN): a circuit breaker, never a refusal. Past its threshold every check waits
  `IDENTITY_BREAKER_DELAY_SECONDS` first (before evaluating, so a match and a miss take as long): guessing gets
  slower, while real callers are still served.
When a patient's budget is spent, a caller whose calling number is on that patient's record is still checked,
against the limits of their own call and number only: other callers' failures never lock a patient out of
verifying from their own phone. docs/hipaa.md ("The identity rule") states the model and what it leaves open.

A tool's other reads that need only its arguments (the patient's appointments, balance, a booking's day) are
sent beside the patient's record, after the attempt is reserved, so a verified answer waits for one round trip
to Sikka; the tool takes their results only once the check passed, and a refusal never looks at them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import anyio
from pydantic import Field, model_validator

from server.phones import to_e164
from server.sikka import Patient
from server.throttle import Limit, Locked, Reservation
from tools.arguments import Args, DateOfBirth, FullName, PatientId, Phone
from tools.codes import Code
from tools.context import ToolCall
from tools.gather import Beside, alongside
from tools.names import full_name_matches, letters
from tools.results import Refused

PER_PATIENT = Limit("patient", failures=5, window=timedelta(hours=24))
PER_CALL = Limit("call", failures=3, window=timedelta(hours=24))
# A household may verify several people from one phone, with a slip or two each.
PER_NUMBER = Limit("number", failures=6, window=timedelta(hours=24))
# A practice's Vapi assistant uses one token for every caller: past this many failed checks an hour (more than a
# busy day's honest mistakes), every check is slowed; nobody is refused for it.
PER_TOKEN = Limit("token", failures=100, window=timedelta(hours=1), refuses=False)
MISMATCH = Code.IDENTITY_MISMATCH
LOCKED = Code.TOO_MANY_ATTEMPTS


class VerifyArgs(Args):
    patient_id: PatientId
    date_of_birth: DateOfBirth
    name: FullName | None = None
    phone_on_file: Phone | None = Field(
        None, description="Instead of the name: a phone number on the patient's record, as the caller says it."
    )

    @model_validator(mode="after")
    def _second_identifier(self) -> VerifyArgs:
        if not (self.name or self.phone_on_file):
            raise ValueError("give the patient's full name (or phoneOnFile) as well as patientId and dateOfBirth")
        return self


def name_matches(patient: Patient, said: str) -> bool:
    """The first (or preferred) name then the last name, middle names allowed: a record "Mary Ann" / "O'Brien"
    is matched by "Mary Ann O'Brien", "Mary O'Brien" and "Mary Kate O'Brien", not by "Ann O'Brien"."""
    first_words = patient.first_name.split()
    firsts = {letters(patient.first_name), letters(patient.preferred_name)}
    firsts = (firsts | {letters(first_words[0])} if first_words else firsts) - {""}
    last = letters(patient.last_name)
    return bool(last and firsts) and full_name_matches(firsts, last, said)


def on_record(patient: Patient, number: str | None) -> bool:
    """Whether `number` (E.164) is one of the patient's phones."""
    return number is not None and any(to_e164(n) == number for n in patient.phones.values())


def identifies(patient: Patient, args: VerifyArgs) -> bool:
    if patient.birthdate != args.date_of_birth:
        return False
    if args.name and name_matches(patient, args.name):
        return True
    return on_record(patient, args.phone_on_file)


def scopes(call: ToolCall, patient_ids: Sequence[str]) -> list[tuple[Limit, str]]:
    """What one attempt counts against; a call without a call id (or a number) is not held to other calls'."""
    subjects = [(PER_PATIENT, patient_id) for patient_id in dict.fromkeys(patient_ids)]
    if call.vapi_call_id:
        subjects.append((PER_CALL, call.vapi_call_id))
    if call.caller_number:
        subjects.append((PER_NUMBER, call.caller_number))
    subjects.append((PER_TOKEN, call.actor))
    return subjects


async def reserve(call: ToolCall, patient_ids: Sequence[str]) -> Reservation:
    """Count an attempt before evaluating it, and wait first while the token's breaker is tripped; raises Locked
    (naming the scope) at a limit."""
    reservation = await call.services.attempts.reserve(call.account_id, scopes(call, patient_ids))
    if reservation.tripped:
        await anyio.sleep(call.services.settings.identity_breaker_delay_seconds)
    return reservation


async def _record(
    call: ToolCall, patient_id: str, reservation: Reservation, *, insurance: bool, beside: Sequence[Beside[Any]]
) -> Patient | None:
    """The patient's record, read together with the tool's `beside` reads (one round trip)."""
    try:
        return await alongside(call.practice.patient(patient_id, insurance=insurance), *beside)
    except BaseException:
        await call.services.attempts.release(reservation)  # not an attempt: the office system did not answer
        raise


async def verified_patient(
    call: ToolCall, args: VerifyArgs, *, insurance: bool = False, beside: Sequence[Beside[Any]] = ()
) -> Patient:
    """The patient, if the identifiers match; raises the refusal otherwise (the attempt stays counted).
    `insurance` reads the record with its plans on file (the same single request). `beside`: the tool's reads
    that need only its arguments, sent with the patient's (once the attempt is reserved), so the call waits for
    one round trip; the tool takes their results only after this returned."""
    call.entry.targeted(args.patient_id)
    try:
        reservation = await reserve(call, [args.patient_id])
        patient = await _record(call, args.patient_id, reservation, insurance=insurance, beside=beside)
    except Locked as exc:
        if exc.scope != PER_PATIENT.scope or not call.caller_number:
            raise refusal(LOCKED) from None
        patient, reservation = await _from_own_number(call, args.patient_id, insurance=insurance, beside=beside)
    if patient is None or not identifies(patient, args):
        raise refusal(MISMATCH)
    await call.services.attempts.release(reservation)
    return patient


async def _from_own_number(
    call: ToolCall, patient_id: str, *, insurance: bool, beside: Sequence[Beside[Any]]
) -> tuple[Patient, Reservation]:
    """The patient's budget is spent: the attempt may go on only from a number on the record, counted against
    the call and the number alone. An unknown id and a number not on file are refused alike (LOCKED)."""
    try:
        reservation = await reserve(call, [])
    except Locked:
        raise refusal(LOCKED) from None
    patient = await _record(call, patient_id, reservation, insurance=insurance, beside=beside)
    if patient is None or not on_record(patient, call.caller_number):
        await call.services.attempts.release(reservation)  # nothing was evaluated
        raise refusal(LOCKED)
    return patient, reservation


def refusal(code: Code) -> Refused:
    """The identity check's refusal (MISMATCH or LOCKED), the same for every tool."""
    if code == LOCKED:
        message = "I can't verify this patient right now; please ask them to call the office directly."
    else:
        message = "I couldn't verify that patient. Please confirm the name and date of birth."
    return Refused(code, message)


async def verify(
    call: ToolCall, args: VerifyArgs, *, insurance: bool = False, beside: Sequence[Beside[Any]] = ()
) -> Patient:
    """The verified patient (recorded as touched in the audit entry); raises the refusal (`Refused`) otherwise.
    `beside`: reads sent with the patient's (see `verified_patient`); take their results only from a verified
    patient."""
    patient = await verified_patient(call, args, insurance=insurance, beside=beside)
    call.entry.touched(patient.patient_id)
    return patient


async def narrowed_by_birthdate(call: ToolCall, candidates: list[Patient], birthdate: date) -> list[Patient]:
    """A search's matches (at least one) with this birthdate. Using a date of birth is an identity attempt against
    every candidate (else a search would confirm guessed birthdates): raises the MISMATCH refusal when none has
    it, LOCKED at a limit. No candidates, no attempt: no birthdate was compared."""
    if not candidates:
        return []
    try:
        reservation = await reserve(call, [p.patient_id for p in candidates])
    except Locked:
        raise refusal(LOCKED) from None
    matching = [p for p in candidates if p.birthdate == birthdate]
    if not matching:
        call.entry.targeted(*(p.patient_id for p in candidates))
        raise refusal(MISMATCH)
    await call.services.attempts.release(reservation)
    return matching
