"""takeMessage: a message for the practice's staff, stored encrypted in the staff inbox before the answer
(server/inbox.py) and delivered to wherever the practice reads it (server/delivery.py: email, notify URL)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from server.inbox import InboxKind, StaffNote
from server.phones import last_digits
from tools.arguments import Args, CallerName, Phone, Reason
from tools.base import tool
from tools.codes import Code
from tools.context import ToolCall
from tools.identity import VerifyArgs, verify
from tools.results import MessageResult
from tools.spec import CREATES

Urgency = Literal["routine", "soon", "urgent"]


class TakeMessageArgs(Args):
    caller_name: CallerName
    callback_number: Phone | None = Field(
        None,
        description="Where staff should call back, in any common format. Without it: the number the call comes "
        "from, when the platform gives it (confirm it with the caller).",
    )
    reason: Reason = Field(description="What the call is about, in a few words.")
    urgency: Urgency = Field(
        "routine", description="routine (default), soon (today if possible) or urgent (as soon as possible)."
    )
    patient: VerifyArgs | None = Field(
        None,
        description="Only when the message is about a patient: the identity check's arguments (patientId, "
        "dateOfBirth and full name or phoneOnFile), as for getPatientInfo; the message is then linked to them.",
    )


def taken(urgency: str, number: str) -> str:
    marked = " and marked it urgent" if urgency == "urgent" else ""
    ending = last_digits(number)
    at = f" at the number ending in {ending}" if ending else ""
    return f"I've passed your message to the office staff{marked}; they will call you back{at}."


@tool(
    "takeMessage",
    title="Take a message for the office staff",
    description="""
Leave a message for the office staff to call the caller back: callerName, callbackNumber (without it, the
number the call comes from, when known), reason (a few words) and urgency (routine, soon or urgent). Use it
when the caller wants a person and a transfer is not possible or not wanted. Needs no verification; to link
the message to a patient, pass the identity check's arguments in `patient` (if that check fails, nothing is
stored: take the message without `patient`). Safe to retry on the same call: the same message is stored once.
""",
    hints=CREATES,
    crud="C",
    phi_fields=("callerName", "callbackNumber", "reason"),
    summary="message for staff",
    idempotent=True,
)
async def take_message(call: ToolCall, args: TakeMessageArgs) -> MessageResult:
    number = args.callback_number or call.caller_number
    if number is None:
        return MessageResult(
            message="Please ask for the best number to call back.", outcome="invalid", code=Code.CALLBACK_NUMBER_NEEDED
        )
    patient_id = None
    if args.patient is not None:
        patient_id = (await verify(call, args.patient)).patient_id
    else:
        call.entry.touched()  # the caller's own details are PHI this call stores
    note = StaffNote(reason=args.reason, caller_name=args.caller_name, callback_number=number, patient_id=patient_id)
    inbox = call.services.inbox
    message_id = await inbox.post(
        call.account_id, InboxKind.MESSAGE, note, urgency=args.urgency, vapi_call_id=call.vapi_call_id
    )
    return MessageResult(
        message=taken(args.urgency, number),
        outcome="confirmed",
        code=Code.MESSAGE_TAKEN,
        message_id=message_id,
        urgency=args.urgency,
    )
