"""Attempt limits in the database (server/throttle.py): all-or-nothing reservations, release on success, and
concurrent attempts counted before any is evaluated, on SQLite and on PostgreSQL across two engines (replicas)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import anyio
import pytest
from sqlalchemy import event, text

from server.db.engine import create_engine, session_factory
from server.throttle import AttemptLimiter, Limit, Locked

pytestmark = pytest.mark.anyio
THREE = Limit("call", failures=3, window=timedelta(hours=1))
FIVE = Limit("patient", failures=5, window=timedelta(hours=24))
NOON = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOON

    def __call__(self) -> datetime:
        return self.now


async def test_a_scope_locks_at_its_limit_and_a_success_does_not_count(database_url: str) -> None:
    engine = create_engine(database_url)
    limiter = AttemptLimiter(session_factory(engine), Clock())
    try:
        success = await limiter.reserve("a1", [(THREE, "call-1")])
        await limiter.release(success)
        for _ in range(3):
            await limiter.reserve("a1", [(THREE, "call-1")])
        with pytest.raises(Locked) as locked:
            await limiter.reserve("a1", [(THREE, "call-1")])
        assert locked.value.scope == "call"
        await limiter.reserve("a1", [(THREE, "call-2")])  # another call is not held to it
        await limiter.reserve("a2", [(THREE, "call-1")])  # nor another practice
    finally:
        await engine.dispose()


async def test_reservations_are_all_or_nothing_and_windows_roll_over(database_url: str) -> None:
    engine = create_engine(database_url)
    clock = Clock()
    limiter = AttemptLimiter(session_factory(engine), clock)
    try:
        for _ in range(3):
            await limiter.reserve("a1", [(FIVE, "p1"), (THREE, "call-1")])
        with pytest.raises(Locked):
            await limiter.reserve("a1", [(FIVE, "p1"), (THREE, "call-1")])
        # The refused attempt did not count against the patient: two more still fit under five.
        await limiter.reserve("a1", [(FIVE, "p1"), (THREE, "call-2")])
        await limiter.reserve("a1", [(FIVE, "p1"), (THREE, "call-3")])
        with pytest.raises(Locked) as locked:
            await limiter.reserve("a1", [(FIVE, "p1"), (THREE, "call-4")])
        assert locked.value.scope == "patient"
        clock.now = NOON + timedelta(days=1)
        await limiter.reserve("a1", [(FIVE, "p1"), (THREE, "call-1")])
    finally:
        await engine.dispose()


async def test_twenty_simultaneous_attempts_at_most_the_limit_get_through(database_url: str) -> None:
    engines = [create_engine(database_url) for _ in range(2)]  # two replicas on PostgreSQL; SQLite shares a file
    limiters = [AttemptLimiter(session_factory(engine), Clock()) for engine in engines]
    granted: list[int] = []

    async def attempt(n: int) -> None:
        try:
            await limiters[n % 2].reserve("a1", [(FIVE, "p1")])
        except Locked:
            return
        granted.append(n)

    try:
        async with anyio.create_task_group() as group:
            for n in range(20):
                group.start_soon(attempt, n)
    finally:
        for engine in engines:
            await engine.dispose()
    assert len(granted) == 5


async def test_a_breaker_never_refuses_and_says_when_it_is_tripped(database_url: str) -> None:
    breaker = Limit("token", failures=3, window=timedelta(hours=1), refuses=False)
    engine = create_engine(database_url)
    limiter = AttemptLimiter(session_factory(engine), Clock())
    try:
        below = [await limiter.reserve("a1", [(breaker, "tok")]) for _ in range(3)]
        over = [await limiter.reserve("a1", [(breaker, "tok"), (THREE, f"call-{n}")]) for n in range(5)]
        assert [r.tripped for r in below + over] == [False] * 3 + [True] * 5
        for reservation in [*over, below[0]]:  # successes give their attempts back: the breaker closes again
            await limiter.release(reservation)
        assert not (await limiter.reserve("a1", [(breaker, "tok")])).tripped
        for _ in range(3):  # call-0 gave its one attempt back
            await limiter.reserve("a1", [(breaker, "tok"), (THREE, "call-0")])
        with pytest.raises(Locked) as locked:  # a refusing scope still refuses beside it
            await limiter.reserve("a1", [(breaker, "tok"), (THREE, "call-0")])
        assert locked.value.scope == "call"
    finally:
        await engine.dispose()


async def test_an_attempt_is_one_statement_to_count_and_one_to_give_back(database_url: str) -> None:
    """However many scopes an attempt counts against (a patient, the call, the number, the token), reserving is
    one upsert and releasing one update; with several scopes at their limits, the first one asked is named."""
    breaker = Limit("token", failures=100, window=timedelta(hours=1), refuses=False)
    engine = create_engine(database_url)
    limiter = AttemptLimiter(session_factory(engine), Clock())
    statements: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2].split()[0].upper()))
    try:
        subjects = [(FIVE, "p1"), (FIVE, "p2"), (THREE, "call-1"), (breaker, "tok")]
        reservation = await limiter.reserve("a1", subjects)
        await limiter.release(reservation)
        assert [s for s in statements if s in ("INSERT", "UPDATE")] == ["INSERT", "UPDATE"]
        for _ in range(3):
            await limiter.reserve("a1", [(FIVE, "p1"), (THREE, "call-1")])
        for n in range(2):
            await limiter.reserve("a1", [(FIVE, "p1"), (THREE, f"call-{n + 2}")])
        with pytest.raises(Locked) as locked:  # p1 and call-1 are both at their limits
            await limiter.reserve("a1", [(THREE, "call-1"), (FIVE, "p1"), (breaker, "tok")])
        assert locked.value.scope == "call"
        again = await limiter.reserve("a1", [(FIVE, "p2"), (breaker, "tok")])  # the refused attempt counted nowhere
        assert again.keys[0][:2] == ("patient", "p2")
        async with engine.connect() as conn:
            counts = {row.subject: row.failures for row in await conn.execute(text("SELECT * FROM identity_attempts"))}
    finally:
        await engine.dispose()
    assert counts == {"p1": 5, "p2": 1, "call-1": 3, "call-2": 1, "call-3": 1, "tok": 1}
