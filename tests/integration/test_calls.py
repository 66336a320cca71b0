"""The end of a call (server/calls.py) removes exactly that call's state: its per-call attempt counters and its
settled write outcomes, in its own practice; the patient's and the token's counters, a write still running, other
calls and other practices keep theirs. Each end is audited. SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from server.caller import Caller
from server.calls import CALL_SCOPE, call_ended, call_key, call_started
from server.db.models import AuditLog, IdempotencyKey, IdentityAttempt
from server.services import Services, open_services
from tests.conftest import make_settings
from tools.identity import PER_CALL, PER_PATIENT, PER_TOKEN

pytestmark = pytest.mark.anyio
ACCOUNT, OTHER = "acct_calls_1", "acct_calls_2"


async def outcome_row(services: Services, account_id: str, call_id: str, key: str, status: str) -> None:
    row = IdempotencyKey(
        key_hash=key,
        account_id=account_id,
        tool="takeMessage",
        status=status,
        result="encrypted" if status == "done" else None,
        call_key=await call_key(services.blind_index, account_id, call_id),
    )
    async with services.sessions.begin() as session:
        session.add(row)


async def test_the_end_of_a_call_removes_that_calls_state_and_nothing_else(database_url: str) -> None:
    async with open_services(make_settings(database_url)) as services:
        for account_id in (ACCOUNT, OTHER):
            for call_id in ("call-x", "call-y"):
                await services.attempts.reserve(
                    account_id, [(PER_PATIENT, "p1"), (PER_TOKEN, "tok_1"), (PER_CALL, call_id)]
                )
        await outcome_row(services, ACCOUNT, "call-x", "k-settled", "done")
        await outcome_row(services, ACCOUNT, "call-x", "k-running", "in_progress")
        await outcome_row(services, ACCOUNT, "call-y", "k-other-call", "done")
        await outcome_row(services, OTHER, "call-x", "k-other-practice", "done")

        caller = Caller(ACCOUNT, "tok_1", call_id="call-x", caller_number="+14155550100")
        await call_started(services, caller)  # nothing to prepare yet: changes nothing
        ended = await call_ended(services, caller)
        again = await call_ended(services, caller)  # status-update `ended`, then the end-of-call report

        async with services.sessions() as session:
            outcomes = set(await session.scalars(select(IdempotencyKey.key_hash)))
            counters = {
                (row.account_id, row.scope, row.subject) for row in await session.scalars(select(IdentityAttempt))
            }
            audited = (await session.scalars(select(AuditLog).where(AuditLog.action == "vapi.callEnded"))).all()
    assert (ended.outcomes_removed, ended.counters_removed) == (1, 1)
    assert (again.outcomes_removed, again.counters_removed) == (0, 0)
    assert outcomes == {"k-running", "k-other-call", "k-other-practice"}
    assert PER_CALL.scope == CALL_SCOPE
    assert (ACCOUNT, CALL_SCOPE, "call-x") not in counters
    assert {(ACCOUNT, CALL_SCOPE, "call-y"), (OTHER, CALL_SCOPE, "call-x")} <= counters
    assert {(ACCOUNT, "patient", "p1"), (ACCOUNT, "token", "tok_1")} <= counters
    assert [(row.account_id, row.vapi_call_id, row.crud, row.outcome) for row in audited] == [
        (ACCOUNT, "call-x", "D", "success"),
        (ACCOUNT, "call-x", "D", "success"),
    ]
    assert audited[0].request_summary == "call ended: 1 stored outcomes, 1 attempt counters, 0 prefetches removed"
    assert audited[0].phi_accessed is False


async def test_a_call_without_an_id_has_no_state_to_end(database_url: str) -> None:
    async with open_services(make_settings(database_url)) as services:
        await outcome_row(services, ACCOUNT, "call-z", "k-kept", "done")
        ended = await call_ended(services, Caller(ACCOUNT, "tok_1"))
        async with services.sessions() as session:
            kept = set(await session.scalars(select(IdempotencyKey.key_hash)))
    assert (ended.outcomes_removed, ended.counters_removed) == (0, 0)
    assert kept == {"k-kept"}
