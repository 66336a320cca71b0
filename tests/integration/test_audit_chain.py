"""The audit hash chain: `parlae-mcp audit verify` finds edited, deleted, inserted and reordered records."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, inspect, select, text

from server.audit import chain
from server.audit.record import AuditWriter
from server.db import migrate
from server.db.engine import create_engine, session_factory
from server.db.models import AuditLog, utcnow
from tests.conftest import new_phi_key, requires_postgres

pytestmark = pytest.mark.anyio


def record(account_id: str, n: int, **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "account_id": account_id,
        "recorded_at": utcnow(),
        "integration_id": None,
        "action": "searchPatients",
        "crud": "R",
        "endpoint": "patients",
        "method": "GET",
        "actor": "tok_test",
        "vapi_call_id": f"call-{n}",
        "ip_address": "127.0.0.1",
        "request_summary": "searched by phone",
        "response_status": 200,
        "response_time_ms": n,
        "phi_accessed": True,
        "phi_fields": ["name", "phone"],
        "patient_ref": str(1000 + n),
        "outcome": "success",
        "error_code": None,
    }
    fields.update(overrides)
    return fields


async def write_records(database_url: str, accounts: dict[str, int]) -> None:
    engine = create_engine(database_url)
    writer = AuditWriter(session_factory(engine))
    for account, count in accounts.items():
        for n in range(count):
            await writer.write(record(account, n))
    await engine.dispose()


async def execute(database_url: str, *statements: str) -> None:
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        for statement in statements:
            await conn.execute(text(statement))
    await engine.dispose()


def verify_cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "PHI_ENCRYPTION_KEY": new_phi_key(), "LOG_LEVEL": "WARNING"}
    return subprocess.run(
        [sys.executable, "-m", "app", "audit", "verify", "--json", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def row_id(database_url: str, account: str, seq: int) -> int:
    engine = create_engine(database_url)
    async with engine.connect() as conn:
        found = await conn.scalar(
            text("SELECT id FROM pms_audit_logs WHERE account_id = :a AND seq = :s"), {"a": account, "s": seq}
        )
    await engine.dispose()
    return int(found)


async def test_an_untouched_chain_verifies(database_url: str) -> None:
    await write_records(database_url, {"acc_a": 5, "acc_b": 3})
    result = verify_cli(database_url)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "intact": True,
        "recordsChecked": 8,
        "problem": None,
        "recordId": None,
        "anchor": {"checked": False, "reason": "AUDIT_ANCHOR_URL is not set"},
    }
    assert verify_cli(database_url, "--account-id", "acc_b").returncode == 0


Tamper = Callable[[str, dict[str, int]], Awaitable[list[str]]]


async def edit(url: str, ids: dict[str, int]) -> list[str]:
    return [f"UPDATE pms_audit_logs SET request_summary = 'nothing to see' WHERE id = {ids['third']}"]


async def edit_phi_flag(url: str, ids: dict[str, int]) -> list[str]:
    return [f"UPDATE pms_audit_logs SET phi_accessed = false WHERE id = {ids['third']}"]


async def delete(url: str, ids: dict[str, int]) -> list[str]:
    return [f"DELETE FROM pms_audit_logs WHERE id = {ids['third']}"]


async def delete_last(url: str, ids: dict[str, int]) -> list[str]:
    return [f"DELETE FROM pms_audit_logs WHERE id = {ids['last']}"]


async def insert(url: str, ids: dict[str, int]) -> list[str]:
    columns = ", ".join(chain.CHAINED_FIELDS) + ", hash"
    return [
        f"INSERT INTO pms_audit_logs ({columns}) SELECT {columns.replace('seq', 'seq + 100')} "
        f"FROM pms_audit_logs WHERE id = {ids['third']}"
    ]


async def swap(url: str, ids: dict[str, int]) -> list[str]:
    second, third = ids["second"], ids["third"]
    return [
        f"UPDATE pms_audit_logs SET id = -1 WHERE id = {second}",
        f"UPDATE pms_audit_logs SET id = {second} WHERE id = {third}",
        f"UPDATE pms_audit_logs SET id = {third} WHERE id = -1",
    ]


# The record each tampering should be reported at ("inserted" = the forged row; None = the chain head).
EXPECTED = {
    "edit": "third",
    "edit_phi_flag": "third",
    "delete": "fourth",
    "delete_last": None,
    "insert": "inserted",
    "swap": "second",
}


@pytest.mark.parametrize("tamper", [edit, edit_phi_flag, delete, delete_last, insert, swap], ids=lambda t: t.__name__)
async def test_tampering_is_found_and_named(database_url: str, tamper: Tamper) -> None:
    await write_records(database_url, {"acc_a": 5, "acc_b": 2})
    positions = (("second", 2), ("third", 3), ("fourth", 4), ("last", 5))
    ids = {name: await row_id(database_url, "acc_a", seq) for name, seq in positions}
    await execute(database_url, *await tamper(database_url, ids))
    ids["inserted"] = ids["last"] + 3  # after acc_b's two records
    result = verify_cli(database_url)
    assert result.returncode == 1, result.stdout
    report = json.loads(result.stdout)
    assert report["intact"] is False
    assert "acc_a" in report["problem"]
    expected = EXPECTED[tamper.__name__]
    if expected is None:
        assert report["recordId"] is None
        assert "the chain head" in report["problem"]
    else:
        assert report["recordId"] == ids[expected]
        assert f"record {ids[expected]}" in report["problem"]
    assert await verify_in_process(database_url, "acc_b") is None  # the other account's chain is untouched


async def verify_in_process(database_url: str, account_id: str) -> chain.ChainBreak | None:
    engine = create_engine(database_url)
    async with session_factory(engine)() as session:
        _, problem = await chain.verify(session, account_id)
    await engine.dispose()
    return problem


async def test_retention_purge_keeps_the_rest_verifiable(database_url: str) -> None:
    engine = create_engine(database_url)
    writer = AuditWriter(session_factory(engine))
    old = datetime.now(UTC) - timedelta(days=7 * 366)
    for n in range(3):
        await writer.write(record("acc_a", n, recorded_at=old + timedelta(minutes=n)))
    for n in range(3, 6):
        await writer.write(record("acc_a", n))
    async with session_factory(engine).begin() as session:
        assert await chain.purge_before(session, "acc_a", datetime.now(UTC) - timedelta(days=6 * 366)) == 3
    async with session_factory(engine)() as session:
        checked, problem = await chain.verify(session)
    await engine.dispose()
    assert problem is None
    assert checked == 3


async def test_records_from_before_the_ip_flag_still_verify(database_url: str) -> None:
    """Records written before migration 0004 (no `ip_invalid` column) keep their hashes; new records, flagged
    or not, extend the same chains (tests/unit/test_audit_normalise.py pins the hash of an unflagged record)."""
    engine = create_engine(database_url)
    await write_records(database_url, {"acc_a": 3})
    await migrate.downgrade(engine, "0003")
    async with engine.connect() as conn:
        columns = await conn.run_sync(lambda sync: {c["name"] for c in inspect(sync).get_columns("pms_audit_logs")})
    assert "ip_invalid" not in columns  # the rows are now exactly as 0003 stored them
    await migrate.upgrade(engine)
    writer = AuditWriter(session_factory(engine))
    await writer.write(record("acc_a", 3, ip_address="not an address, " + "9" * 200))
    await writer.write(record("acc_a", 4))
    async with session_factory(engine)() as session:
        checked, problem = await chain.verify(session)
        flags = [row.ip_invalid for row in await session.scalars(select(AuditLog).order_by(AuditLog.seq))]
    await engine.dispose()
    assert (checked, problem) == (5, None)
    assert flags == [False, False, False, True, False]


APPENDER = textwrap.dedent(
    """
    import asyncio, sys
    from server.audit.record import AuditWriter
    from server.db.engine import create_engine, session_factory
    from tests.integration.test_audit_chain import record

    async def main(url, worker):
        engine = create_engine(url, pool_size=8, max_overflow=0)  # 4 processes stay within max_connections
        writer = AuditWriter(session_factory(engine))
        await asyncio.gather(*(writer.write(record("acc_shared", worker * 1000 + n)) for n in range(50)))
        await engine.dispose()

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    """
)


@requires_postgres
@pytest.mark.postgres
async def test_four_processes_append_to_one_chain(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("concurrent processes need PostgreSQL")
    workers = [
        subprocess.Popen([sys.executable, "-c", APPENDER, database_url, str(n)], env=dict(os.environ)) for n in range(4)
    ]
    assert [w.wait(timeout=120) for w in workers] == [0, 0, 0, 0]
    result = verify_cli(database_url)
    assert result.returncode == 0, result.stdout
    assert json.loads(result.stdout)["recordsChecked"] == 200


class Statements:
    """The statements an engine runs, by their first words (`UPDATE audit_chain_heads`, `INSERT INTO ...`)."""

    def __init__(self, engine: Any) -> None:
        self.seen: list[str] = []
        event.listen(engine.sync_engine, "before_cursor_execute", self._note)

    def _note(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.seen.append(" ".join(statement.split()[:3]))

    def take(self) -> list[str]:
        seen, self.seen = self.seen, []
        return seen


async def test_writers_sharing_known_heads_move_the_head_with_one_update(database_url: str) -> None:
    """The intent ledger appends inside its own transactions, the audit writer in group commits: sharing the heads
    they committed, each append after the other's is one conditional update and one insert. A rolled-back
    append teaches nothing; the chain stays whole either way."""
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    heads = chain.KnownHeads()
    writer = AuditWriter(sessions, heads)
    statements = Statements(engine)
    try:
        await writer.write(record("acc_a", 0))  # the first record: the head is locked and read
        assert "UPDATE audit_chain_heads SET" in statements.take()
        async with sessions.begin() as session:
            await heads.append_in(session, [record("acc_a", 1)])
        await writer.write(record("acc_a", 2))
        assert [s for s in statements.take() if "audit_chain_heads" in s or "pms_audit_logs" in s] == [
            "UPDATE audit_chain_heads SET",
            "INSERT INTO pms_audit_logs",
            "UPDATE audit_chain_heads SET",
            "INSERT INTO pms_audit_logs",
        ]
        async with sessions() as session:
            await heads.append_in(session, [record("acc_a", 3)])
            await session.rollback()
        await writer.write(record("acc_a", 4))
        async with sessions() as session:
            checked, problem = await chain.verify(session)
    finally:
        await engine.dispose()
    assert (checked, problem) == (4, None)
