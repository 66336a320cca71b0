"""Audit chain anchors: every account's chain head (account, seq, hash, and when that record was written),
authenticated with a key the database does not hold and written outside it by `parlae-mcp audit anchor`
(every few minutes: terraform's `audit_anchor_interval_minutes`, 10 by default). Against the newest authentic
anchor, removing or rewriting anchored records, or cutting a chain's tail and rolling its head back, no longer
verifies; records written since it are protected by the chain alone until the next run.

One document per run, never overwritten: `{"version": 1, "anchoredAt", "heads": [{"accountId", "seq", "hash",
"recordedAt"}], "keyId", "mac"}`, where mac = HMAC-SHA256 over the SHA-256 of the RFC 8785 canonical JSON of
everything but `mac` (hashed first because KMS MACs messages of at most 4 KiB). `recordedAt` is null when the
head record had already been purged by retention.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar

import anyio.to_thread
import rfc8785
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.audit import chain
from server.audit.anchor_key import AnchorKey, key_from_settings
from server.audit.anchor_store import AnchorStore, anchor_name, store_from_url
from server.db.models import AuditChainHead, AuditLog
from server.settings import Settings

VERSION = 1
T = TypeVar("T")


class AnchorError(Exception):
    """The anchor store or the key service failed; the message names where (never a secret)."""


@dataclass(frozen=True)
class AnchoredHead:
    account_id: str
    seq: int
    hash: str
    recorded_at: datetime | None


@dataclass(frozen=True)
class Anchor:
    name: str
    anchored_at: datetime
    heads: tuple[AnchoredHead, ...]


class _Head(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    accountId: str = Field(min_length=1, max_length=32)
    seq: int = Field(ge=0, le=2**53 - 1)
    hash: str = Field(pattern="^[0-9a-f]{64}$")
    recordedAt: AwareDatetime | None = Field(strict=False)


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal[1]
    anchoredAt: AwareDatetime
    heads: list[_Head]
    keyId: str
    mac: str


def _message(unsigned: dict[str, Any]) -> bytes:
    return hashlib.sha256(bytes(rfc8785.dumps(unsigned))).digest()


def head_json(head: AnchoredHead) -> dict[str, Any]:
    recorded_at = head.recorded_at.isoformat() if head.recorded_at else None
    return {"accountId": head.account_id, "seq": head.seq, "hash": head.hash, "recordedAt": recorded_at}


def signed_document(heads: Iterable[AnchoredHead], at: datetime, key: AnchorKey) -> bytes:
    """The anchor document for `heads` at `at`, MAC included (calls KMS with a KMS key: blocking)."""
    unsigned = {
        "version": VERSION,
        "anchoredAt": at.isoformat(),
        "heads": [head_json(head) for head in heads],
        "keyId": key.key_id,
    }
    mac = base64.b64encode(key.mac(_message(unsigned))).decode()
    return json.dumps({**unsigned, "mac": mac}, indent=1).encode()


def authentic(name: str, body: bytes, key: AnchorKey) -> Anchor | None:
    """The anchor in `body` if its MAC verifies under `key`; None if forged, signed with another key or malformed."""
    try:
        raw = json.loads(body)
        document = _Document.model_validate(raw)
        mac = base64.b64decode(document.mac, validate=True)
        message = _message({field: value for field, value in raw.items() if field != "mac"})
    except (ValueError, ValidationError):  # json, base64 and rfc8785 errors are ValueErrors
        return None
    if not key.verify(message, mac):
        return None
    heads = tuple(AnchoredHead(head.accountId, head.seq, head.hash, head.recordedAt) for head in document.heads)
    return Anchor(name, document.anchoredAt, heads)


async def _off_thread(where: str, work: Callable[[], T]) -> T:
    """Run a blocking store or key call on a worker thread; its failures become AnchorError."""
    try:
        return await anyio.to_thread.run_sync(work)
    except ClientError as exc:
        raise AnchorError(f"{where}: {exc.response.get('Error', {}).get('Code', 'error')}") from None
    except (BotoCoreError, OSError) as exc:
        raise AnchorError(f"{where}: {type(exc).__name__}") from None


@dataclass(frozen=True)
class Anchoring:
    store: AnchorStore
    key: AnchorKey

    async def write(self, heads: list[AnchoredHead], at: datetime) -> str:
        """Sign and add a new anchor; its URL."""
        return await _off_thread(
            self.store.url, lambda: self.store.put(anchor_name(at), signed_document(heads, at, self.key))
        )

    async def latest(self) -> tuple[Anchor | None, list[str]]:
        """The newest authentic anchor (None if there is none), and a problem for each newer one that is not."""
        return await _off_thread(self.store.url, self._latest)

    def _latest(self) -> tuple[Anchor | None, list[str]]:
        problems: list[str] = []
        for name in reversed(self.store.names()):
            anchor = authentic(name, self.store.get(name), self.key)
            if anchor is not None:
                return anchor, problems
            problems.append(f"anchor {name} is not authentic (bad MAC, another key, or malformed)")
        return None, problems


def anchoring_from_settings(settings: Settings) -> Anchoring | None:
    """The configured store and key; None when AUDIT_ANCHOR_URL is unset (ConfigError if half-configured)."""
    if settings.audit_anchor_url is None:
        return None
    key = key_from_settings(settings)
    store = store_from_url(
        settings.audit_anchor_url, region=settings.aws_region, endpoint_url=settings.aws_endpoint_url
    )
    return Anchoring(store, key)


async def chain_heads(session: AsyncSession) -> dict[str, AuditChainHead]:
    return {head.account_id: head for head in await session.scalars(select(AuditChainHead))}


async def check_head(
    session: AsyncSession,
    anchored: AnchoredHead,
    head: AuditChainHead | None,
    anchor: Anchor,
    retention_cutoff: datetime,
    *,
    walk: bool,
) -> tuple[int, chain.ChainBreak | None]:
    """Is the chain consistent with its anchored head? With `walk`, also verify the records after it.

    The anchored record must still exist with the anchored hash and its head must not be behind it. Retention
    may have purged it, but only if it is older than the retention period: then the chain's base is exactly it,
    or the anchor itself is older than the retention period (records after a younger anchor cannot have been
    purged)."""
    account, seq = anchored.account_id, anchored.seq
    if head is None:
        problem: tuple[str, int | None] | None = (
            f"anchored at seq {seq}, but the chain head is gone: records removed or rewritten",
            None,
        )
    else:
        problem = await _contradiction(session, anchored, head, anchor, retention_cutoff)
    if problem is not None:
        reason, record_id = problem
        return 0, chain.ChainBreak(account, record_id, f"{reason} (anchor {anchor.name})")
    if not walk or head is None:
        return 0, None
    # an anchored record below the base was purged with its successors, legitimately: walk from the base
    after = None if seq < head.base_seq else (seq, anchored.hash)
    return await chain.verify_account(session, account, head, after)


async def _contradiction(
    session: AsyncSession, anchored: AnchoredHead, head: AuditChainHead, anchor: Anchor, retention_cutoff: datetime
) -> tuple[str, int | None] | None:
    """What the chain says against its anchored head: (reason, record id), or None."""
    seq = anchored.seq
    if head.seq < seq:
        return f"rolled back to seq {head.seq}, below the anchored seq {seq}", None
    if seq < head.base_seq:
        if anchor.anchored_at >= retention_cutoff:
            reason = f"records after the anchored seq {seq} were removed (the chain now starts after {head.base_seq})"
            return reason, None
        return None
    if seq == head.base_seq:
        if head.base_hash != anchored.hash:
            return f"the anchored record seq {seq} was removed or rewritten (the chain's base differs)", None
        if anchored.recorded_at is not None and anchored.recorded_at >= retention_cutoff:
            return f"the anchored record seq {seq} and those before it were removed before retention allows", None
        return None
    row = await session.scalar(select(AuditLog).where(AuditLog.account_id == anchored.account_id, AuditLog.seq == seq))
    if row is None:
        return f"the anchored record seq {seq} was removed or rewritten (it is missing)", None
    if row.hash != anchored.hash or chain.link_hash(row.prev_hash, chain.row_values(row)) != anchored.hash:
        return f"the anchored record seq {seq} was removed or rewritten", row.id
    return None


async def verify_against(
    session: AsyncSession, anchor: Anchor, retention_cutoff: datetime, account_id: str | None = None
) -> chain.ChainBreak | None:
    """`audit verify`: the first anchored head (of every account, or of one) the database contradicts."""
    heads = await chain_heads(session)
    for anchored in anchor.heads:
        if account_id is None or anchored.account_id == account_id:
            _, problem = await check_head(
                session, anchored, heads.get(anchored.account_id), anchor, retention_cutoff, walk=False
            )
            if problem is not None:
                return problem
    return None


async def verify_since(
    session: AsyncSession, anchor: Anchor | None, retention_cutoff: datetime
) -> tuple[int, chain.ChainBreak | None, list[AnchoredHead]]:
    """`audit anchor`, before writing: every chain is consistent with the previous anchor and its records after
    it verify (whole chains for accounts it did not name). Returns (records checked, first problem, the heads
    to anchor) from one snapshot, so a chain rolled back since the last anchor is never anchored."""
    heads = await chain_heads(session)
    anchored = {head.account_id: head for head in anchor.heads} if anchor else {}
    checked = 0
    for account in sorted(set(heads) | set(anchored)):
        if account in anchored and anchor is not None:
            count, problem = await check_head(
                session, anchored[account], heads.get(account), anchor, retention_cutoff, walk=True
            )
        else:
            count, problem = await chain.verify_account(session, account, heads[account])
        checked += count
        if problem is not None:
            return checked, problem, []
    on_head = (AuditChainHead.account_id == AuditLog.account_id) & (AuditChainHead.seq == AuditLog.seq)
    rows = await session.execute(select(AuditLog.account_id, AuditLog.recorded_at).join(AuditChainHead, on_head))
    recorded = dict(rows.all())
    return (
        checked,
        None,
        [AnchoredHead(a, h.seq, h.last_hash, recorded.get(a)) for a, h in sorted(heads.items())],
    )
