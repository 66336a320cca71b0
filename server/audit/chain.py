"""Per-account hash chain: `hash = SHA-256(prev_hash ‖ RFC 8785 canonical JSON of the record)`.

Appends move the chain head first, so concurrent replicas and processes cannot fork a chain. A writer that knows
the head it committed last moves it with one conditional update (`... WHERE seq = known AND last_hash = known`:
a row lock on PostgreSQL, the write lock on SQLite) and inserts; when another writer moved the head meanwhile
(the update changes nothing), it takes the head's lock and reads it (`UPDATE ... RETURNING`), inserts, and
writes the new last hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import rfc8785
from sqlalchemy import Table, delete, event, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from server.db.engine import upsert_for
from server.db.models import AuditChainHead, AuditLog

GENESIS = "0" * 64
CHAINED_FIELDS = (
    "account_id",
    "seq",
    "recorded_at",
    "integration_id",
    "action",
    "crud",
    "endpoint",
    "method",
    "actor",
    "vapi_call_id",
    "ip_address",
    "request_summary",
    "response_status",
    "response_time_ms",
    "phi_accessed",
    "phi_fields",
    "patient_ref",
    "outcome",
    "error_code",
    "prev_hash",
)
# Flags added after records were first chained: hashed only when true, so older records keep their hashes.
FLAGS = ("ip_invalid",)


def canonical(record: dict[str, Any]) -> bytes:
    values = {name: record[name] for name in CHAINED_FIELDS}
    values["recorded_at"] = values["recorded_at"].isoformat()
    values.update({flag: True for flag in FLAGS if record.get(flag)})
    return bytes(rfc8785.dumps(values))


def link_hash(prev_hash: str, record: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical(record)).hexdigest()


def row_values(row: AuditLog) -> dict[str, Any]:
    return {name: getattr(row, name) for name in (*CHAINED_FIELDS, *FLAGS)}


HEADS = cast(Table, AuditChainHead.__table__)
LOGS = cast(Table, AuditLog.__table__)


@dataclass(frozen=True)
class Head:
    """Where an account's chain ends: its last sequence number and hash."""

    seq: int
    last_hash: str


async def _lock_head(conn: AsyncConnection, account_id: str, count: int) -> tuple[int, str]:
    """Advance the head's sequence by `count` under its lock (the new last seq, the previous last hash);
    create the head on an account's first record."""
    advance = (
        update(HEADS)
        .where(HEADS.c.account_id == account_id)
        .values(seq=HEADS.c.seq + count)
        .returning(HEADS.c.seq, HEADS.c.last_hash)
    )
    row = (await conn.execute(advance)).first()
    if row is None:
        await conn.execute(
            upsert_for(conn.dialect.name, HEADS)
            .values(account_id=account_id, seq=0, last_hash=GENESIS, base_seq=0, base_hash=GENESIS)
            .on_conflict_do_nothing(index_elements=["account_id"])
        )
        row = (await conn.execute(advance)).one()
    return int(row[0]), str(row[1])


def _linked(batch: list[dict[str, Any]], head: Head) -> tuple[list[dict[str, Any]], Head]:
    """The batch's rows chained after `head`, and the head they leave."""
    rows, seq, prev_hash = [], head.seq, head.last_hash
    for fields in batch:
        seq += 1
        record = {**fields, "seq": seq, "prev_hash": prev_hash}
        prev_hash = link_hash(prev_hash, record)
        rows.append({**record, "hash": prev_hash})
    return rows, Head(seq, prev_hash)


async def _moved_from(conn: AsyncConnection, account_id: str, known: Head, new: Head) -> bool:
    """Move the head from `known` to `new` if it is still at `known` (its row lock held from here)."""
    moved = await conn.execute(
        update(HEADS)
        .where(HEADS.c.account_id == account_id, HEADS.c.seq == known.seq, HEADS.c.last_hash == known.last_hash)
        .values(seq=new.seq, last_hash=new.last_hash)
    )
    return bool(moved.rowcount)


async def append_many(
    conn: AsyncConnection, records: list[dict[str, Any]], known: Mapping[str, Head] | None = None
) -> dict[str, Head]:
    """Add records, in order, to their accounts' chains inside the caller's transaction (Core statements: this
    is the hot path). Per account, with its head as `known` says (the last one this writer committed): one
    conditional head update and one insert; otherwise one head lock, one insert and one head write. Returns the
    heads the records leave, for the next append once this transaction is committed."""
    by_account: dict[str, list[dict[str, Any]]] = {}
    for fields in records:
        by_account.setdefault(fields["account_id"], []).append(fields)
    heads: dict[str, Head] = {}
    for account_id, batch in by_account.items():
        head = (known or {}).get(account_id)
        if head is not None:
            rows, heads[account_id] = _linked(batch, head)
            if await _moved_from(conn, account_id, head, heads[account_id]):
                await conn.execute(insert(LOGS), rows)
                continue
        last_seq, prev_hash = await _lock_head(conn, account_id, len(batch))
        rows, heads[account_id] = _linked(batch, Head(last_seq - len(batch), prev_hash))
        await conn.execute(insert(LOGS), rows)
        await conn.execute(
            update(HEADS).where(HEADS.c.account_id == account_id).values(last_hash=heads[account_id].last_hash)
        )
    return heads


class KnownHeads:
    """The chain heads this process committed last, shared by its writers (the audit writer's group commits and
    the intent ledger's records), so an append after another writer's usually takes the one-update path. A stale
    head costs only the locked path: the conditional update cannot move a head that has moved on."""

    def __init__(self) -> None:
        self._heads: dict[str, Head] = {}

    async def append(self, conn: AsyncConnection, records: list[dict[str, Any]]) -> dict[str, Head]:
        """`append_many` from the known heads; pass what it returns to `committed` once the transaction is."""
        return await append_many(conn, records, self._heads)

    def committed(self, heads: Mapping[str, Head]) -> None:
        self._heads.update(heads)

    async def append_in(self, session: AsyncSession, records: list[dict[str, Any]]) -> None:
        """Append inside the session's transaction; the heads it leaves are known once that commits."""
        heads = await self.append(await session.connection(), records)
        event.listen(session.sync_session, "after_commit", lambda _: self.committed(heads), once=True)


@dataclass(frozen=True)
class ChainBreak:
    account_id: str
    record_id: int | None
    reason: str

    def describe(self) -> str:
        where = f"record {self.record_id}" if self.record_id is not None else "the chain head"
        return f"account {self.account_id}: {where}: {self.reason}"


async def snapshot(session: AsyncSession) -> None:
    """Make the session's reads one snapshot (call first): records appended meanwhile are then not half-seen.
    PostgreSQL needs REPEATABLE READ for that; SQLite's read transaction is a snapshot already."""
    if session.get_bind().dialect.name == "postgresql":
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


async def verify(session: AsyncSession, account_id: str | None = None) -> tuple[int, ChainBreak | None]:
    """Walk each chain in insertion order; returns (records checked, first break or None)."""
    heads_query = select(AuditChainHead).order_by(AuditChainHead.account_id)
    logs_query = select(AuditLog.account_id).distinct()
    if account_id is not None:
        heads_query = heads_query.where(AuditChainHead.account_id == account_id)
        logs_query = logs_query.where(AuditLog.account_id == account_id)
    heads = {head.account_id: head for head in await session.scalars(heads_query)}
    accounts = sorted(set(heads) | set(await session.scalars(logs_query)))
    checked = 0
    for account in accounts:
        count, problem = await verify_account(session, account, heads.get(account))
        checked += count
        if problem is not None:
            return checked, problem
    return checked, None


async def verify_account(
    session: AsyncSession, account_id: str, head: AuditChainHead | None, after: tuple[int, str] | None = None
) -> tuple[int, ChainBreak | None]:
    """Walk one account's records in insertion order to its head: from the chain's base, or only those after
    `after`, a (seq, hash) already known to be good."""
    query = select(AuditLog).where(AuditLog.account_id == account_id)
    if after is None:
        expected_seq, prev_hash = (head.base_seq, head.base_hash) if head else (0, GENESIS)
    else:
        (expected_seq, prev_hash), query = after, query.where(AuditLog.seq > after[0])
    expected_seq += 1
    checked = 0
    rows = await session.stream_scalars(query.order_by(AuditLog.id).execution_options(yield_per=500))
    async for row in rows:
        checked += 1
        if row.seq != expected_seq:
            return checked, ChainBreak(account_id, row.id, f"sequence {row.seq} where {expected_seq} was expected")
        if row.prev_hash != prev_hash:
            return checked, ChainBreak(account_id, row.id, "prev_hash does not match the previous record")
        if link_hash(row.prev_hash, row_values(row)) != row.hash:
            return checked, ChainBreak(account_id, row.id, "contents do not match the record's hash")
        expected_seq, prev_hash = expected_seq + 1, row.hash
    if head is None:
        return checked, ChainBreak(account_id, None, "records exist but the chain head is missing")
    if head.seq != expected_seq - 1 or head.last_hash != prev_hash:
        return checked, ChainBreak(account_id, None, "the last record was removed (head is ahead of the records)")
    return checked, None


async def purge_before(session: AsyncSession, account_id: str, cutoff: Any) -> int:
    """Delete an account's records older than `cutoff` (retention), moving the chain's base past them so
    the remaining records still verify. Takes the head lock like an append."""
    head = await session.scalar(select(AuditChainHead).where(AuditChainHead.account_id == account_id).with_for_update())
    if head is None:
        return 0
    last = await session.scalar(
        select(AuditLog)
        .where(AuditLog.account_id == account_id, AuditLog.recorded_at < cutoff)
        .order_by(AuditLog.seq.desc())
        .limit(1)
    )
    if last is None:
        return 0
    result = await session.execute(delete(AuditLog).where(AuditLog.account_id == account_id, AuditLog.seq <= last.seq))
    head.base_seq, head.base_hash = last.seq, last.hash
    return int(result.rowcount)  # type: ignore[attr-defined]
