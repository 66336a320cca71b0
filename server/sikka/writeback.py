"""Asynchronous writes ("writebacks"): submit, parse the `Id:N` receipt, poll inside a voice budget,
and keep following the ones still pending in the background until they are final."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import anyio
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.db.engine import DATABASE_ERRORS
from server.db.models import Writeback, WritebackStatus, utcnow
from server.db.queue import claim_due
from server.logs import get_logger
from server.metrics import Metrics
from server.phi.cipher import Binding, PhiCipher
from server.sikka.client import Deadline, SikkaClient, SikkaResponse
from server.sikka.errors import SikkaError, SikkaUnavailable
from server.sikka.keys import RequestKeys
from server.sikka.records import as_bool, text

log = get_logger(__name__)

_RECEIPT_ID = re.compile(r"^\s*Id\s*:\s*(\d+)\s*$", re.IGNORECASE)
_STATUS_URL_ID = re.compile(r"[?&]id=(\d+)")
POLL_DELAYS = (0.25, 0.5, 0.75, 1.0)
STATUS_DEADLINE_SECONDS = 3.0

RETRY_LATER: tuple[type[Exception], ...] = (SikkaError, *DATABASE_ERRORS)  # the follower tries again next round


@dataclass(frozen=True, slots=True)
class WritebackOutcome:
    """`confirmed` with the PMS id (`created_id`), `failed` with Sikka's reason, or honestly `pending`."""

    status: Literal["confirmed", "pending", "failed"]
    writeback_id: str
    created_id: str | None = None
    message: str = ""


def parse_receipt(response: SikkaResponse) -> str:
    """The writeback id from `{"long_message": "Id:275495", ...}` (or, failing that, the status URL)."""
    envelope = response.envelope or {}
    match = _RECEIPT_ID.match(str(envelope.get("long_message") or ""))
    if match is None:
        match = _STATUS_URL_ID.search(str(envelope.get("more_information") or ""))
    if match is None:
        raise SikkaUnavailable("Sikka accepted the write but returned no writeback id")
    return match.group(1)


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


class Writebacks:
    """Submits writebacks for a practice and waits for them within a budget."""

    def __init__(
        self,
        client: SikkaClient,
        request_keys: RequestKeys,
        ledger: WritebackLedger,
        *,
        budget_seconds: float,
        sleep: Callable[[float], Any] = anyio.sleep,
    ) -> None:
        self.client = client
        self.request_keys = request_keys
        self.ledger = ledger
        self.budget_seconds = budget_seconds
        self.sleep = sleep

    async def submit(
        self, account_id: str, method: str, endpoint: str, body: dict[str, Any], deadline: Deadline
    ) -> str:
        response = await self.request_keys.send(account_id, deadline, method, endpoint, json_body=body)
        return parse_receipt(response)

    async def status(
        self, account_id: str, writeback_id: str, kind: str, deadline: Deadline | None = None, *, rekey: bool = True
    ) -> WritebackOutcome:
        """One `writeback_status` poll, inside `deadline` (the caller's budget; the follower's own otherwise).
        `rekey=False` for the background follower: a rejected key is renewed by the next tool call, not in a loop."""
        deadline = deadline or Deadline.after(STATUS_DEADLINE_SECONDS)
        response = await self.request_keys.send(
            account_id, deadline, "GET", "writeback_status", params={"id": writeback_id}, rekey=rekey
        )
        return read_status(response, writeback_id, kind)

    async def write(
        self,
        account_id: str,
        kind: str,
        method: str,
        endpoint: str,
        body: dict[str, Any],
        *,
        deadline: Deadline,
        target_id: str | None = None,
    ) -> WritebackOutcome:
        """Submit, then poll until final or the budget is spent; a pending one is recorded and followed."""
        writeback_id = await self.submit(account_id, method, endpoint, body, deadline)
        budget = Deadline.after(min(self.budget_seconds, deadline.remaining()))
        outcome = WritebackOutcome("pending", writeback_id)
        for attempt in itertools.count():
            delay = POLL_DELAYS[min(attempt, len(POLL_DELAYS) - 1)]
            if delay >= budget.remaining():
                break
            await self.sleep(delay)
            try:  # one re-key at most: after a failed poll the write is pending and the follower takes over
                outcome = await self.status(account_id, writeback_id, kind, budget)
            except SikkaError as exc:
                log.info("writeback status unavailable", writeback_id=writeback_id, code=exc.code)
                break
            if outcome.status != "pending":
                return outcome
        await self.ledger.record_pending(account_id, writeback_id, kind, target_id)
        return outcome


class WritebackLedger:
    """The `writebacks` table: pending writebacks and their final outcomes (Sikka's message encrypted)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], cipher: PhiCipher) -> None:
        self.sessions = sessions
        self.cipher = cipher

    async def record_pending(self, account_id: str, writeback_id: str, kind: str, target_id: str | None) -> None:
        async with self.sessions.begin() as session:
            session.add(Writeback(account_id=account_id, writeback_id=writeback_id, kind=kind, target_id=target_id))

    async def claim_due(self, now: datetime, poll_interval: timedelta, limit: int = 50) -> list[Writeback]:
        """Take due rows and push their next poll out (SKIP LOCKED on PostgreSQL: replicas share work)."""
        waiting = Writeback.status == WritebackStatus.PENDING
        return await claim_due(
            self.sessions,
            Writeback,
            waiting=waiting,
            due_at=Writeback.next_poll_at,
            now=now,
            lease=poll_interval,
            limit=limit,
        )

    async def oldest_pending_since(self) -> datetime | None:
        """When the oldest writeback still pending was submitted (None when none is pending)."""
        async with self.sessions() as session:
            oldest: datetime | None = await session.scalar(
                select(func.min(Writeback.submitted_at)).where(Writeback.status == WritebackStatus.PENDING)
            )
        return oldest

    async def finish(self, row: Writeback, status: WritebackStatus, outcome: WritebackOutcome | None) -> None:
        result = None
        if outcome is not None and outcome.message:
            binding = Binding("writebacks", "result", row.id, row.account_id)
            result = await self.cipher.encrypt(outcome.message.encode(), binding)
        async with self.sessions.begin() as session:
            await session.execute(
                update(Writeback)
                .where(Writeback.id == row.id, Writeback.status == WritebackStatus.PENDING)
                .values(
                    status=status,
                    created_id=outcome.created_id if outcome else None,
                    result=result,
                    completed_at=utcnow(),
                )
            )

    async def result_text(self, row: Writeback) -> str:
        if not row.result:
            return ""
        return (await self.cipher.decrypt(row.result, Binding("writebacks", "result", row.id, row.account_id))).decode()


class WritebackFollower:
    """Background task: polls pending writebacks until final; withdraws the ones older than `max_age`. After each
    round it sets `parlae_writebacks_pending_oldest_seconds` (the alarm for writebacks stuck pending reads it)."""

    def __init__(
        self,
        writebacks: Writebacks,
        ledger: WritebackLedger,
        *,
        poll_interval: timedelta = timedelta(seconds=10),
        max_age: timedelta = timedelta(minutes=30),
        clock: Callable[[], datetime] = utcnow,
        metrics: Metrics | None = None,
    ) -> None:
        self.writebacks = writebacks
        self.ledger = ledger
        self.poll_interval = poll_interval
        self.max_age = max_age
        self.clock = clock
        self.metrics = metrics

    async def run_once(self) -> int:
        """Poll every due writeback once; returns how many became final."""
        now = self.clock()
        finished = 0
        for row in await self.ledger.claim_due(now, self.poll_interval):
            try:
                finished += await self._follow(row, now)
            except RETRY_LATER as exc:
                log.info("writeback follow-up deferred", writeback_id=row.writeback_id, error=type(exc).__name__)
        if self.metrics is not None:
            oldest = await self.ledger.oldest_pending_since()
            age = (now - oldest).total_seconds() if oldest is not None else 0.0
            self.metrics.writebacks_pending_oldest.set(max(age, 0.0))
        return finished

    async def _follow(self, row: Writeback, now: datetime) -> int:
        outcome = await self.writebacks.status(row.account_id, row.writeback_id, row.kind, rekey=False)
        if outcome.status == "confirmed":
            await self.ledger.finish(row, WritebackStatus.CONFIRMED, outcome)
        elif outcome.status == "failed":
            await self.ledger.finish(row, WritebackStatus.FAILED, outcome)
        elif now - row.submitted_at > self.max_age:
            await self._withdraw(row)
            await self.ledger.finish(row, WritebackStatus.CANCELLED, None)
        else:
            return 0
        log.info("writeback final", writeback_id=row.writeback_id, status=outcome.status, account_id=row.account_id)
        return 1

    async def _withdraw(self, row: Writeback) -> None:
        client = self.writebacks.client
        await client.send(
            "DELETE",
            "writebacks",
            headers=client.app_headers(),
            deadline=Deadline.after(STATUS_DEADLINE_SECONDS),
            params={"id": row.writeback_id},
        )

    async def run_forever(self, every: float = 5.0) -> None:
        while True:
            try:
                await self.run_once()
            except DATABASE_ERRORS as exc:
                log.warning("writeback follower: database unavailable", error=type(exc).__name__)
            await anyio.sleep(every)
