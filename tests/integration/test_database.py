from __future__ import annotations

import secrets
from datetime import UTC, datetime

import pytest
from sqlalchemy import TextClause, bindparam, select, text
from sqlalchemy.exc import IntegrityError

from server.db import migrate
from server.db.engine import create_engine, session_factory
from server.db.models import Account, PmsIntegration, PracticeToken, StaffDelivery, UTCDateTime, WriteIntent
from server.inbox import StaffInbox
from server.phi.cipher import Binding, PhiCipher
from server.phi.keys import LocalKeyProvider

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


def stamped(sql: str) -> TextClause:
    """SQL whose `:now` is a timestamp as the models store it, on either dialect."""
    return text(sql).bindparams(bindparam("now", type_=UTCDateTime()))


async def test_0009_moves_writebacks_followups_and_deliveries_without_losing_any(database_url: str) -> None:
    """Pending writebacks become followed intents, follow-ups join the inbox and still decrypt, queued deliveries
    keep their state; and the step back restores the old tables."""
    cipher = PhiCipher(LocalKeyProvider(secrets.token_bytes(32)))
    sealed = await cipher.encrypt_json({"email": "a@example.com"}, Binding("staff_followups", "data", "f1", "acct"))
    message = await cipher.encrypt_json({"reason": "call me"}, Binding("staff_messages", "data", "m1", "acct"))
    now = datetime.now(UTC)
    engine = create_engine(database_url)
    try:
        await migrate.downgrade(engine, "0008")
        async with engine.begin() as conn:
            await conn.execute(
                stamped(
                    "INSERT INTO writebacks (id, account_id, writeback_id, kind, status, submitted_at, next_poll_at, "
                    "attempts) VALUES ('w1', 'acct', '555', 'book_appointment', 'pending', :now, :now, 2), "
                    "('w2', 'acct', '556', 'appointment_status', 'cancelled', :now, :now, 9)"
                ),
                {"now": now},
            )
            await conn.execute(
                stamped(
                    "INSERT INTO staff_followups (id, account_id, kind, vapi_call_id, data, created_at) "
                    "VALUES ('f1', 'acct', 'contact_update', 'call-1', :data, :now)"
                ),
                {"data": sealed, "now": now},
            )
            await conn.execute(
                stamped(
                    "INSERT INTO staff_messages (id, account_id, vapi_call_id, urgency, data, created_at, delivery, "
                    "attempts, next_attempt_at) VALUES ('m1', 'acct', NULL, 'soon', :data, :now, 'pending', 1, :now)"
                ),
                {"data": message, "now": now},
            )
        await migrate.upgrade(engine)
        sessions = session_factory(engine)
        async with sessions() as session:
            intents = {row.writeback_id: row.state for row in await session.scalars(select(WriteIntent))}
            delivery = await session.scalar(select(StaffDelivery))
        assert intents == {"555": "submitted", "556": "withdrawn"}  # the pending one is followed again
        assert delivery is not None
        assert (delivery.item_id, delivery.channel, delivery.status, delivery.attempts) == (
            "m1",
            "webhook",
            "pending",
            1,
        )
        inbox = StaffInbox(sessions, cipher, email_enabled=False)
        items = {item.kind: item for item in await inbox.open_items("acct")}
        followup, moved = items["contact_update"], items["message"]
        assert (followup.kind, followup.vapi_call_id, followup.note.details) == (
            "contact_update",
            "call-1",
            {"email": "a@example.com"},
        )
        assert (moved.kind, moved.note.reason) == ("message", "call me")
        await migrate.downgrade(engine, "0008")
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM writebacks"))).scalar() == 2
            assert (await conn.execute(text("SELECT id FROM staff_followups"))).scalar() == "f1"
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()
