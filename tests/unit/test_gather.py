"""tools/gather.py: reads sent beside another, and what becomes of their values and failures."""

from __future__ import annotations

import anyio
import pytest

from server.sikka import SikkaUnavailable
from tools.gather import Beside, alongside

pytestmark = pytest.mark.anyio


async def test_reads_beside_run_at_the_same_time_as_the_main_one() -> None:
    main_started, beside_started = anyio.Event(), anyio.Event()

    async def main() -> str:
        main_started.set()
        await beside_started.wait()  # in series, this would wait forever
        return "patient"

    async def read() -> list[str]:
        beside_started.set()
        await main_started.wait()
        return ["appointment"]

    booked = Beside(read)
    with anyio.fail_after(2):
        assert await alongside(main(), booked) == "patient"
    assert booked.result() == ["appointment"]


async def test_a_failed_read_beside_fails_only_whoever_takes_it() -> None:
    async def failing() -> int:
        raise SikkaUnavailable("no answer")

    async def value() -> int:
        return 7

    failed, fine = Beside(failing), Beside(value)
    assert await alongside(value(), failed, fine) == 7
    assert fine.result() == 7
    with pytest.raises(SikkaUnavailable):
        failed.result()


async def test_a_failed_main_read_cancels_the_reads_beside_and_propagates() -> None:
    sent, cancelled = anyio.Event(), anyio.Event()

    async def slow() -> int:
        sent.set()
        try:
            await anyio.sleep(30)
        except anyio.get_cancelled_exc_class():
            cancelled.set()
            raise
        return 1

    async def failing() -> int:
        await sent.wait()
        raise SikkaUnavailable("no answer")

    beside = Beside(slow)
    with anyio.fail_after(2), pytest.raises(SikkaUnavailable):
        await alongside(failing(), beside)
    assert cancelled.is_set()
    with pytest.raises(RuntimeError, match="has not run"):
        beside.result()


async def test_a_read_never_run_has_no_result() -> None:
    async def value() -> int:
        return 1

    with pytest.raises(RuntimeError, match="has not run"):
        Beside(value).result()
