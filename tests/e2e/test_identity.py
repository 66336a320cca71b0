"""The identity check as an attacker tries it, through uvicorn and the MCP client, on SQLite and PostgreSQL:
no date-of-birth-only search, two identifiers, limits per patient, token and call that count simultaneous
guesses, failed checks audited with the targeted patient."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from sqlalchemy import select

from sandbox import DEMO_OFFICE_ID
from server.db.engine import create_engine, session_factory
from server.db.models import AuditLog
from tests.support import Stack, call, identity, mcp_client, running_stack
from tools.identity import PER_CALL, PER_PATIENT

pytestmark = pytest.mark.anyio


@pytest.fixture
def stack(database_url: str) -> Iterator[Stack]:
    with running_stack(database_url) as running:
        yield running


def patients(stack: Stack, count: int) -> list[dict[str, str]]:
    """Active demo patients of the connected location, each with a phone."""
    rows = stack.sandbox.practice(DEMO_OFFICE_ID).patients.values()
    return [p for p in rows if p["status"] == "Active" and p["cell"]][:count]


async def audit_codes(stack: Stack, **where: str) -> list[tuple[str | None, str | None, bool]]:
    engine = create_engine(stack.settings.database_url)
    try:
        async with session_factory(engine)() as session:
            query = select(AuditLog).filter_by(**where).order_by(AuditLog.id)
            return [(row.error_code, row.patient_ref, row.phi_accessed) for row in await session.scalars(query)]
    finally:
        await engine.dispose()


async def test_a_date_of_birth_alone_finds_no_one(stack: Stack) -> None:
    patient = patients(stack, 1)[0]
    stack.sandbox.reset_counters()
    async with mcp_client(stack.mcp_url, stack.token, call_id="dob-only") as client:
        result = await call(client, "searchPatients", {"dateOfBirth": patient["birthdate"][:10]})
    assert (result["outcome"], result["code"]) == ("needs_verification", "name_or_phone_needed")
    assert not result.get("matches")
    assert stack.sandbox.counters["GET /patients"] == 0


async def test_verification_needs_the_name_or_a_phone_on_file(stack: Stack) -> None:
    patient = patients(stack, 1)[0]
    async with mcp_client(stack.mcp_url, stack.token, call_id="second-identifier") as client:
        missing = await call(client, "getPatientInfo", identity(patient) | {"name": ""})
        wrong_name = await call(client, "getPatientInfo", identity(patient, name="Someone Else"))
        by_phone = await call(
            client,
            "getPatientInfo",
            {k: v for k, v in identity(patient).items() if k != "name"} | {"phoneOnFile": patient["cell"]},
        )
        by_name = await call(client, "getPatientInfo", identity(patient))
    assert missing["code"] == "invalid_arguments"
    assert wrong_name["code"] == "identity_mismatch"
    assert by_phone["outcome"] == "ok", by_phone
    assert by_name["outcome"] == "ok", by_name


async def test_a_patient_locks_across_calls_and_tells_the_caller_to_call_the_office(stack: Stack) -> None:
    target, other = patients(stack, 2)
    for n in range(PER_PATIENT.failures):
        async with mcp_client(stack.mcp_url, stack.token, call_id=f"guess-{n}") as client:
            wrong = await call(client, "getPatientInfo", identity(target, dateOfBirth="1901-01-01"))
        assert wrong["code"] == "identity_mismatch"
    async with mcp_client(stack.mcp_url, stack.token, call_id="fresh-call") as client:
        locked = await call(client, "getPatientInfo", identity(target))
        searched = await call(
            client,
            "searchPatients",
            {"name": f"{target['firstname']} {target['lastname']}", "dateOfBirth": target["birthdate"][:10]},
        )
        fine = await call(client, "getPatientInfo", identity(other))
    assert locked["code"] == "too_many_attempts"
    assert "call the office" in locked["message"]
    assert locked.get("patient") is None
    assert searched["code"] == "too_many_attempts"  # a search with the birthdate is an attempt too
    assert fine["outcome"] == "ok"
    failures = await audit_codes(stack, vapi_call_id="guess-0")
    assert failures == [("identity_mismatch", target["patient_id"], False)]  # audited with the target, no PHI


async def test_a_call_without_a_call_id_is_not_held_to_another_calls_failures(stack: Stack) -> None:
    first, second = patients(stack, 2)
    async with mcp_client(stack.mcp_url, stack.token, call_id="careless") as client:
        for _ in range(PER_CALL.failures):
            await call(client, "getPatientInfo", identity(first, dateOfBirth="1901-01-01"))
        held = await call(client, "getPatientInfo", identity(second))
    async with mcp_client(stack.mcp_url, stack.token) as client:
        free = await call(client, "getPatientInfo", identity(second))
    assert held["code"] == "too_many_attempts"  # that call is done guessing
    assert free["outcome"] == "ok"


async def test_twenty_simultaneous_guesses_evaluate_at_most_the_limit(stack: Stack) -> None:
    target = patients(stack, 1)[0]
    stack.sandbox.reset_counters()
    answers: list[dict[str, Any]] = []

    async def guess(n: int) -> None:
        async with mcp_client(stack.mcp_url, stack.token, call_id=f"burst-{n}") as client:
            answers.append(await call(client, "getPatientInfo", identity(target, dateOfBirth=f"19{n + 10:02d}-01-01")))

    async with anyio.create_task_group() as group:
        for n in range(20):
            group.start_soon(guess, n)
    codes = [answer["code"] for answer in answers]
    assert codes.count("identity_mismatch") == PER_PATIENT.failures
    assert codes.count("too_many_attempts") == 20 - PER_PATIENT.failures
    assert stack.sandbox.counters["GET /patients"] == PER_PATIENT.failures  # the rest never reached Sikka


async def test_searching_with_wrong_birthdates_counts_against_the_patient(stack: Stack) -> None:
    target = patients(stack, 1)[0]
    name = f"{target['firstname']} {target['lastname']}"
    async with mcp_client(stack.mcp_url, stack.token, call_id="search-guesses") as client:
        for n in range(PER_CALL.failures):
            missed = await call(client, "searchPatients", {"name": name, "dateOfBirth": f"19{n + 20:02d}-02-02"})
            assert missed["code"] == "no_match"
        stopped = await call(client, "searchPatients", {"name": name, "dateOfBirth": target["birthdate"][:10]})
    assert stopped["code"] == "too_many_attempts"
