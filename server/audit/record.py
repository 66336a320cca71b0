"""`async with audit.record(...) as entry`: one audit record per call, committed before the result leaves; no
record, no result.

The record names the account, integration, token (never the token itself), Vapi call id and client IP; the
Sikka endpoints the call used; a PHI-free summary; whether PHI was touched, which fields (names only) and
whose (Sikka patient ids); the outcome and its error code.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import anyio
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from server.audit import chain
from server.audit.normalise import normalised
from server.caller import Caller
from server.db.engine import database_unavailable
from server.db.models import utcnow
from server.logs import get_logger

log = get_logger(__name__)

R = TypeVar("R", bound="AuditedResult")
CRUD = frozenset("CRUDE")

# The upstream requests ("GET patients", ...) of the audited call in progress (see `note_upstream`).
_upstream: ContextVar[list[str] | None] = ContextVar("audited_upstream_calls", default=None)


def note_upstream(method: str, endpoint: str) -> None:
    """The Sikka client's request hook: the audited call in progress made this request."""
    calls = _upstream.get()
    if calls is not None:
        calls.append(f"{method} {endpoint}")


@contextmanager
def upstream_calls() -> Iterator[list[str]]:
    """Collect the upstream requests made inside the block."""
    calls: list[str] = []
    token = _upstream.set(calls)
    try:
        yield calls
    finally:
        _upstream.reset(token)


class AuditUnavailable(Exception):
    """The audit record could not be written; the call must not return data. `result` is what the call would have
    answered (its caller may say, without data, that a write was sent)."""

    def __init__(self, message: str, result: object = None) -> None:
        super().__init__(message)
        self.result = result


class AuditedResult(Protocol):
    def audit_outcome(self) -> tuple[str, int, str | None]:
        """(outcome "success"|"denied"|"failed", response status, error code)."""
        ...


@dataclass
class AuditEntry:
    """The record of one audited call while it runs. `account_id` starts as the caller's; a webhook delivery
    or an operator command names the practice once it knows it."""

    action: str
    crud: str
    caller: Caller
    phi_fields: tuple[str, ...]
    account_id: str = ""
    summary: str = ""
    phi_accessed: bool = False
    patient_refs: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    answer: AuditedResult | None = None  # what the call answers; its outcome is recorded

    def answered(self, result: R) -> R:
        """The call answers `result` (recorded by its outcome when the block ends)."""
        self.answer = result
        return result

    def __post_init__(self) -> None:
        self.account_id = self.account_id or self.caller.account_id

    def touched(self, *patient_ids: str) -> None:
        """PHI of these patients was read, disclosed or changed by this call."""
        self.phi_accessed = True
        self.targeted(*patient_ids)

    def targeted(self, *patient_ids: str) -> None:
        """This call concerned these patients (e.g. a failed identity check) without disclosing their PHI."""
        for patient_id in patient_ids:
            if patient_id and patient_id not in self.patient_refs:
                self.patient_refs.append(patient_id)

    def record(self, outcome: str, status: int, error_code: str | None, sikka_calls: list[str]) -> dict[str, Any]:
        endpoints = list(dict.fromkeys(call.split(" ", 1)[1] for call in sikka_calls))
        methods = list(dict.fromkeys(call.split(" ", 1)[0] for call in sikka_calls))
        return {
            "account_id": self.account_id,
            "recorded_at": utcnow(),
            "integration_id": self.caller.integration_id,
            "action": self.action,
            "crud": self.crud,
            "endpoint": ",".join(endpoints) or None,
            "method": ",".join(methods) or None,
            "actor": self.caller.actor,
            "vapi_call_id": self.caller.call_id or None,
            "ip_address": self.caller.client_ip,
            "request_summary": self.summary,
            "response_status": status,
            "response_time_ms": round((time.perf_counter() - self.started) * 1000),
            "phi_accessed": self.phi_accessed,
            "phi_fields": sorted(self.phi_fields) if self.phi_accessed else [],
            "patient_ref": ",".join(self.patient_refs) or None,
            "outcome": outcome,
            "error_code": error_code,
        }


class AuditWriter:
    """Group commit: records written while a transaction is committing wait for it, then go together in the
    next one. Each `write` returns only once its own record is committed. The writer starts from the chain heads
    the process committed last (`heads`, shared with the intent ledger), so an append usually moves a head with one
    conditional update (server.audit.chain).

    Records are normalised before they join a batch, so no caller's value can fail the batch. Should a batch
    fail anyway for one of its records, each record is retried on its own and only the failing one's caller
    gets AuditUnavailable; when the database itself is unavailable, every caller does, without retries.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], heads: chain.KnownHeads | None = None) -> None:
        self.sessions = sessions
        self._queue: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._lock = asyncio.Lock()
        self.heads = heads or chain.KnownHeads()  # the chain heads this process committed last

    @asynccontextmanager
    async def record(
        self, action: str, caller: Caller, *, crud: str, phi_fields: tuple[str, ...]
    ) -> AsyncIterator[AuditEntry]:
        """The block is one audited call: it opens the entry for the caller and, when the block ends, writes the
        record of `entry.answered(...)`. An exception is recorded as a failure (a cancelled call too) and
        re-raised. Raises AuditUnavailable (carrying the answer) when the record cannot be written. `phi_fields`
        are the PHI field names the call may touch (required: a new tool cannot forget them)."""
        if crud not in CRUD or len(crud) != 1:
            raise ValueError(f"crud must be one of C, R, U, D, E (got {crud!r})")
        entry = AuditEntry(action=action, crud=crud, caller=caller, phi_fields=phi_fields)
        with upstream_calls() as upstream:
            try:
                yield entry
            except BaseException as exc:
                with anyio.CancelScope(shield=True):  # a cancelled call is still audited
                    await self.write(entry.record("failed", 500, type(exc).__name__, upstream))
                raise
        if entry.answer is None:
            raise RuntimeError(f"the audited block {action} ended without an answer (entry.answered)")
        try:
            await self.write(entry.record(*entry.answer.audit_outcome(), upstream))
        except AuditUnavailable as exc:
            raise AuditUnavailable(str(exc), entry.answer) from exc

    async def write(self, record: dict[str, Any]) -> None:
        """Append and commit; raises AuditUnavailable (the caller fails closed)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((normalised(record), done))
        async with self._lock:
            if not done.done():
                batch, self._queue = self._queue, []
                with anyio.CancelScope(shield=True):  # the batch holds other callers' records too
                    await self._commit(batch)
        await done

    async def _commit(self, batch: list[tuple[dict[str, Any], asyncio.Future[None]]]) -> None:
        try:
            failure = await self._append(batch)
            if failure is None:
                _settle(batch)
            elif len(batch) > 1 and not database_unavailable(failure):
                log.warning("audit batch failed; writing its records one by one", records=len(batch))
                for item in batch:
                    if await self._append([item]) is None:
                        _settle([item])
        finally:  # whatever happened, nobody waits forever for this batch
            for _, done in batch:
                if not done.done():
                    done.set_exception(AuditUnavailable("the audit record could not be written"))

    async def _append(self, batch: list[tuple[dict[str, Any], asyncio.Future[None]]]) -> Exception | None:
        """Append the batch's records in one transaction; the error that rolled it back, if any."""
        try:
            engine: AsyncEngine = self.sessions.kw["bind"]  # a bare connection: no ORM session on the hot path
            async with engine.begin() as conn:
                heads = await self.heads.append(conn, [record for record, _ in batch])
        except Exception as exc:  # a database error, or a record the chain cannot take
            log.error("audit write failed", records=len(batch), error=type(exc).__name__)
            return exc
        self.heads.committed(heads)
        return None


def _settle(batch: list[tuple[dict[str, Any], asyncio.Future[None]]]) -> None:
    for _, done in batch:
        if not done.done():  # its caller was cancelled meanwhile
            done.set_result(None)
