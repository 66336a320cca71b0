"""Write tools are idempotent per (Vapi call id, tool, normalised arguments), and a retry always hears the truth.

The key is a blind index (HMAC under the account's index key), the stored result is encrypted. The first call
claims the key until its deadline and voice budget are over; a concurrent duplicate waits for the first outcome;
a later retry replays it. What a replay says comes from the write itself (server/intents.py) wherever a write
was recorded: a pending answer becomes confirmed or refused once Sikka says so, a claim left by a process that
died is taken over and the write it recorded is found out (at Sikka if need be) before anything is sent again,
and a write that never reached Sikka is sent again. A result another write of the same call completed after is
stale (book X, cancel, book X again: the second booking is a new request) and the request runs again. An
`unavailable` outcome releases the key so the caller can try again.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from pydantic import BaseModel

from server.calls import call_key
from server.idempotency import IdempotencyRows
from server.intents import Intent, IntentState
from server.logs import get_logger
from server.once import STEP_SECONDS, UNCLAIMED, Unclaimed
from server.once import once as run_once
from server.phi import Binding
from server.services import DATABASE_ERRORS
from tools.codes import Code
from tools.context import ToolCall
from tools.results import ToolResult

log = get_logger(__name__)

R = TypeVar("R", bound=ToolResult)
Replay = Callable[[Intent], ToolResult]
"""What a write tool answers about one of its intents as it now stands (a result of the tool's own type)."""

CLAIM_MARGIN = timedelta(seconds=5)  # beyond the holder's own deadline and voice budget


def normalised(args: BaseModel) -> str:
    return json.dumps(args.model_dump(mode="json", by_alias=True), sort_keys=True, separators=(",", ":"))


async def once(
    call: ToolCall,
    tool: str,
    args: BaseModel,
    result_type: type[R],
    work: Callable[[], Awaitable[R]],
    replay: Replay | None = None,
) -> R:
    """Run `work` at most once per key while its outcome is current; otherwise the truth about what it did."""
    if not call.vapi_call_id:
        return await work()
    index = call.services.blind_index
    key = await index.digest(call.account_id, "idempotency", call.vapi_call_id, tool, normalised(args))
    call.idempotency_key = key
    truth = Truth(call, key, result_type, replay)
    call_index = await call_key(index, call.account_id, call.vapi_call_id)
    rows = IdempotencyRows(call.services.sessions, key, call_index, call.account_id, tool, call.services.clock)
    result = await run_once(
        ToolResults(call, rows, result_type, truth),
        lambda: truth.before(work),
        keep=lambda result: result.outcome != "unavailable",
        busy=lambda: result_type(
            message="That request is already being processed; please check again in a moment.",
            outcome="pending",
            code=Code.DUPLICATE_IN_PROGRESS,
        ),
        may_wait=lambda: call.deadline.remaining() > STEP_SECONDS,
    )
    return await truth.after(result)


@dataclass
class Truth(Generic[R]):
    """The intents a tool call recorded, as the answer to a retry."""

    call: ToolCall
    key: str
    result_type: type[R]
    replay: Replay | None
    resuming: bool = False  # the key was taken over from a holder that died before answering

    def told(self, intent: Intent) -> R:
        assert self.replay is not None
        answer = self.replay(intent)
        assert isinstance(answer, self.result_type), "a tool replays its own result type"
        return answer

    async def latest(self) -> Intent | None:
        """This key's newest intent as it now stands (a receipt-less one looked up at Sikka once it can be)."""
        if self.replay is None:
            return None
        intent = await self.call.services.intents.latest_for_key(self.call.account_id, self.key)
        return None if intent is None else await self.call.services.follower.current(intent)

    async def before(self, work: Callable[[], Awaitable[R]]) -> R:
        """Holding the key: a write an earlier attempt left open is answered for, never sent again (unless it never
        reached Sikka); so is a final one whose holder died before answering. A final one whose answer went stale
        (another write of the call came after it) is a new request."""
        intent = await self.latest()
        if intent is not None and (intent.open or (self.resuming and intent.state != IntentState.NOT_SENT)):
            return self.told(intent)
        return await work()

    async def after(self, result: R) -> R:
        """A pending or busy answer says what the write has become since."""
        if result.outcome != "pending" or self.replay is None:
            return result
        try:
            intent = await self.latest()
        except DATABASE_ERRORS:  # the answer in hand is still the truth as far as this call knows
            return result
        if intent is None or intent.state == IntentState.NOT_SENT:
            return result
        return self.told(intent)

    async def sent_again(self, result: R) -> bool:
        """A stored pending answer whose write never reached Sikka: the request must run again."""
        if result.outcome != "pending":
            return False
        intent = await self.latest()
        return intent is not None and intent.state == IntentState.NOT_SENT


@dataclass(frozen=True)
class ToolResults(Generic[R]):
    """One key's claim (until its holder's deadline and voice budget are over), then its encrypted result."""

    call: ToolCall
    rows: IdempotencyRows
    result_type: type[R]
    truth: Truth[R]

    @property
    def binding(self) -> Binding:
        return Binding("idempotency_keys", "result", self.rows.key, self.call.account_id)

    def _claim_until(self) -> datetime:
        settings = self.call.services.settings
        holding = self.call.deadline.remaining() + settings.writeback_budget_seconds
        return self.call.services.clock() + timedelta(seconds=holding) + CLAIM_MARGIN

    async def claim(self) -> bool:
        """Take the key, or take over a claim whose holder is past its time (it died: its process is gone)."""
        if await self.rows.claim(self._claim_until()):
            return True
        self.truth.resuming = await self.rows.take_over(self._claim_until())
        return self.truth.resuming

    async def settled(self) -> R | Unclaimed | None:
        """The stored result; None while a live holder runs; UNCLAIMED when nobody holds the key: never claimed,
        a holder past its time, or a result that is stale (another write of the call completed after it, or its
        write never reached Sikka): a stale one is dropped."""
        stored = await self.rows.read()
        if stored is None:
            return UNCLAIMED
        if stored.result is None or stored.completed_at is None:
            return UNCLAIMED if stored.expired else None
        if stored.superseded:
            await self.rows.drop(stored.completed_at)
            return UNCLAIMED
        plaintext = await self.call.services.cipher.decrypt(stored.result, self.binding)
        result = self.result_type.model_validate_json(plaintext)
        if await self.truth.sent_again(result):
            await self.rows.drop(stored.completed_at)
            return UNCLAIMED
        return result

    async def settle(self, outcome: R) -> None:
        """Store the outcome. If the database is gone now, the caller still gets this answer; the claim runs out
        and a retry finds out what the write it recorded became."""
        envelope = await self.call.services.cipher.encrypt(outcome.model_dump_json().encode(), self.binding)
        try:
            await self.rows.settle(envelope)
        except DATABASE_ERRORS as exc:
            log.error("tool result not stored", tool=self.rows.tool, error=type(exc).__name__)

    async def let_go(self) -> None:
        await self.rows.release()
