"""Tables used as work queues by every replica: a claim takes the due rows, counts the attempt and moves their
next time past a lease, in one transaction (SKIP LOCKED on PostgreSQL, so no two replicas take the same row)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute

M = TypeVar("M")


async def claim_due(
    sessions: async_sessionmaker[AsyncSession],
    model: type[M],
    *,
    waiting: ColumnElement[bool],
    due_at: InstrumentedAttribute[Any],
    now: datetime,
    lease: timedelta,
    limit: int,
) -> list[M]:
    """Rows matching `waiting` whose `due_at` has come, oldest first; each gets `attempts` + 1 and `due_at` =
    now + lease (the attempt's outcome sets the real next time)."""
    async with sessions.begin() as session:
        rows = list(
            await session.scalars(
                select(model)
                .where(waiting, due_at <= now)
                .order_by(due_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        for row in rows:
            row.attempts += 1  # type: ignore[attr-defined]
            setattr(row, due_at.key, now + lease)
    return rows
