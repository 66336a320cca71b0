"""Run independent upstream requests at the same time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import anyio

A = TypeVar("A")
B = TypeVar("B")
T = TypeVar("T")


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


class Beside(Generic[T]):
    """A read sent beside another (`alongside`) and taken afterwards (`result`): its value, or the error it
    raised. Its failure fails nothing it ran beside, and a read never taken is never looked at (the identity
    check runs a tool's reads beside the patient's record and hands them over only to a verified caller)."""

    def __init__(self, read: Callable[[], Awaitable[T]]) -> None:
        self._read = read
        self._value: tuple[T] | None = None
        self._error: Exception | None = None

    async def run(self) -> None:
        try:
            self._value = (await self._read(),)
        except Exception as exc:  # kept for `result`: whoever takes the value gets the error
            self._error = exc

    def result(self) -> T:
        """The value; raises the read's error, or RuntimeError when it has not run to the end."""
        if self._error is not None:
            raise self._error
        if self._value is None:
            raise RuntimeError("the read has not run")
        return self._value[0]


async def alongside(main: Awaitable[A], *beside: Beside[Any]) -> A:
    """`main`, with the `beside` reads sent at the same time; `main`'s failure cancels them and propagates."""
    results: list[A] = []

    async def run_main() -> None:
        results.append(await main)

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(run_main)
            for read in beside:
                group.start_soon(read.run)
    except BaseExceptionGroup as group_error:
        raise group_error.exceptions[0] from None
    return results[0]
