"""`server/once.py`: claim, run, settle or let go; duplicates wait and replay; a let-go key runs again."""

from __future__ import annotations

import anyio
import pytest

from server.once import UNCLAIMED, Unclaimed, once

pytestmark = pytest.mark.anyio


class MemoryClaims:
    """One key's row, in memory."""

    def __init__(self) -> None:
        self.held = False
        self.outcome: str | None = None

    async def claim(self) -> bool:
        if self.held:
            return False
        self.held = True
        return True

    async def settled(self) -> str | Unclaimed | None:
        return UNCLAIMED if not self.held else self.outcome

    async def settle(self, outcome: str) -> None:
        self.outcome = outcome

    async def let_go(self) -> None:
        self.held, self.outcome = False, None


def runs(results: list[str], outcome: str):  # type: ignore[no-untyped-def]
    async def work() -> str:
        await anyio.sleep(0.02)
        results.append(outcome)
        return outcome

    return work


async def test_a_duplicate_waits_for_the_first_outcome_and_replays_it() -> None:
    claims, ran, answers = MemoryClaims(), list[str](), list[str]()

    async def request() -> None:
        answers.append(await once(claims, runs(ran, "booked"), keep=bool, busy=lambda: "busy", may_wait=lambda: True))

    async with anyio.create_task_group() as group:
        for _ in range(3):
            group.start_soon(request)
    assert ran == ["booked"]
    assert answers == ["booked"] * 3


async def test_an_outcome_not_kept_lets_go_so_the_next_request_runs() -> None:
    claims, ran = MemoryClaims(), list[str]()
    first = await once(claims, runs(ran, ""), keep=bool, busy=lambda: "busy", may_wait=lambda: True)
    second = await once(claims, runs(ran, "done"), keep=bool, busy=lambda: "busy", may_wait=lambda: True)
    assert (first, second, ran) == ("", "done", ["", "done"])


async def test_a_failure_lets_go_and_a_waiter_past_its_time_is_told_busy() -> None:
    claims = MemoryClaims()

    async def fails() -> str:
        raise RuntimeError("upstream down")

    with pytest.raises(RuntimeError):
        await once(claims, fails, keep=bool, busy=lambda: "busy", may_wait=lambda: True)
    assert not claims.held
    claims.held = True  # someone else is running
    assert await once(claims, runs([], "x"), keep=bool, busy=lambda: "busy", may_wait=lambda: False) == "busy"
