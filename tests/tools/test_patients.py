"""The patient tools and the identity check behind them (tools/patients.py, tools/identity.py), as an attacker
tries them, on SQLite and PostgreSQL: no date-of-birth-only search, two identifiers, limits per patient, token
and call that count simultaneous guesses, failed checks audited with the targeted patient; and OrthoTrac's
patient update (the preferred name only)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from sqlalchemy import select

from server.db.models import AuditLog
from tests.support import call, identity
from tests.tools.conftest import Desk, open_desk
from tools.identity import PER_CALL, PER_PATIENT

pytestmark = pytest.mark.anyio


@pytest.fixture
async def desk(database_url: str) -> AsyncIterator[Desk]:
    """A desk of its own per test (the identity limits are per token, call and patient), on each database."""
    async with open_desk(database_url) as opened:
        yield opened


def patients(desk: Desk, count: int) -> list[dict[str, str]]:
    """Active demo patients of the connected location, each with a phone."""
    rows = desk.practice.patients.values()
    found: list[dict[str, str]] = [p for p in rows if p["status"] == "Active" and p["cell"]][:count]
    return found


async def audit_codes(desk: Desk, **where: str) -> list[tuple[str | None, str | None, bool]]:
    async with desk.services.sessions() as session:
        query = select(AuditLog).filter_by(**where).order_by(AuditLog.id)
        return [(row.error_code, row.patient_ref, row.phi_accessed) for row in await session.scalars(query)]


async def test_a_date_of_birth_alone_finds_no_one(desk: Desk) -> None:
    patient = patients(desk, 1)[0]
    desk.sandbox.reset_counters()
    result = await desk.call("searchPatients", {"dateOfBirth": patient["birthdate"][:10]}, "dob-only")
    assert (result["outcome"], result["code"]) == ("needs_verification", "name_or_phone_needed")
    assert not result.get("matches")
    assert desk.sandbox.counters["GET /patients"] == 0


async def test_verification_needs_the_name_or_a_phone_on_file(desk: Desk) -> None:
    patient = patients(desk, 1)[0]
    async with desk.client("second-identifier") as client:
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


async def test_a_patient_locks_across_calls_and_tells_the_caller_to_call_the_office(desk: Desk) -> None:
    target, other = patients(desk, 2)
    for n in range(PER_PATIENT.failures):
        wrong = await desk.call("getPatientInfo", identity(target, dateOfBirth="1901-01-01"), f"guess-{n}")
        assert wrong["code"] == "identity_mismatch"
    async with desk.client("fresh-call") as client:
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
    failures = await audit_codes(desk, vapi_call_id="guess-0")
    assert failures == [("identity_mismatch", target["patient_id"], False)]  # audited with the target, no PHI


async def test_a_call_without_a_call_id_is_not_held_to_another_calls_failures(desk: Desk) -> None:
    first, second = patients(desk, 2)
    async with desk.client("careless") as client:
        for _ in range(PER_CALL.failures):
            await call(client, "getPatientInfo", identity(first, dateOfBirth="1901-01-01"))
        held = await call(client, "getPatientInfo", identity(second))
    async with desk.client(None) as client:
        free = await call(client, "getPatientInfo", identity(second))
    assert held["code"] == "too_many_attempts"  # that call is done guessing
    assert free["outcome"] == "ok"


async def test_twenty_simultaneous_guesses_evaluate_at_most_the_limit(desk: Desk) -> None:
    target = patients(desk, 1)[0]
    desk.sandbox.reset_counters()
    answers: list[dict[str, Any]] = []

    async def guess(n: int) -> None:
        wrong = identity(target, dateOfBirth=f"19{n + 10:02d}-01-01")
        answers.append(await desk.call("getPatientInfo", wrong, f"burst-{n}"))

    async with anyio.create_task_group() as group:
        for n in range(20):
            group.start_soon(guess, n)
    codes = [answer["code"] for answer in answers]
    assert codes.count("identity_mismatch") == PER_PATIENT.failures
    assert codes.count("too_many_attempts") == 20 - PER_PATIENT.failures
    assert desk.sandbox.counters["GET /patients"] == PER_PATIENT.failures  # the rest never reached Sikka


async def test_searching_with_wrong_birthdates_counts_against_the_patient(desk: Desk) -> None:
    target = patients(desk, 1)[0]
    name = f"{target['firstname']} {target['lastname']}"
    async with desk.client("search-guesses") as client:
        for n in range(PER_CALL.failures):
            missed = await call(client, "searchPatients", {"name": name, "dateOfBirth": f"19{n + 20:02d}-02-02"})
            assert (missed["outcome"], missed["code"]) == ("needs_verification", "identity_mismatch")
        stopped = await call(client, "searchPatients", {"name": name, "dateOfBirth": target["birthdate"][:10]})
    assert stopped["code"] == "too_many_attempts"


# --- OrthoTrac: the patient update writeback ------------------------------------------------------------------


async def test_orthotrac_patient_update_takes_the_preferred_name_and_leaves_contacts_to_staff(
    ortho_desk: Desk,
) -> None:
    patient = next(p for p in ortho_desk.practice.patients.values() if p["status"] == "Active")
    me = identity(patient)
    async with ortho_desk.client("ortho-update") as client:
        renamed = await call(client, "updatePatient", {**me, "preferredName": "Bee"})
        both = await call(client, "updatePatient", {**me, "preferredName": "Bea", "email": "bea@example.com"})
    assert (renamed["outcome"], renamed["updatedFields"]) == ("confirmed", ["preferredName"])
    assert ortho_desk.practice.patients[patient["patient_id"]]["preferred_name"] == "Bea"
    assert both["outcome"] == "recorded_for_staff"
    assert both["updatedFields"] == ["preferredName"]
    assert "preferred name is updated" in both["message"]
