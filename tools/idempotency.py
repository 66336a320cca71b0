"""Write tools are idempotent per (Vapi call id, tool, normalised arguments).

The key is a blind index (HMAC under the account's index key), the stored result is encrypted. The first
call claims the key; a concurrent duplicate waits for the first outcome; a later retry replays it. An
`unavailable` outcome releases the key so the caller can try again.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
from pydantic import BaseModel
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from server.db.models import IdempotencyKey
from server.phi.cipher import Binding
from tools.context import ToolCall
from tools.results import ToolResult

R = TypeVar("R", bound=ToolResult)
WAIT_STEP_SECONDS = 0.1


def normalised(args: BaseModel) -> str:
    return json.dumps(args.model_dump(mode="json", by_alias=True), sort_keys=True, separators=(",", ":"))


async def once(call: ToolCall, tool: str, args: BaseModel, result_type: type[R], work: Callable[[], Awaitable[R]]) -> R:
    """Run `work` at most once per key; replay the stored outcome otherwise."""
    if not call.vapi_call_id:
        return await work()
    services = call.services
    key = await services.blind_index.digest(call.account_id, "idempotency", call.vapi_call_id, tool, normalised(args))
    binding = Binding("idempotency_keys", "result", key, call.account_id)
    try:
        async with services.sessions.begin() as session:
            session.add(IdempotencyKey(key_hash=key, account_id=call.account_id, tool=tool, status="in_progress"))
    except IntegrityError:
        return await _replay(call, key, binding, result_type)
    try:
        result = await work()
    except BaseException:
        await _release(call, key)
        raise
    if result.outcome == "unavailable":
        await _release(call, key)
        return result
    envelope = await services.cipher.encrypt(result.model_dump_json().encode(), binding)
    async with services.sessions.begin() as session:
        await session.execute(
            update(IdempotencyKey).where(IdempotencyKey.key_hash == key).values(status="done", result=envelope)
        )
    return result


async def _release(call: ToolCall, key: str) -> None:
    with anyio.CancelScope(shield=True):
        async with call.services.sessions.begin() as session:
            await session.execute(delete(IdempotencyKey).where(IdempotencyKey.key_hash == key))


async def _replay(call: ToolCall, key: str, binding: Binding, result_type: type[R]) -> R:
    """Wait (within the call's deadline) for the first call's outcome, then return it."""
    while True:
        async with call.services.sessions() as session:
            row = await session.scalar(select(IdempotencyKey).where(IdempotencyKey.key_hash == key))
        if row is not None and row.status == "done" and row.result:
            plaintext = await call.services.cipher.decrypt(row.result, binding)
            return result_type.model_validate_json(plaintext)
        if row is None or call.deadline.remaining() <= WAIT_STEP_SECONDS:
            return result_type(
                message="That request is already being processed; please check again in a moment.",
                outcome="pending",
                code="duplicate_in_progress",
            )
        await anyio.sleep(WAIT_STEP_SECONDS)
