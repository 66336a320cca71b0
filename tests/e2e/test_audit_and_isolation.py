"""One audit row per tool call whatever happens; fail closed without the audit; tenants stay apart."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sandbox import DEMO_OFFICE_ID
from server.db.engine import create_engine, session_factory
from server.db.models import AuditLog
from tests.support import SECOND_OFFICE, Stack, another_token, call, identity, mcp_client, running_stack

pytestmark = pytest.mark.anyio
MISMATCH = "identity_mismatch"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Two practices; the cross-tenant probes use their own token of practice A (they fail identity checks by
    the dozen, and per-token limits must not meet the other tests, whatever the order)."""
    database = tmp_path_factory.mktemp("audit") / "parlae.db"
    with running_stack(f"sqlite+aiosqlite:///{database}", two_practices=True) as running:
        running.extra["prober"] = asyncio.run(another_token(running, "tenant probes"))
        yield running


@pytest.fixture
async def db(stack: Stack) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(stack.settings.database_url)
    yield session_factory(engine)
    await engine.dispose()


def demo_patient(stack: Stack, index: int) -> dict[str, str]:
    """The index-th active demo patient with a phone: each test its own, so identity limits one test reaches
    (they hold per patient across calls) never meet another test, whatever the order."""
    patients = stack.sandbox.practice(DEMO_OFFICE_ID).patients.values()
    return [p for p in patients if p["status"] == "Active" and p["cell"]][index]


async def audit_rows(db: async_sessionmaker[AsyncSession], call_id: str) -> list[AuditLog]:
    async with db() as session:
        return list((await session.scalars(select(AuditLog).where(AuditLog.vapi_call_id == call_id))).all())


async def test_every_tool_call_leaves_exactly_one_audit_row(stack: Stack, db: async_sessionmaker[AsyncSession]) -> None:
    patient = demo_patient(stack, 0)
    cases: list[tuple[str, dict[str, Any], str, str | None]] = [
        ("searchPatients", {"phone": patient["cell"]}, "success", None),
        ("searchPatients", {}, "failed", "invalid_arguments"),
        ("getPatientInfo", identity(patient, dateOfBirth="1900-01-02"), "denied", "identity_mismatch"),
        ("getPatientInfo", identity(patient), "success", None),
        ("checkAvailability", {"date": "not a date"}, "failed", "invalid_arguments"),
    ]
    for n, (tool, arguments, outcome, error_code) in enumerate(cases):
        call_id = f"audit-{n}"
        async with mcp_client(stack.mcp_url, stack.token, call_id=call_id) as client:
            await call(client, tool, arguments)
        (row,) = await audit_rows(db, call_id)
        assert (row.action, row.outcome, row.error_code) == (tool, outcome, error_code)
        assert row.account_id == stack.account_id
        assert row.actor.startswith("tok_")
        assert row.ip_address == "127.0.0.1"
    (success,) = await audit_rows(db, "audit-3")
    assert success.phi_accessed
    assert success.patient_ref == patient["patient_id"]
    assert set(success.phi_fields) >= {"name", "phone"}
    assert success.endpoint is not None
    assert "patients" in success.endpoint


async def test_an_upstream_failure_is_audited_and_speakable(stack: Stack, db: async_sessionmaker[AsyncSession]) -> None:
    stack.sandbox.faults.add(endpoint="patients", error_code="API2002", count=10)
    try:
        async with mcp_client(stack.mcp_url, stack.token, call_id="audit-upstream") as client:
            result = await call(client, "searchPatients", {"name": "Smith"})
    finally:
        stack.sandbox.faults.clear()
    assert result["isError"]
    assert result["outcome"] == "unavailable"
    assert result["message"].startswith("I can't reach the office system")
    (row,) = await audit_rows(db, "audit-upstream")
    assert (row.outcome, row.error_code, row.response_status) == ("failed", "upstream_unavailable", 503)


async def test_repeated_identity_failures_lock_the_call(stack: Stack) -> None:
    patient = demo_patient(stack, 1)
    wrong = identity(patient, dateOfBirth="1900-01-02")
    right = identity(patient)
    async with mcp_client(stack.mcp_url, stack.token, call_id="lockout") as client:
        codes = [(await call(client, "getPatientInfo", wrong))["code"] for _ in range(3)]
        locked = await call(client, "getPatientInfo", right)
    assert codes == ["identity_mismatch"] * 3
    assert locked["code"] == "too_many_attempts"
    assert locked.get("patient") is None
    async with mcp_client(stack.mcp_url, stack.token, call_id="another-call") as client:
        assert (await call(client, "getPatientInfo", right))["outcome"] == "ok"


async def test_without_the_audit_table_phi_tools_fail_closed(
    stack: Stack, db: async_sessionmaker[AsyncSession]
) -> None:
    patient = demo_patient(stack, 2)
    async with db.begin() as session:
        await session.execute(
            text(
                "CREATE TRIGGER audit_read_only BEFORE INSERT ON pms_audit_logs "
                "BEGIN SELECT RAISE(ABORT, 'audit table is read-only'); END"
            )
        )
    try:
        async with mcp_client(stack.mcp_url, stack.token, call_id="no-audit") as client:
            result = await client.call_tool("searchPatients", {"phone": patient["cell"]})
    finally:
        async with db.begin() as session:
            await session.execute(text("DROP TRIGGER audit_read_only"))
    assert result.is_error
    assert not result.structured_content
    body = json.dumps([c.model_dump() for c in result.content])
    for value in (patient["firstname"], patient["lastname"], patient["patient_id"]):
        assert value not in body


ids = st.one_of(
    st.from_regex(r"[0-9]{1,7}", fullmatch=True),
    st.sampled_from(["10001", "10150", "70001", "70500", "99999"]),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(patient_number=st.integers(min_value=0, max_value=400), appointment_id=ids)
async def test_a_token_never_reaches_another_practice(stack: Stack, patient_number: int, appointment_id: str) -> None:
    """Practice A's token, with practice B's real ids and DOBs in every argument, sees and changes nothing of B."""
    theirs = list(stack.sandbox.practice(SECOND_OFFICE).patients.values())
    other = theirs[patient_number % len(theirs)]
    dob = other["birthdate"][:10]
    before = dict(stack.sandbox.practice(SECOND_OFFICE).appointments)
    their_appointments = [a for a in before.values() if a["patient_id"] == other["patient_id"]]
    target = their_appointments[0]["appointment_sr_no"] if their_appointments else appointment_id
    async with mcp_client(stack.mcp_url, stack.extra["prober"], call_id=f"tenant-{patient_number}") as client:
        searches = [
            await call(client, "searchPatients", {"phone": other["cell"]}) if other["cell"] else {"matches": []},
            await call(
                client, "searchPatients", {"name": f"{other['firstname']} {other['lastname']}", "dateOfBirth": dob}
            ),
        ]
        verified = await call(client, "getPatientInfo", identity(other))
        cancelled = await call(client, "cancelAppointment", {**identity(other), "appointmentId": target})
    for found in searches:
        assert all(
            m["patientId"] not in stack.sandbox.practice(SECOND_OFFICE).patients for m in found.get("matches", [])
        )
    assert verified.get("patient") is None
    assert cancelled["outcome"] in ("needs_verification", "not_found")
    assert stack.sandbox.practice(SECOND_OFFICE).appointments == before


async def test_audit_rows_count_equals_calls(stack: Stack, db: async_sessionmaker[AsyncSession]) -> None:
    async with db() as session:
        before = await session.scalar(select(func.count()).select_from(AuditLog))
    async with mcp_client(stack.mcp_url, stack.token, call_id="count") as client:
        for _ in range(7):
            await call(client, "checkAvailability", {"date": "2031-01-06"})
    async with db() as session:
        after = await session.scalar(select(func.count()).select_from(AuditLog))
    assert (after or 0) - (before or 0) == 7
