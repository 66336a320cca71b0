"""Group commit: one record the database refuses fails only its own caller; a database that is down fails
every caller at once, without retrying record by record."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pytest
from sqlalchemy import event, func, select, text

from server.audit import chain
from server.audit.record import AuditUnavailable, AuditWriter
from server.db.engine import create_engine, session_factory
from server.db.models import AuditLog
from tests.integration.test_audit_chain import record

pytestmark = pytest.mark.anyio
POISON = "poison-call"
REFUSE_POISON = {
    "sqlite": [
        "CREATE TRIGGER refuse_poison BEFORE INSERT ON pms_audit_logs WHEN NEW.vapi_call_id = 'poison-call' "
        "BEGIN SELECT RAISE(ABORT, 'refused'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.vapi_call_id = 'poison-call' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$",
        "CREATE TRIGGER refuse_poison BEFORE INSERT ON pms_audit_logs FOR EACH ROW EXECUTE FUNCTION refuse_poison()",
    ],
}
UNREACHABLE_DB = "postgresql+asyncpg://nobody@127.0.0.1:1/none"


async def test_a_record_the_database_refuses_fails_only_its_caller(
    database_url: str, captured_logs: io.StringIO
) -> None:
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        for statement in REFUSE_POISON[engine.dialect.name]:
            await conn.execute(text(statement))
    writer = AuditWriter(session_factory(engine))
    records = [record("acc_a", n) for n in range(12)]
    records[6]["vapi_call_id"] = POISON  # not the first: it lands in a batch with the others
    results = await asyncio.gather(*(writer.write(r) for r in records), return_exceptions=True)
    async with session_factory(engine)() as session:
        stored = await session.scalar(select(func.count()).select_from(AuditLog))
        _, problem = await chain.verify(session)
    await engine.dispose()
    assert [type(r).__name__ for r in results] == ["NoneType"] * 6 + ["AuditUnavailable"] + ["NoneType"] * 5
    assert stored == 11
    assert problem is None
    assert "writing its records one by one" in captured_logs.getvalue()  # the batch really held several


async def test_an_unavailable_database_fails_every_caller_without_retries(captured_logs: io.StringIO) -> None:
    engine = create_engine(UNREACHABLE_DB, pool_size=1, max_overflow=0, pool_pre_ping=False)
    writer = AuditWriter(session_factory(engine))
    results = await asyncio.gather(*(writer.write(record("acc_a", n)) for n in range(8)), return_exceptions=True)
    await engine.dispose()
    assert all(isinstance(r, AuditUnavailable) for r in results)
    logs = captured_logs.getvalue()
    assert "one by one" not in logs
    assert logs.count("audit write failed") <= 2  # the first record alone, then the other seven together


async def test_a_writer_moves_the_head_it_knows_and_takes_the_lock_after_another_writer(database_url: str) -> None:
    """Two writers on one chain (as two replicas): each append by the writer that moved the head last is one
    conditional update and one insert; after the other writer's append, the head is locked and read again."""
    engine = create_engine(database_url)
    statements: list[str] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement.split()[0].upper())

    first, second = AuditWriter(session_factory(engine)), AuditWriter(session_factory(engine))
    await first.write(record("acc_a", 0))  # a new chain: the head is created under its lock
    statements.clear()
    await first.write(record("acc_a", 1))
    known = [s for s in statements if s in ("UPDATE", "INSERT")]
    await second.write(record("acc_a", 2))  # a head `second` has not seen
    await first.write(record("acc_a", 3))  # `first`'s head is stale now
    await first.write(record("acc_a", 4))
    async with session_factory(engine)() as session:
        checked, problem = await chain.verify(session)
        seqs = list(await session.scalars(select(AuditLog.seq).order_by(AuditLog.id)))
    await engine.dispose()
    assert known == ["UPDATE", "INSERT"]
    assert (checked, problem) == (5, None)
    assert seqs == [1, 2, 3, 4, 5]
