"""Anchored audit chains: `audit anchor` writes signed chain heads outside the database; `audit verify` exits 1
when anchored records were removed or rewritten or a head was rolled back, even when an attacker with database
access re-chained everything so the chain alone verifies."""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import textwrap
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select

from server.audit import chain
from server.audit.anchor import AnchoredHead, Anchoring, verify_since
from server.audit.anchor_key import FileKey
from server.audit.anchor_store import DirectoryStore
from server.audit.record import AuditWriter
from server.db.engine import create_engine, session_factory
from server.db.models import AuditChainHead, AuditLog
from tests.conftest import new_phi_key, requires_postgres
from tests.integration.test_audit_chain import record, write_records

pytestmark = pytest.mark.anyio
RETENTION = timedelta(days=6 * 366)


def new_key_file(path: Path) -> Path:
    path.write_text(base64.b64encode(secrets.token_bytes(32)).decode())
    return path


@dataclass
class Anchored:
    """A database, an anchor directory and its key, and the CLI configured for them."""

    database_url: str
    anchors: Path
    key_file: Path

    def env(self, **overrides: str | None) -> dict[str, str]:
        env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "PHI_ENCRYPTION_KEY": new_phi_key(),
            "LOG_LEVEL": "WARNING",
            "AUDIT_ANCHOR_URL": self.anchors.as_uri(),
            "AUDIT_ANCHOR_KEY_FILE": str(self.key_file),
        }
        for name, value in overrides.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        return env

    def cli(self, *args: str, **env: str | None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app", "audit", *args],
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def json(self, *args: str, expect: int = 0) -> dict[str, Any]:
        result = self.cli(*args, "--json")
        assert result.returncode == expect, (result.stdout, result.stderr)
        return json.loads(result.stdout)  # type: ignore[no-any-return]

    def anchoring(self, key_file: Path | None = None) -> Anchoring:
        return Anchoring(DirectoryStore(self.anchors), FileKey.load(key_file or self.key_file))

    def names(self) -> list[str]:
        return DirectoryStore(self.anchors).names()


@pytest.fixture
def anchored(database_url: str, tmp_path: Path) -> Anchored:
    return Anchored(database_url, tmp_path / "anchors", new_key_file(tmp_path / "anchor.key"))


async def chain_alone(database_url: str) -> chain.ChainBreak | None:
    engine = create_engine(database_url)
    async with session_factory(engine)() as session:
        _, problem = await chain.verify(session)
    await engine.dispose()
    return problem


# --- what an attacker with database access does: each leaves a chain that verifies on its own ----------------


async def rechain(database_url: str, account: str, from_seq: int, **edit: Any) -> None:
    """Rewrite the record at `from_seq`, then recompute every later hash and the head."""
    engine = create_engine(database_url)
    async with session_factory(engine).begin() as session:
        rows = (
            await session.scalars(select(AuditLog).where(AuditLog.account_id == account).order_by(AuditLog.seq))
        ).all()
        prev_hash = chain.GENESIS
        for row in rows:
            if row.seq == from_seq:
                for name, value in edit.items():
                    setattr(row, name, value)
            if row.seq >= from_seq:
                row.prev_hash = prev_hash
                row.hash = chain.link_hash(prev_hash, chain.row_values(row))
            prev_hash = row.hash
        head = await session.get(AuditChainHead, account)
        assert head is not None
        head.last_hash = prev_hash
    await engine.dispose()


async def roll_back(database_url: str, account: str, to_seq: int) -> None:
    """Cut the chain's tail after `to_seq` and rewind its head there."""
    engine = create_engine(database_url)
    async with session_factory(engine).begin() as session:
        await session.execute(delete(AuditLog).where(AuditLog.account_id == account, AuditLog.seq > to_seq))
        last = await session.scalar(select(AuditLog).where(AuditLog.account_id == account, AuditLog.seq == to_seq))
        head = await session.get(AuditChainHead, account)
        assert last is not None
        assert head is not None
        head.seq, head.last_hash = to_seq, last.hash
    await engine.dispose()


async def remove_account(database_url: str, account: str) -> None:
    """Delete every record of the account and its chain head."""
    engine = create_engine(database_url)
    async with session_factory(engine).begin() as session:
        await session.execute(delete(AuditLog).where(AuditLog.account_id == account))
        await session.execute(delete(AuditChainHead).where(AuditChainHead.account_id == account))
    await engine.dispose()


async def purge_through(database_url: str, account: str, seq: int) -> None:
    """Delete the account's records up to `seq` and move the chain's base there, as retention does."""
    engine = create_engine(database_url)
    async with session_factory(engine).begin() as session:
        last = await session.scalar(select(AuditLog).where(AuditLog.account_id == account, AuditLog.seq == seq))
        head = await session.get(AuditChainHead, account)
        assert last is not None
        assert head is not None
        await session.execute(delete(AuditLog).where(AuditLog.account_id == account, AuditLog.seq <= seq))
        head.base_seq, head.base_hash = seq, last.hash
    await engine.dispose()


async def test_an_intact_chain_that_grew_after_the_anchor_verifies(anchored: Anchored) -> None:
    await write_records(anchored.database_url, {"acc_a": 5, "acc_b": 2})
    first = anchored.json("anchor")
    assert first["previous"] is None
    assert {(h["accountId"], h["seq"]) for h in first["heads"]} == {("acc_a", 5), ("acc_b", 2)}
    assert all(h["recordedAt"] for h in first["heads"])
    assert anchored.names() == [first["url"].rsplit("/", 1)[1]]
    await write_records(anchored.database_url, {"acc_a": 3, "acc_c": 1})
    report = anchored.json("verify")
    assert report["intact"] is True
    assert report["anchor"]["checked"] is True
    assert report["anchor"]["name"] == anchored.names()[-1]
    human = anchored.cli("verify")
    assert human.returncode == 0
    assert "agrees with anchor" in human.stdout
    second = anchored.json("anchor")
    assert second["previous"] == anchored.names()[0]
    assert second["recordsChecked"] == 4 + 1  # acc_a's 3 new, acc_c's 1, and the first anchor's own audit record
    heads = {h["accountId"]: h["seq"] for h in second["heads"]}
    assert heads == {"acc_a": 8, "acc_b": 2, "acc_c": 1, "system": 1}
    assert len(anchored.names()) == 2
    assert anchored.json("verify", "--account-id", "acc_b")["intact"] is True


Tamper = Callable[[str], Awaitable[None]]


async def removed(url: str) -> None:
    await remove_account(url, "acc_a")


async def rewritten(url: str) -> None:
    await rechain(url, "acc_a", 3, request_summary="nothing to see", phi_accessed=False)


async def rolled_back(url: str) -> None:
    await roll_back(url, "acc_a", 4)


async def rewritten_head(url: str) -> None:
    await rechain(url, "acc_a", 6, outcome="denied")


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (removed, "removed or rewritten"),
        (rewritten, "removed or rewritten"),
        (rolled_back, "rolled back to seq 4, below the anchored seq 6"),
        (rewritten_head, "removed or rewritten"),
    ],
    ids=lambda value: getattr(value, "__name__", "")[:20],
)
async def test_tampering_that_passes_the_chain_alone_fails_against_the_anchor(
    anchored: Anchored, tamper: Tamper, expected: str
) -> None:
    await write_records(anchored.database_url, {"acc_a": 6, "acc_b": 2})
    anchored.json("anchor")
    await write_records(anchored.database_url, {"acc_a": 2})
    await tamper(anchored.database_url)
    assert await chain_alone(anchored.database_url) is None  # the chain alone cannot tell
    report = anchored.json("verify", expect=1)
    assert report["intact"] is False
    assert report["problem"].startswith("account acc_a: ")
    assert expected in report["problem"]
    assert anchored.json("verify", "--account-id", "acc_b")["intact"] is True
    refused = anchored.cli("anchor")
    assert refused.returncode == 1
    assert "not anchoring" in refused.stderr
    assert len(anchored.names()) == 1  # the tampered state was not anchored


async def test_a_forged_anchor_is_rejected(anchored: Anchored, tmp_path: Path) -> None:
    await write_records(anchored.database_url, {"acc_a": 4})
    anchored.json("anchor")
    await roll_back(anchored.database_url, "acc_a", 2)
    # The attacker writes a newer anchor for the rolled-back state, signed with a key of their own.
    other_key = new_key_file(tmp_path / "other.key")
    engine = create_engine(anchored.database_url)
    async with session_factory(engine)() as session:
        _, problem, heads = await verify_since(session, None, datetime.now(UTC) - RETENTION)
    await engine.dispose()
    assert problem is None
    forged_url = await anchored.anchoring(other_key).write(heads, datetime.now(UTC) + timedelta(seconds=5))
    report = anchored.json("verify", expect=1)
    assert (
        report["problem"]
        == f"anchor {forged_url.rsplit('/', 1)[1]} is not authentic (bad MAC, another key, or malformed)"
    )
    assert "not authentic" in anchored.cli("anchor").stderr


@pytest.mark.parametrize("damage", ["mac", "heads", "garbage"])
async def test_a_tampered_anchor_document_is_rejected(anchored: Anchored, damage: str) -> None:
    await write_records(anchored.database_url, {"acc_a": 3})
    anchored.json("anchor")
    (name,) = anchored.names()
    path = anchored.anchors / name
    document = json.loads(path.read_text())
    if damage == "mac":
        document["mac"] = base64.b64encode(secrets.token_bytes(32)).decode()
    elif damage == "heads":
        document["heads"][0]["seq"] = 1  # lower the anchored seq, keep the MAC
    path.write_text("{not json" if damage == "garbage" else json.dumps(document))
    report = anchored.json("verify", expect=1)
    assert report["problem"] == f"anchor {name} is not authentic (bad MAC, another key, or malformed)"
    assert report["anchor"] == {"checked": False, "reason": "no authentic anchor yet"}


async def write_in_order(database_url: str, records: list[dict[str, Any]]) -> None:
    engine = create_engine(database_url)
    writer = AuditWriter(session_factory(engine))
    for fields in records:
        await writer.write(fields)
    await engine.dispose()


def long_ago() -> datetime:
    """Older than the audit retention period: records retention may purge."""
    return datetime.now(UTC) - RETENTION - timedelta(days=30)


async def test_retention_may_purge_up_to_an_anchored_record_only_when_it_is_old(anchored: Anchored) -> None:
    old = long_ago()
    await write_in_order(
        anchored.database_url,
        [
            r
            for n in range(3)
            for r in (record("acc_old", n, recorded_at=old + timedelta(minutes=n)), record("acc_new", n))
        ],
    )
    anchored.json("anchor")
    await purge_through(anchored.database_url, "acc_old", 3)  # as retention would: the records are old
    await write_records(anchored.database_url, {"acc_old": 1})
    assert anchored.json("verify")["intact"] is True
    await purge_through(anchored.database_url, "acc_new", 3)  # young records: retention could not have done it
    report = anchored.json("verify", expect=1)
    assert "account acc_new" in report["problem"]
    assert "removed before retention allows" in report["problem"]


async def test_the_base_may_pass_an_anchor_only_if_the_anchor_is_older_than_retention(anchored: Anchored) -> None:
    old = long_ago()
    await write_in_order(
        anchored.database_url, [record("acc_a", n, recorded_at=old + timedelta(days=n)) for n in range(4)]
    )
    engine = create_engine(anchored.database_url)
    async with session_factory(engine)() as session:
        first = await session.scalar(select(AuditLog).where(AuditLog.seq == 1))
    await engine.dispose()
    assert first is not None
    anchored_head = AnchoredHead("acc_a", 1, first.hash, first.recorded_at)
    # An anchor of seq 1 written long ago, then records 2..4 purged with it: legitimate.
    await anchored.anchoring().write([anchored_head], old + timedelta(hours=1))
    await purge_through(anchored.database_url, "acc_a", 3)
    assert anchored.json("verify")["intact"] is True
    # The same state against a recent anchor of seq 1: records younger than the anchor were removed.
    await anchored.anchoring().write([anchored_head], datetime.now(UTC))
    report = anchored.json("verify", expect=1)
    assert "records after the anchored seq 1 were removed" in report["problem"]


async def test_configuration_errors_exit_2(anchored: Anchored, tmp_path: Path) -> None:
    await write_records(anchored.database_url, {"acc_a": 1})
    cases: list[tuple[list[str], dict[str, str | None], str]] = [
        (["anchor"], {"AUDIT_ANCHOR_URL": None}, "AUDIT_ANCHOR_URL: not set"),
        (["anchor"], {"AUDIT_ANCHOR_KEY_FILE": None}, "set exactly one"),
        (["verify"], {"AUDIT_ANCHOR_KMS_KEY_ID": "alias/anchors"}, "set exactly one"),
        (["verify"], {"AUDIT_ANCHOR_KEY_FILE": str(tmp_path / "missing.key")}, "cannot read the key file"),
        (["anchor"], {"AUDIT_ANCHOR_URL": "https://example.com/anchors"}, "AUDIT_ANCHOR_URL: must be s3://"),
        (["anchor"], {"FORWARDED_ALLOW_IPS": "10.0.0.0/8, ALB"}, "FORWARDED_ALLOW_IPS: 'ALB' is not an IP"),
    ]
    short = tmp_path / "short.key"
    short.write_text(base64.b64encode(b"too short").decode())
    cases.append((["anchor"], {"AUDIT_ANCHOR_KEY_FILE": str(short)}, "at least 32 random bytes"))
    for args, env, message in cases:
        result = anchored.cli(*args, **env)
        assert (result.returncode, message in result.stderr) == (2, True), (args, env, result.stderr)
    unconfigured = anchored.json("verify", "--account-id", "acc_a")
    assert unconfigured["anchor"] == {"checked": False, "reason": "no authentic anchor yet"}
    off = anchored.cli("verify", AUDIT_ANCHOR_URL=None, AUDIT_ANCHOR_KEY_FILE=None)
    assert off.returncode == 0
    assert "anchors not checked (AUDIT_ANCHOR_URL is not set)" in off.stdout


BUSY_APPENDER = textwrap.dedent(
    """
    import asyncio, sys, time
    from server.audit.record import AuditWriter
    from server.db.engine import create_engine, session_factory
    from tests.integration.test_audit_chain import record

    async def main(url, seconds):
        engine = create_engine(url, pool_size=2, max_overflow=0)
        writer = AuditWriter(session_factory(engine))
        deadline, n = time.monotonic() + seconds, 0
        while time.monotonic() < deadline:
            await writer.write(record("acc_busy", n))
            n += 1
        await engine.dispose()

    asyncio.run(main(sys.argv[1], float(sys.argv[2])))
    """
)


@requires_postgres
@pytest.mark.postgres
async def test_anchor_and_verify_while_records_are_appended(anchored: Anchored) -> None:
    """Each command reads one snapshot, so records committed meanwhile are never half-seen as a broken chain."""
    if not anchored.database_url.startswith("postgresql"):
        pytest.skip("concurrent processes need PostgreSQL")
    await write_records(anchored.database_url, {"acc_busy": 1})
    appenders = [
        subprocess.Popen([sys.executable, "-c", BUSY_APPENDER, anchored.database_url, "8"], env=dict(os.environ))
        for _ in range(2)
    ]
    try:
        for _ in range(3):
            assert anchored.json("anchor")["heads"]
            assert anchored.json("verify")["intact"] is True
    finally:
        assert [appender.wait(timeout=60) for appender in appenders] == [0, 0]
    assert anchored.json("verify")["intact"] is True
