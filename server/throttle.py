"""Failed-attempt limits that hold: counted in the database per scope (a patient, a caller's number, a token, a
call) and window, reserved atomically before an attempt is evaluated, so concurrent attempts and other replicas
count too.

`reserve` adds one attempt to every scope in one statement, or to none when any refusing scope is at its limit
(an upsert that only increments below the limit: a row lock on PostgreSQL, the write lock on SQLite). A limit
that does not refuse is a circuit breaker: it always counts, and the reservation says when its subject is over
it (`tripped`), for the caller to make the attempt costlier instead of refusing it. The caller then evaluates the
attempt and `release`s the reservation if it succeeded; a failure stays counted. Windows are fixed (aligned to
the epoch): simple, and a burst across a boundary gets at most twice the limit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, and_, case, or_, true, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.dml import ReturningInsert
from sqlalchemy.sql.elements import ColumnElement

from server.db.engine import upsert_for
from server.db.models import IdentityAttempt, utcnow

ATTEMPTS: Table = IdentityAttempt.__table__  # type: ignore[assignment]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Limit:
    """At most `failures` failed attempts per subject of `scope` in each `window`; past that, attempts are
    refused, or (`refuses` false, a circuit breaker) counted and reported as `tripped`."""

    scope: str
    failures: int
    window: timedelta
    refuses: bool = True

    def window_start(self, now: datetime) -> datetime:
        return now - (now - EPOCH) % self.window


Key = tuple[str, str, datetime]  # (scope, subject, window start): one row of `identity_attempts`


@dataclass(frozen=True)
class Reservation:
    account_id: str
    keys: tuple[Key, ...]
    tripped: bool = False  # a circuit breaker's subject is over its limit


class Locked(Exception):
    """A scope is at its limit; `scope` names it."""

    def __init__(self, scope: str) -> None:
        super().__init__(scope)
        self.scope = scope


class AttemptLimiter:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Callable[[], datetime] = utcnow) -> None:
        self.sessions = sessions
        self.clock = clock

    async def reserve(self, account_id: str, subjects: Sequence[tuple[Limit, str]]) -> Reservation:
        """Count one attempt for every (limit, subject), all or none, in one statement; raises Locked when a
        refusing limit is reached (naming the first such scope in `subjects`' order)."""
        now = self.clock()
        limits: dict[Key, Limit] = {}
        for limit, subject in subjects:
            limits.setdefault((limit.scope, subject, limit.window_start(now)), limit)
        if not limits:
            return Reservation(account_id, ())
        async with self.sessions.begin() as session:
            counted = await session.execute(_counting(session.get_bind().dialect.name, account_id, limits))
            failures = {(row.scope, row.subject, row.window_start): row.failures for row in counted}
            locked = [key for key in limits if key not in failures]
            if locked:
                raise Locked(locked[0][0])  # leaving the block rolls back this attempt's other increments
        tripped = any(failures[key] > limit.failures for key, limit in limits.items())
        return Reservation(account_id, tuple(limits), tripped)

    async def release(self, reservation: Reservation) -> None:
        """The attempt succeeded: it does not count."""
        if not reservation.keys:
            return
        reserved = or_(*(_is(key) for key in reservation.keys))
        async with self.sessions.begin() as session:
            await session.execute(
                update(ATTEMPTS)
                .where(ATTEMPTS.c.account_id == reservation.account_id, reserved, ATTEMPTS.c.failures > 0)
                .values(failures=ATTEMPTS.c.failures - 1)
            )


def _counting(dialect: str, account_id: str, limits: dict[Key, Limit]) -> ReturningInsert[Any]:
    """One upsert that adds an attempt to every key's row, except to a refusing limit's row at its limit (that row
    is then missing from what it returns)."""
    rows = [
        {"account_id": account_id, "scope": scope, "subject": subject, "window_start": start, "failures": 1}
        for scope, subject, start in limits
    ]
    below_limit = [(_is(key), ATTEMPTS.c.failures < limit.failures) for key, limit in limits.items() if limit.refuses]
    return (
        upsert_for(dialect, ATTEMPTS)
        .values(rows)
        .on_conflict_do_update(
            index_elements=["account_id", "scope", "subject", "window_start"],
            set_={"failures": ATTEMPTS.c.failures + 1},
            where=case(*below_limit, else_=true()) if below_limit else None,
        )
        .returning(ATTEMPTS.c.scope, ATTEMPTS.c.subject, ATTEMPTS.c.window_start, ATTEMPTS.c.failures)
    )


def _is(key: Key) -> ColumnElement[bool]:
    scope, subject, start = key
    return and_(ATTEMPTS.c.scope == scope, ATTEMPTS.c.subject == subject, ATTEMPTS.c.window_start == start)
