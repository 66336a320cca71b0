"""Run independent upstream requests at the same time."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

import anyio

A = TypeVar("A")
B = TypeVar("B")


async def both(first: Awaitable[A], second: Awaitable[B]) -> tuple[A, B]:
    """Await two operations concurrently; the first failure cancels the other and propagates."""
    results: list[Any] = [None, None]

    async def run(index: int, operation: Awaitable[Any]) -> None:
        results[index] = await operation

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(run, 0, first)
            group.start_soon(run, 1, second)
    except BaseExceptionGroup as group_error:
        raise group_error.exceptions[0] from None
    return results[0], results[1]
