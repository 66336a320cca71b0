"""Failed-attempt limits that hold: counted in the database per scope (a patient, a caller's number, a token, a
call) and window, reserved atomically before an attempt is evaluated, so concurrent attempts and other replicas
count too.

`reserve` adds one attempt to every scope in one transaction, or to none when any refusing scope is at its limit
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

from sqlalchemy import Table, and_, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

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


@dataclass(frozen=True)
class Reservation:
    account_id: str
    keys: tuple[tuple[str, str, datetime], ...]  # (scope, subject, window start)
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
        """Count one attempt for every (limit, subject), all or none; raises Locked when a refusing limit is
        reached (naming the first such scope in `subjects`' order)."""
        now = self.clock()
        keys = []
        tripped = False
        async with self.sessions.begin() as session:
            dialect = session.get_bind().dialect.name
            for limit, subject in subjects:
                start = limit.window_start(now)
                insert = upsert_for(dialect, ATTEMPTS).values(
                    account_id=account_id, scope=limit.scope, subject=subject, window_start=start, failures=1
                )
                counted = insert.on_conflict_do_update(
                    index_elements=["account_id", "scope", "subject", "window_start"],
                    set_={"failures": ATTEMPTS.c.failures + 1},
                    where=ATTEMPTS.c.failures < limit.failures if limit.refuses else None,
                ).returning(ATTEMPTS.c.failures)
                row = (await session.execute(counted)).first()
                if row is None:
                    raise Locked(limit.scope)  # leaving the block rolls back this attempt's other increments
                tripped = tripped or row.failures > limit.failures
                keys.append((limit.scope, subject, start))
        return Reservation(account_id, tuple(keys), tripped)

    async def release(self, reservation: Reservation) -> None:
        """The attempt succeeded: it does not count."""
        async with self.sessions.begin() as session:
            for scope, subject, start in reservation.keys:
                await session.execute(
                    update(ATTEMPTS)
                    .where(
                        and_(
                            ATTEMPTS.c.account_id == reservation.account_id,
                            ATTEMPTS.c.scope == scope,
                            ATTEMPTS.c.subject == subject,
                            ATTEMPTS.c.window_start == start,
                            ATTEMPTS.c.failures > 0,
                        )
                    )
                    .values(failures=ATTEMPTS.c.failures - 1)
                )
