"""Asynchronous writes ("writebacks", reference §12, §20) for recorded intents (server/intents.py): submit,
store the `Id:N` receipt at once, poll inside a voice budget; find a write at Sikka when its receipt was lost.

Every submission asks `check_spu=true` first. When the practice's SPU (the on-premises utility that applies
writebacks) is offline, Sikka answers 412 API2017 without queueing anything; the write is then sent again
without the check, so it waits in Sikka's own queue until the office's computer is back (our follower keeps
following it), and the caller hears at once that the office system is offline and the request is saved.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

import anyio

from server.caller import Caller
from server.db.engine import DATABASE_ERRORS
from server.db.models import IntentState, utcnow
from server.intents import Intent, Progress, WriteIntents
from server.logs import get_logger
from server.sikka.client import Deadline, Item, SikkaClient, SikkaResponse
from server.sikka.errors import SikkaError, SikkaNoAnswer, SikkaUnavailable, SpuOffline
from server.sikka.keys import RequestKeys
from server.sikka.records import as_bool, text

log = get_logger(__name__)

_RECEIPT_ID = re.compile(r"^\s*Id\s*:\s*(\d+)\s*$", re.IGNORECASE)
_STATUS_URL_ID = re.compile(r"[?&]id=(\d+)")
POLL_DELAYS = (0.25, 0.5, 0.75, 1.0)
STATUS_DEADLINE_SECONDS = 3.0
LISTING_DEADLINE_SECONDS = 5.0
FOLLOWER_TAKES_OVER = timedelta(seconds=5)  # after the voice budget, the follower's first look


@dataclass(frozen=True, slots=True)
class WritebackOutcome:
    """`confirmed` with the PMS id (`created_id`), `failed` with Sikka's reason, honestly `pending`, or `unknown`:
    the request left but no answer came, so whether Sikka took it is found out later (never re-sent blindly)."""

    status: Literal["confirmed", "pending", "failed", "unknown"]
    writeback_id: str | None
    created_id: str | None = None
    message: str = ""
    office_offline: bool = False

    def progress(self) -> Progress:
        state = {
            "confirmed": IntentState.CONFIRMED,
            "failed": IntentState.FAILED,
            "pending": IntentState.SUBMITTED,
            "unknown": IntentState.INTENDED,
        }[self.status]
        return Progress(state, self.writeback_id, self.created_id, self.office_offline, self.message)


@dataclass(frozen=True, slots=True)
class Receipt:
    writeback_id: str
    office_offline: bool


class ReceiptMissing(SikkaUnavailable):
    """Sikka answered 2xx to a write without a writeback id: it may have queued it."""


def parse_receipt(response: SikkaResponse) -> str:
    """The writeback id from `{"long_message": "Id:275495", ...}` (or, failing that, the status URL)."""
    envelope = response.envelope or {}
    match = _RECEIPT_ID.match(str(envelope.get("long_message") or ""))
    if match is None:
        match = _STATUS_URL_ID.search(str(envelope.get("more_information") or ""))
    if match is None:
        raise ReceiptMissing("Sikka accepted the write but returned no writeback id", status=response.status)
    return match.group(1)


def may_have_reached(exc: SikkaError) -> bool:
    """Whether a failed write may still have been queued: no answer, a 5xx (a gateway can hide a request that was
    processed), or a 2xx we could not read. Anything else is Sikka refusing it."""
    if isinstance(exc, SikkaNoAnswer | ReceiptMissing):
        return True
    status = exc.status
    return isinstance(exc, SikkaUnavailable) and status is not None and (status >= 500 or status < 400)


# Where a writeback_status item may carry the id of the record a write created (reference §20, §23.7: only
# `created_id` is documented for it). A booking's item also names the patient: never report that as the
# appointment's id.
CREATED_ID_FIELDS: dict[str, tuple[str, ...]] = {
    "book_appointment": ("created_id", "appointment_sr_no"),
    "create_patient": ("created_id", "patient_id"),
}


def read_status(response: SikkaResponse, writeback_id: str, kind: str) -> WritebackOutcome:
    """Interpret a `writeback_status` item; `is_completed`/`has_error` are "True"/"False"/"" in any case."""
    item = next((i for i in response.items if text(i, "id") in ("", writeback_id)), None)
    if item is None or not as_bool(item.get("is_completed")):
        return WritebackOutcome("pending", writeback_id)
    message = text(item, "result")
    if as_bool(item.get("has_error")) or text(item, "status").lower() in ("failed", "error"):
        return WritebackOutcome("failed", writeback_id, message=message or "the practice system refused the change")
    fields = CREATED_ID_FIELDS.get(kind, ("created_id",))
    created = next((value for value in (text(item, name) for name in fields) if value), None)
    return WritebackOutcome("confirmed", writeback_id, created_id=created, message=message)


def form_fields(encoded: str) -> dict[str, str]:
    """`api_request_body` of a `/writebacks` row: `name=value&...`, values not escaped (§20's example has
    "value=Ready to go back"); a value is everything up to the next `&name=`."""
    fields: dict[str, str] = {}
    for part in encoded.split("&"):
        name, sep, value = part.partition("=")
        if sep:
            fields[name.strip()] = value
        elif fields:  # an "&" inside the previous value
            last = next(reversed(fields))
            fields[last] += "&" + part
    return fields


def same_write(row: Item, intent: Intent, office_id: str) -> bool:
    """Whether a `/writebacks` row is this intent's request: same office, method and body (as sent)."""
    if text(row, "office_id") != office_id or text(row, "method").upper() != intent.method:
        return False
    sent = form_fields(text(row, "api_request_body"))
    return all(sent.get(name) == str(value) for name, value in intent.body.items())


def listing_days(day: date) -> tuple[str, str]:
    """A window around a day in any zone (Sikka's `command_time` zone is undocumented), within the 7-day limit."""
    return (day - timedelta(days=1)).isoformat(), (day + timedelta(days=1)).isoformat()


class Writebacks:
    """Sends recorded intents to Sikka and waits for them within a budget."""

    def __init__(
        self,
        client: SikkaClient,
        request_keys: RequestKeys,
        ledger: WriteIntents,
        *,
        budget_seconds: float,
        sleep: Callable[[float], Any] = anyio.sleep,
    ) -> None:
        self.client = client
        self.request_keys = request_keys
        self.ledger = ledger
        self.budget_seconds = budget_seconds
        self.sleep = sleep
        self.unsaved: dict[str, Receipt] = {}  # receipts the database could not take yet (the follower retries)

    async def submit(self, intent: Intent, deadline: Deadline) -> Receipt:
        """POST/PUT/PATCH the intent's body with `check_spu`; with the SPU offline, queue it without the check."""
        body = {**intent.body, "check_spu": "true"}
        try:
            response = await self._send(intent, deadline, body)
            return Receipt(parse_receipt(response), office_offline=False)
        except SpuOffline:
            log.info("practice system offline: the write waits in Sikka's queue", account_id=intent.account_id)
        response = await self._send(intent, deadline, intent.body)
        return Receipt(parse_receipt(response), office_offline=True)

    async def _send(self, intent: Intent, deadline: Deadline, body: Item) -> SikkaResponse:
        credentials = self.request_keys.practice(intent.account_id, deadline)
        return await self.client.send(
            intent.method, intent.endpoint, credentials=credentials, deadline=deadline, json_body=body
        )

    async def status(
        self, account_id: str, writeback_id: str, kind: str, deadline: Deadline | None = None
    ) -> WritebackOutcome:
        """One `writeback_status` poll, inside `deadline` (the caller's budget; the follower's own otherwise)."""
        deadline = deadline or Deadline.after(STATUS_DEADLINE_SECONDS)
        credentials = self.request_keys.practice(account_id, deadline)
        response = await self.client.send(
            "GET", "writeback_status", credentials=credentials, deadline=deadline, params={"id": writeback_id}
        )
        return read_status(response, writeback_id, kind)

    async def send(self, intent: Intent, caller: Caller, deadline: Deadline) -> WritebackOutcome:
        """Send a recorded intent for `caller` and wait for its outcome inside the budget. Sikka refusing it marks
        it not sent and raises; no answer leaves it to be found out (`unknown`)."""
        try:
            receipt = await self.submit(intent, deadline)
        except SikkaError as exc:
            if may_have_reached(exc):
                log.warning("write outcome unknown", account_id=intent.account_id, intent_id=intent.id)
                return WritebackOutcome("unknown", None)
            await self.ledger.not_sent(intent, exc.message, actor=caller, tell_staff=False)
            raise
        await self.keep_receipt(intent, receipt)
        if receipt.office_offline:
            return WritebackOutcome("pending", receipt.writeback_id, office_offline=True)
        outcome = await self._poll(intent, receipt.writeback_id, deadline)
        if outcome.status in ("confirmed", "failed"):
            await self._finish(dataclasses.replace(intent, writeback_id=receipt.writeback_id), outcome, caller)
        return outcome

    async def keep_receipt(self, intent: Intent, receipt: Receipt) -> None:
        """Store the receipt now; if the database cannot take it, keep it for the follower to store."""
        first_check = utcnow() + timedelta(seconds=self.budget_seconds) + FOLLOWER_TAKES_OVER
        try:
            await self.ledger.submitted(
                intent.id, receipt.writeback_id, office_offline=receipt.office_offline, first_check=first_check
            )
        except DATABASE_ERRORS as exc:
            log.error("writeback receipt not stored yet", intent_id=intent.id, error=type(exc).__name__)
            self.unsaved[intent.id] = receipt

    async def _poll(self, intent: Intent, writeback_id: str, deadline: Deadline) -> WritebackOutcome:
        budget = Deadline.after(min(self.budget_seconds, deadline.remaining()))
        outcome = WritebackOutcome("pending", writeback_id)
        for attempt in itertools.count():
            delay = POLL_DELAYS[min(attempt, len(POLL_DELAYS) - 1)]
            if delay >= budget.remaining():
                break
            await self.sleep(delay)
            try:  # after a failed poll the write is pending and the follower takes over
                outcome = await self.status(intent.account_id, writeback_id, intent.kind, budget)
            except SikkaError as exc:
                log.info("writeback status unavailable", writeback_id=writeback_id, code=exc.code)
                break
            if outcome.status != "pending":
                break
        return outcome

    async def _finish(self, intent: Intent, outcome: WritebackOutcome, caller: Caller) -> None:
        """Record a final outcome seen inside the call; if the database cannot take it, the follower will."""
        state = IntentState.CONFIRMED if outcome.status == "confirmed" else IntentState.FAILED
        try:
            await self.ledger.finish(intent, state, created_id=outcome.created_id, reason=outcome.message, actor=caller)
        except DATABASE_ERRORS as exc:
            log.error("write outcome not stored yet", intent_id=intent.id, error=type(exc).__name__)

    async def find(self, intent: Intent, office_id: str) -> list[str]:
        """The ids of `/writebacks` rows (APP) that are this intent's request, oldest first."""
        first, last = listing_days(intent.recorded_at.date())
        listing = await self.client.listing(
            "writebacks",
            credentials=self.client.app_keys,
            deadline=Deadline.after(LISTING_DEADLINE_SECONDS),
            params={"startdate": first, "enddate": last},
        )
        rows = [row for row in listing.items if same_write(row, intent, office_id)]
        return [text(row, "id") for row in sorted(rows, key=lambda row: text(row, "command_time")) if text(row, "id")]
