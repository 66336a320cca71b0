"""Email to a practice's staff through Amazon SES (API v2), sent with a configuration set that requires TLS.

Each practice names the address its staff read (`parlae-mcp practices staff-email`). An email carries the
minimum a person needs to act (docs/hipaa.md, "Staff email"): why it is sent, the caller's name and callback
number, what was asked, what the office system answered, the reference and the call id. Never a date of
birth, address, email, insurance or balance; the subject line carries no PHI at all.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import anyio
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.db.models import DeliveryChannel, InboxKind, StaffEmail, utcnow
from server.inbox import Item, queue_open_items
from server.text import plain

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client

MAX_ADDRESS_LENGTH = 320
LINE_LIMIT = 600  # one fact per line, however long a caller talked
SUBJECTS: dict[str, str] = {
    InboxKind.MESSAGE: "A caller left a message",
    InboxKind.WRITE_FAILED: "A change the assistant sent was refused by the office system",
    InboxKind.WRITE_UNCONFIRMED: "A change the assistant sent is still not in the office system",
    InboxKind.WRITE_NOT_SENT: "A change the assistant tried did not reach the office system",
    InboxKind.BOOKING_MADE: "The assistant booked an appointment",
}


def check_address(address: str) -> str:
    """The address to store; ValueError (a sentence without the address) when it is not one."""
    address = address.strip()
    local, at, domain = address.rpartition("@")
    if (
        not at
        or not local
        or "." not in domain
        or len(address) > MAX_ADDRESS_LENGTH
        or any(c.isspace() for c in address)
    ):
        raise ValueError("must be one email address, e.g. frontdesk@example-dental.com")
    return address


def subject(item: Item) -> str:
    """No PHI: mail clients show subjects on lock screens and in previews."""
    said = SUBJECTS.get(item.kind, "A request needs the office staff")
    urgent = " (urgent)" if item.urgency == "urgent" else ""
    return f"Parlae: {said}{urgent}"


def body(item: Item) -> str:
    """The email's text: the minimum necessary to act, one fact per line, free text on one line."""
    note = item.note
    lines = [
        ("Why", note.reason),
        ("Caller", note.caller_name),
        ("Call back", note.callback_number),
        ("Asked for", note.request),
        ("Office system said", note.upstream_said),
        ("Patient id", note.patient_id),
        ("Reference", note.reference),
        ("Call id", item.vapi_call_id),
        ("Received", item.created_at.strftime("%Y-%m-%d %H:%M UTC")),
        ("Item", f"{item.id} (parlae-mcp messages resolve --id {item.id} once handled)"),
    ]
    return "\n".join(f"{label}: {plain(value, LINE_LIMIT)}" for label, value in lines if value) + "\n"


class Mailer(Protocol):
    async def send(self, to: str, subject: str, text: str) -> None: ...


@dataclass
class SesMailer:
    """Sends through SES v2 in a worker thread (boto3 is blocking)."""

    client: SESV2Client
    sender: str
    configuration_set: str

    async def send(self, to: str, subject: str, text: str) -> None:
        send = functools.partial(
            self.client.send_email,
            FromEmailAddress=self.sender,
            Destination={"ToAddresses": [to]},
            Content={"Simple": {"Subject": {"Data": subject}, "Body": {"Text": {"Data": text}}}},
            ConfigurationSetName=self.configuration_set,
        )
        await anyio.to_thread.run_sync(send)


@dataclass(frozen=True)
class StaffAddress:
    address: str
    booking_notices: bool
    queued: int = 0  # open items queued for email when the address was set


class StaffEmails:
    """The `staff_emails` table: each practice's staff address, and whether it wants a notice of every booking."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def set(self, account_id: str, address: str, *, booking_notices: bool) -> StaffAddress:
        """Store the (checked) address and queue the practice's open items for it."""
        address = check_address(address)
        async with self.sessions.begin() as session:
            row = await session.get(StaffEmail, account_id)
            if row is None:
                session.add(StaffEmail(account_id=account_id, address=address, booking_notices=booking_notices))
            else:
                row.address, row.booking_notices, row.updated_at = address, booking_notices, utcnow()
            queued = await queue_open_items(session, account_id, DeliveryChannel.EMAIL)
        return StaffAddress(address, booking_notices, queued)

    async def get(self, account_id: str) -> StaffAddress | None:
        async with self.sessions() as session:
            row = await session.get(StaffEmail, account_id)
        return None if row is None else StaffAddress(row.address, row.booking_notices)

    async def clear(self, account_id: str) -> bool:
        async with self.sessions.begin() as session:
            row = await session.get(StaffEmail, account_id)
            if row is None:
                return False
            await session.delete(row)
        return True
