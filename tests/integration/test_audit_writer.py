"""Group commit: one record the database refuses fails only its own caller; a database that is down fails
every caller at once, without retrying record by record."""

from __future__ import annotations

import asyncio
import io

import pytest
from sqlalchemy import func, select, text

from server.audit import chain
from server.audit.decorator import AuditUnavailable, AuditWriter
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
