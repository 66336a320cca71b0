"""What every write tool says about a write, whenever it is asked: in the call, or on a retry after Sikka (or a
crash) changed what is true. Answers are built from the write's `Progress` and the facts its tool recorded with
the intent, so the first answer and every replay come from one place.

A pending answer promises only what the service keeps: the write is followed until final, and if it fails or
stays unapplied past its maximum age the office staff get it (server/promises.py), so "the office will call
you back" is true.
"""

from __future__ import annotations

from server.intents import IntentState, Progress
from server.phones import to_e164
from server.sikka import Patient
from tools.context import ToolCall

NOT_SENT = "The office system never received that request; please try again."


def waiting(progress: Progress) -> str:
    """The clause that says why a write is not confirmed yet, and what happens next."""
    if progress.office_offline:
        return (
            "the office system is offline right now; your request is saved and the office will confirm it when "
            "they open"
        )
    if progress.state == IntentState.INTENDED:  # sent, no answer from Sikka: found out later
        return "the office system hasn't answered yet; the office will confirm it or call you back"
    return "the office system hasn't confirmed it yet; if it doesn't go through, the office will call you back"


def is_pending(progress: Progress) -> bool:
    return progress.state in (IntentState.INTENDED, IntentState.SUBMITTED)


def patient_name(patient: Patient) -> str:
    return " ".join(part for part in (patient.first_name, patient.last_name) if part)


def callback_number(call: ToolCall, patient: Patient | None = None) -> str | None:
    """Where staff can reach the caller: the number the call comes from, else a phone on the patient's record."""
    if call.caller_number:
        return call.caller_number
    phones = patient.phones.values() if patient else ()
    return next((e164 for number in phones if (e164 := to_e164(number))), None)
