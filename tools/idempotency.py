"""Write tools are idempotent per (Vapi call id, tool, normalised arguments), and replays are never stale.

The key is a blind index (HMAC under the account's index key), the stored result is encrypted. The first call
claims the key; a concurrent duplicate waits for the first outcome; a later retry replays it — unless another
write of the same call completed after it (book X, cancel, book X again: the second booking is a new request,
not a retry), in which case the old outcome is dropped and the request runs again. An `unavailable` outcome
releases the key so the caller can try again.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from server.calls import call_key
from server.db.models import IdempotencyKey, utcnow
from server.once import STEP_SECONDS, UNCLAIMED, Unclaimed
from server.once import once as run_once
from server.phi import Binding
from tools.context import ToolCall
from tools.results import ToolResult

R = TypeVar("R", bound=ToolResult)


def normalised(args: BaseModel) -> str:
    return json.dumps(args.model_dump(mode="json", by_alias=True), sort_keys=True, separators=(",", ":"))


async def once(call: ToolCall, tool: str, args: BaseModel, result_type: type[R], work: Callable[[], Awaitable[R]]) -> R:
    """Run `work` at most once per key while its outcome is current; replay the stored outcome otherwise."""
    if not call.vapi_call_id:
        return await work()
    index = call.services.blind_index
    key = await index.digest(call.account_id, "idempotency", call.vapi_call_id, tool, normalised(args))
    return await run_once(
        ToolResults(call, key, await call_key(index, call.account_id, call.vapi_call_id), tool, result_type),
        work,
        keep=lambda result: result.outcome != "unavailable",
        busy=lambda: result_type(
            message="That request is already being processed; please check again in a moment.",
            outcome="pending",
            code="duplicate_in_progress",
        ),
        may_wait=lambda: call.deadline.remaining() > STEP_SECONDS,
    )


@dataclass(frozen=True)
class ToolResults(Generic[R]):
    """The `idempotency_keys` row of one key: the claim, then the encrypted result."""

    call: ToolCall
    key: str  # blind index of (call id, tool, arguments)
    call_key: str  # blind index of the call id
    tool: str
    result_type: type[R]

    @property
    def binding(self) -> Binding:
        return Binding("idempotency_keys", "result", self.key, self.call.account_id)

    async def claim(self) -> bool:
        row = IdempotencyKey(
            key_hash=self.key,
            account_id=self.call.account_id,
            tool=self.tool,
            status="in_progress",
            call_key=self.call_key,
        )
        try:
            async with self.call.services.sessions.begin() as session:
                session.add(row)
        except IntegrityError:
            return False
        return True

    async def settled(self) -> R | Unclaimed | None:
        """A result another write of the same call completed after is stale: it is dropped (UNCLAIMED)."""
        async with self.call.services.sessions() as session:
            row = await session.scalar(select(IdempotencyKey).where(IdempotencyKey.key_hash == self.key))
            latest = await session.scalar(
                select(func.max(IdempotencyKey.completed_at)).where(IdempotencyKey.call_key == self.call_key)
            )
        if row is None:
            return UNCLAIMED
        if row.status != "done" or not row.result or row.completed_at is None:
            return None
        if latest is not None and latest > row.completed_at:
            await self._drop(row.completed_at)
            return UNCLAIMED
        plaintext = await self.call.services.cipher.decrypt(row.result, self.binding)
        return self.result_type.model_validate_json(plaintext)

    async def settle(self, outcome: R) -> None:
        envelope = await self.call.services.cipher.encrypt(outcome.model_dump_json().encode(), self.binding)
        async with self.call.services.sessions.begin() as session:
            await session.execute(
                update(IdempotencyKey)
                .where(IdempotencyKey.key_hash == self.key)
                .values(status="done", result=envelope, completed_at=utcnow())
            )

    async def let_go(self) -> None:
        async with self.call.services.sessions.begin() as session:
            await session.execute(delete(IdempotencyKey).where(IdempotencyKey.key_hash == self.key))

    async def _drop(self, completed_at: datetime) -> None:
        """Delete the stale outcome (only the one seen: a concurrent retry may have replaced it already)."""
        stale = (IdempotencyKey.key_hash == self.key) & (IdempotencyKey.completed_at == completed_at)
        async with self.call.services.sessions.begin() as session:
            await session.execute(delete(IdempotencyKey).where(stale))
