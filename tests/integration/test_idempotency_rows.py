"""The `idempotency_keys` rows (server/idempotency.py): a claim expires by the clock it was made with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from server.db.engine import create_engine, session_factory
from server.idempotency import IdempotencyRows

pytestmark = pytest.mark.anyio
CALL_START = datetime(2026, 3, 8, 9, 30, tzinfo=UTC)  # a tool call's frozen now, long before the host's


async def test_a_claim_lives_and_expires_by_the_calls_clock(database_url: str) -> None:
    engine = create_engine(database_url)
    now = CALL_START
    rows = IdempotencyRows(session_factory(engine), "key-1", "call-1", "acc_a", "bookAppointment", lambda: now)
    try:
        assert await rows.claim(now + timedelta(seconds=20))
        assert not await rows.claim(now + timedelta(seconds=20))  # the row exists
        assert not await rows.take_over(now + timedelta(seconds=20))  # its holder still has time on that clock
        stored = await rows.read()
        assert stored is not None
        assert (stored.result, stored.expired) == (None, False)
        now = CALL_START + timedelta(seconds=21)
        assert (await rows.read() or pytest.fail("no row")).expired
        assert await rows.take_over(now + timedelta(seconds=20))
    finally:
        await engine.dispose()
