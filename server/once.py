"""At most once per key, across retries, concurrent duplicates and replicas: claim, run, settle or let go.

The first request claims the key (a row whose primary key is the key) and runs; its outcome is settled in the
row, or, when it should not be kept (an upstream failure the sender will retry), the claim is let go. Any
other request for the key waits for the settled outcome and replays it; if the holder let go, the next request
claims the key and runs. A request that waits longer than it may gets `busy()`.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from typing import Generic, Protocol, TypeVar

import anyio

T = TypeVar("T")
STEP_SECONDS = 0.05


class Unclaimed(enum.Enum):
    """No request holds the key (never claimed, let go, or dropped as stale)."""

    KEY = enum.auto()


UNCLAIMED = Unclaimed.KEY


class Claims(Protocol, Generic[T]):
    """Where one key's claim and outcome live."""

    async def claim(self) -> bool:
        """Take the key; False when another request holds (or held) it."""
        ...

    async def settled(self) -> T | Unclaimed | None:
        """The settled outcome; None while its holder runs; UNCLAIMED when nobody holds the key."""
        ...

    async def settle(self, outcome: T) -> None: ...

    async def let_go(self) -> None: ...


async def once(
    claims: Claims[T],
    work: Callable[[], Awaitable[T]],
    *,
    keep: Callable[[T], bool],
    busy: Callable[[], T],
    may_wait: Callable[[], bool],
) -> T:
    """`work()` once for the key, or the outcome another request settled for it."""
    if await claims.claim():
        return await _run(claims, work, keep)
    while True:
        state = await claims.settled()
        if state is UNCLAIMED:
            if await claims.claim():
                return await _run(claims, work, keep)
            continue
        if state is not None:
            return state
        if not may_wait():
            return busy()
        await anyio.sleep(STEP_SECONDS)


async def _run(claims: Claims[T], work: Callable[[], Awaitable[T]], keep: Callable[[T], bool]) -> T:
    try:
        outcome = await work()
    except BaseException:
        with anyio.CancelScope(shield=True):
            await claims.let_go()
        raise
    if keep(outcome):
        await claims.settle(outcome)
    else:
        await claims.let_go()
    return outcome
