"""Promises kept after the call: a background task owns every open write until Sikka says it is final or a
person at the practice has it.

- Submitted writes are polled (`writeback_status`) on a cadence that slows with age (the office's computer may
  be off all weekend) until confirmed or failed; a failure becomes a staff inbox item.
- Past `WRITEBACK_MAX_PENDING_SECONDS` a write is handed to staff (an inbox item) and still followed; nothing
  is ever withdrawn at Sikka.
- Intents without a receipt whose request can no longer be in flight (the process died or lost its database)
  are looked up in Sikka's `/writebacks` listing: found, they are followed; absent, they were never sent and
  staff are told. Nothing is re-sent blindly.
- Receipts the database could not take during a call are stored as soon as it can.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import anyio
from sqlalchemy.exc import IntegrityError

from server.caller import Caller
from server.db.engine import DATABASE_ERRORS
from server.db.models import IntentState, utcnow
from server.intents import Intent, WriteIntents
from server.logs import get_logger
from server.metrics import Metrics
from server.sikka.errors import SikkaError
from server.sikka.keys import RequestKeys
from server.sikka.writeback import Writebacks

log = get_logger(__name__)

FOLLOWER = Caller.system("writeback-follower")
LEASE = timedelta(minutes=1)  # a claimed intent is left alone this long (longer than one look can take)
IN_FLIGHT_MARGIN = timedelta(seconds=10)  # beyond the Sikka deadline: a request older than both has its answer
RETRY_LATER: tuple[type[Exception], ...] = (SikkaError, *DATABASE_ERRORS)


def next_look(age: timedelta) -> timedelta:
    """How soon to look again at a write this old: every 10 s at first, every minute within the hour, then
    every five minutes (a practice allows about 200 requests a minute)."""
    if age < timedelta(minutes=2):
        return timedelta(seconds=10)
    if age < timedelta(hours=1):
        return timedelta(minutes=1)
    return timedelta(minutes=5)


class WriteFollower:
    """Follows open writes; `run_forever` is started in the app's lifespan."""

    def __init__(
        self,
        writebacks: Writebacks,
        ledger: WriteIntents,
        keys: RequestKeys,
        *,
        max_pending: timedelta,
        in_flight: timedelta,
        clock: Callable[[], datetime] = utcnow,
        metrics: Metrics | None = None,
    ) -> None:
        self.writebacks = writebacks
        self.ledger = ledger
        self.keys = keys
        self.max_pending = max_pending
        self.in_flight = in_flight
        self.clock = clock
        self.metrics = metrics

    async def run_once(self) -> int:
        """One round: store kept receipts, look up lost intents, follow due ones; how many became final."""
        now = self.clock()
        await self._store_receipts()
        finished = 0
        for intent in await self.ledger.claim_lost(now, self.in_flight, LEASE):
            finished += await self._retry_later(intent, self._look_up(intent))
        for intent in await self.ledger.claim_submitted(now, LEASE):
            finished += await self._retry_later(intent, self._follow(intent, now))
        await self._report(now)
        return finished

    async def _retry_later(self, intent: Intent, step: Awaitable[bool]) -> int:
        try:
            return int(await step)
        except RETRY_LATER as exc:  # the claim's lease runs out and the next round tries again
            log.info("write follow-up deferred", intent_id=intent.id, error=type(exc).__name__)
            return 0

    async def _follow(self, intent: Intent, now: datetime) -> bool:
        assert intent.writeback_id is not None, "submitted intents have a receipt"
        outcome = await self.writebacks.status(intent.account_id, intent.writeback_id, intent.kind)
        if outcome.status in ("confirmed", "failed"):
            state = IntentState.CONFIRMED if outcome.status == "confirmed" else IntentState.FAILED
            done = await self.ledger.finish(
                intent, state, created_id=outcome.created_id, reason=outcome.message, actor=FOLLOWER
            )
            log.info("write final", intent_id=intent.id, state=state.value, account_id=intent.account_id)
            return done
        age = now - (intent.submitted_at or intent.recorded_at)
        if age >= self.max_pending and intent.handed_to_staff_at is None:
            await self.ledger.hand_to_staff(intent, actor=FOLLOWER, next_check=now + next_look(age))
            log.warning("write handed to staff unconfirmed", intent_id=intent.id, account_id=intent.account_id)
        else:
            await self.ledger.reschedule(intent.id, now + next_look(age))
        return False

    async def _look_up(self, intent: Intent) -> bool:
        found = await self.look_up(intent, tell_staff=True)
        return found.state == IntentState.NOT_SENT

    async def look_up(self, intent: Intent, *, tell_staff: bool) -> Intent:
        """Find a receipt-less intent at Sikka: followed from now on if there, not sent otherwise (staff told when
        `tell_staff`: nobody heard an answer). Returns the intent as it now stands."""
        office_id = (await self.keys.credentials(intent.account_id)).office_id
        for writeback_id in await self.writebacks.find(intent, office_id):
            try:
                await self.ledger.submitted(intent.id, writeback_id, office_offline=False, first_check=self.clock())
            except IntegrityError:  # another intent's receipt (the same request twice): try the next row
                continue
            log.info("lost write found at Sikka", intent_id=intent.id, account_id=intent.account_id)
            return await self._reloaded(intent)
        await self.ledger.not_sent(intent, "", actor=FOLLOWER, tell_staff=tell_staff)
        log.warning("write never reached Sikka", intent_id=intent.id, account_id=intent.account_id)
        return await self._reloaded(intent)

    async def current(self, intent: Intent) -> Intent:
        """The truth about an intent for a caller's retry: a receipt-less one is looked up at Sikka once its
        request cannot be in flight any more; until then it is reported as it stands."""
        if intent.state != IntentState.INTENDED or self.clock() - intent.recorded_at < self.in_flight:
            return intent
        try:
            return await self.look_up(intent, tell_staff=False)
        except RETRY_LATER as exc:
            log.info("write look-up deferred", intent_id=intent.id, error=type(exc).__name__)
            return intent

    async def _reloaded(self, intent: Intent) -> Intent:
        return await self.ledger.get(intent.id) or intent

    async def _store_receipts(self) -> None:
        for intent_id, receipt in list(self.writebacks.unsaved.items()):
            try:
                await self.ledger.submitted(
                    intent_id, receipt.writeback_id, office_offline=receipt.office_offline, first_check=self.clock()
                )
            except DATABASE_ERRORS:
                return  # still unavailable: the next round tries again
            del self.writebacks.unsaved[intent_id]
            log.info("kept writeback receipt stored", intent_id=intent_id)

    async def _report(self, now: datetime) -> None:
        if self.metrics is None:
            return
        count, oldest = await self.ledger.open_counts()
        self.metrics.writes_open.set(count)
        age = (now - oldest).total_seconds() if oldest is not None else 0.0
        self.metrics.writebacks_pending_oldest.set(max(age, 0.0))

    async def run_forever(self, every: float = 2.0) -> None:
        while True:
            try:
                await self.run_once()
            except DATABASE_ERRORS as exc:
                log.warning("write follower: database unavailable", error=type(exc).__name__)
            await anyio.sleep(every)
