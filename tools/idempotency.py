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
from typing import TypeVar

import anyio
from pydantic import BaseModel
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from server.db.models import IdempotencyKey, utcnow
from server.phi import Binding
from tools.context import ToolCall
from tools.results import ToolResult

R = TypeVar("R", bound=ToolResult)
WAIT_STEP_SECONDS = 0.1


def normalised(args: BaseModel) -> str:
    return json.dumps(args.model_dump(mode="json", by_alias=True), sort_keys=True, separators=(",", ":"))


async def once(call: ToolCall, tool: str, args: BaseModel, result_type: type[R], work: Callable[[], Awaitable[R]]) -> R:
    """Run `work` at most once per key while its outcome is current; replay the stored outcome otherwise."""
    if not call.vapi_call_id:
        return await work()
    index = call.services.blind_index
    key = await index.digest(call.account_id, "idempotency", call.vapi_call_id, tool, normalised(args))
    call_key = await index.digest(call.account_id, "idempotency-call", call.vapi_call_id)
    binding = Binding("idempotency_keys", "result", key, call.account_id)
    claim = Claim(key, call_key, tool)
    if not await _claim(call, claim):
        replayed = await _replay(call, claim, binding, result_type)
        if replayed is not None:
            return replayed
    try:
        result = await work()
    except BaseException:
        await _release(call, claim.key)
        raise
    if result.outcome == "unavailable":
        await _release(call, claim.key)
        return result
    envelope = await call.services.cipher.encrypt(result.model_dump_json().encode(), binding)
    async with call.services.sessions.begin() as session:
        await session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.key_hash == claim.key)
            .values(status="done", result=envelope, completed_at=utcnow())
        )
    return result


@dataclass(frozen=True)
class Claim:
    key: str  # blind index of (call id, tool, arguments)
    call_key: str  # blind index of the call id
    tool: str


async def _claim(call: ToolCall, claim: Claim) -> bool:
    """Take the key for this request; False when another request holds (or held) it."""
    row = IdempotencyKey(
        key_hash=claim.key, account_id=call.account_id, tool=claim.tool, status="in_progress", call_key=claim.call_key
    )
    try:
        async with call.services.sessions.begin() as session:
            session.add(row)
    except IntegrityError:
        return False
    return True


async def _release(call: ToolCall, key: str) -> None:
    with anyio.CancelScope(shield=True):
        async with call.services.sessions.begin() as session:
            await session.execute(delete(IdempotencyKey).where(IdempotencyKey.key_hash == key))


async def _replay(call: ToolCall, claim: Claim, binding: Binding, result_type: type[R]) -> R | None:
    """Wait (within the call's deadline) for the first request's outcome and return it; None when that outcome
    is stale (or was released) and this request has claimed the key to run again."""
    while True:
        async with call.services.sessions() as session:
            row = await session.scalar(select(IdempotencyKey).where(IdempotencyKey.key_hash == claim.key))
            latest = await session.scalar(
                select(func.max(IdempotencyKey.completed_at)).where(IdempotencyKey.call_key == claim.call_key)
            )
        if row is not None and row.status == "done" and row.result:
            if row.completed_at is not None and latest is not None and latest > row.completed_at:
                if await _retake_stale(call, claim, row.completed_at):
                    return None
                continue
            plaintext = await call.services.cipher.decrypt(row.result, binding)
            return result_type.model_validate_json(plaintext)
        if row is None and await _claim(call, claim):
            return None  # the first request failed and let go: this one runs
        if call.deadline.remaining() <= WAIT_STEP_SECONDS:
            return result_type(
                message="That request is already being processed; please check again in a moment.",
                outcome="pending",
                code="duplicate_in_progress",
            )
        await anyio.sleep(WAIT_STEP_SECONDS)


async def _retake_stale(call: ToolCall, claim: Claim, completed_at: datetime) -> bool:
    """Drop a stale outcome and claim its key (only one concurrent retry wins)."""
    stale = (IdempotencyKey.key_hash == claim.key) & (IdempotencyKey.completed_at == completed_at)
    async with call.services.sessions.begin() as session:
        dropped = await session.execute(delete(IdempotencyKey).where(stale))
    return bool(dropped.rowcount) and await _claim(call, claim)  # type: ignore[attr-defined]
