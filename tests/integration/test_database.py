from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from server.db import migrate
from server.db.engine import create_engine, session_factory
from server.db.models import Account, PmsIntegration, PracticeToken

pytestmark = pytest.mark.anyio


async def test_migrations_reach_head_and_match_the_models(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from server.db.models import Base

    engine = create_engine(database_url)
    try:
        assert await migrate.is_current(engine)
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata
                )
            )
        assert diff == []
    finally:
        await engine.dispose()


async def test_models_round_trip_with_aware_timestamps(database_url: str) -> None:
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    try:
        async with sessions.begin() as session:
            account = Account(name="Happy Dental Clinic")
            session.add(account)
            await session.flush()
            session.add(PmsIntegration(account_id=account.id, office_id="D1", practice_id="1", features={"a": True}))
            session.add(PracticeToken(id="tok_1", account_id=account.id, token_hash="0" * 64))
        async with sessions() as session:
            integration = await session.scalar(select(PmsIntegration))
            assert integration is not None
            assert integration.features == {"a": True}
            assert integration.status == "PENDING"
            assert integration.created_at.tzinfo is not None
            assert integration.created_at <= datetime.now(UTC)
    finally:
        await engine.dispose()


async def test_office_and_practice_are_unique(database_url: str) -> None:
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    try:
        async with sessions.begin() as session:
            first, second = Account(name="A"), Account(name="B")
            session.add_all([first, second])
            await session.flush()
            session.add(PmsIntegration(account_id=first.id, office_id="D1", practice_id="1"))
        with pytest.raises(IntegrityError):
            async with sessions.begin() as session:
                session.add(PmsIntegration(account_id=second.id, office_id="D1", practice_id="1"))
    finally:
        await engine.dispose()
