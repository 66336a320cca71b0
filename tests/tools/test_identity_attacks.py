"""The attacks on identity (issue 22), replayed in process on SQLite and PostgreSQL: no tool confirms a birthdate,
no attacker can shut a practice or a family out, and the limits bound an attacker rather than the practice
(tools/identity.py, tools/patients.py)."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from server.db.models import AuditLog, IdentityAttempt
from server.phones import to_e164
from tests.support import call, identity
from tests.tools.conftest import Desk, open_desk, requests_since
from tools.identity import PER_CALL, PER_PATIENT, PER_TOKEN

pytestmark = pytest.mark.anyio
BREAKER_DELAY = 0.01  # the tests' breaker: short, so 102 failed checks stay quick


@pytest.fixture
async def desk(database_url: str) -> AsyncIterator[Desk]:
    """A desk of its own per test (the limits are per token, call, number and patient), on each database."""
    async with open_desk(database_url, identity_breaker_delay_seconds=BREAKER_DELAY) as opened:
        yield opened


def active(desk: Desk) -> list[dict[str, str]]:
    """Active patients with a cell phone of their own (no one else at the location shares it)."""
    rows = [p for p in desk.practice.patients.values() if p["status"] == "Active" and p["cell"]]
    cells = Counter(p["cell"] for p in desk.practice.patients.values())
    return [p for p in rows if cells[p["cell"]] == 1]


def born(patient: dict[str, str]) -> date:
    return date.fromisoformat(patient["birthdate"][:10])


def cell(patient: dict[str, str]) -> str:
    """The patient's cell as the adapters hand a calling number to the tools (E.164)."""
    number = to_e164(patient["cell"])
    assert number is not None
    return number


async def answer_as(
    desk: Desk, tool: str, arguments: dict[str, Any], call_id: str, number: str | None
) -> dict[str, Any]:
    async with desk.client(call_id, caller_number=number) as client:
        return await call(client, tool, arguments)


# --- createPatient is no birthdate oracle ----------------------------------------------------------------------


async def test_eight_registrations_on_the_victims_phone_do_not_reveal_her_birthdate(desk: Desk) -> None:
    victim = active(desk)[0]
    right = born(victim)
    guesses = [right + timedelta(days=shift) for shift in (-400, -3, 17, 0, 365, -1, 2, 90)]  # one of them right
    records_before = set(desk.practice.patients)
    answers, requests = [], []
    for n, guess in enumerate(guesses):
        registration = {
            "firstName": victim["firstname"],
            "lastName": victim["lastname"],
            "dateOfBirth": guess.isoformat(),
            "phone": victim["cell"],
        }
        before = Counter(desk.sandbox.counters)
        answers.append(await desk.call("createPatient", registration, f"register-{n}"))
        requests.append(requests_since(desk.sandbox, before))
    assert answers[0]["outcome"] == "recorded_for_staff", answers[0]
    assert all(answer == answers[0] for answer in answers)  # word for word, whichever birthdate is right
    assert all(made == requests[0] for made in requests)  # the same office-system requests: the same work, time
    assert set(desk.practice.patients) == records_before  # no junk record on her phone
    assert not [w for w in desk.sandbox.writebacks_of(desk.office.office_id) if w.status_row()["api"] == "patients"]
    staff = [
        item.note.details or {}
        for item in await desk.services.inbox.open_items(desk.account_id)
        if (item.vapi_call_id or "").startswith("register-")
    ]
    assert len(staff) == len(guesses)  # each is the staff's to look at; only they see the likely duplicate
    assert [d["onFileWithSameBirthdate"] for d in staff].count([victim["patient_id"]]) == 1
    found = await desk.call("searchPatients", {"phone": victim["cell"]}, "her-own-search")
    assert [m["patientId"] for m in found["matches"]] == [victim["patient_id"]]  # never too_many_matches


async def test_a_registration_sharing_only_the_phone_or_only_the_name_is_also_for_staff(desk: Desk) -> None:
    first, second = active(desk)[:2]
    same_phone = {"firstName": "Quentin", "lastName": "Abernathy", "dateOfBirth": "2015-04-04", "phone": first["cell"]}
    same_name = {
        "firstName": second["firstname"],
        "lastName": second["lastname"],
        "dateOfBirth": "2015-04-04",
        "phone": "719-555-0148",
    }
    by_phone = await desk.call("createPatient", same_phone, "relative")
    by_name = await desk.call("createPatient", same_name, "namesake")
    assert by_phone["code"] == by_name["code"] == "registration_recorded_for_staff"
    assert by_phone["message"] == by_name["message"]


# --- the token-wide limit is a breaker, not a shutdown -----------------------------------------------------------


async def test_after_102_wrong_checks_from_other_calls_the_real_patient_verifies_first_time(desk: Desk) -> None:
    patient = active(desk)[0]
    for attacker in range(34):  # made-up patient ids, 3 per call id, each call from its own number
        async with desk.client(f"attacker-{attacker}", caller_number=f"+1917555{attacker:04d}") as client:
            for n in range(3):
                made_up = {"patientId": f"9{attacker:03d}{n}", "dateOfBirth": "1970-01-01", "name": "Anyone Atall"}
                wrong = await call(client, "getPatientInfo", made_up)
                assert wrong["code"] == "identity_mismatch", wrong
    async with desk.services.sessions() as session:
        token_failures = await session.scalar(
            select(IdentityAttempt.failures).where(IdentityAttempt.scope == PER_TOKEN.scope)
        )
    assert token_failures == 102 > PER_TOKEN.failures  # the breaker is tripped: every check now waits first
    real = await answer_as(desk, "getPatientInfo", identity(patient), "the-patient", cell(patient))
    assert (real["outcome"], real["code"]) == ("ok", "patient_verified"), real
    book = await answer_as(desk, "getPatientInfo", identity(active(desk)[1]), "another-patient", None)
    assert book["outcome"] == "ok"  # nor anyone else who has not failed


# --- no family lockout by surname ------------------------------------------------------------------------------


async def test_after_five_wrong_surname_searches_a_nguyen_from_their_own_number_verifies(desk: Desk) -> None:
    family = active(desk)[:3]
    for member in family:
        desk.practice.patients[member["patient_id"]]["lastname"] = "Nguyen"
    for n in range(PER_PATIENT.failures):  # two callers, three guesses each at most
        guess = {"name": "Nguyen", "dateOfBirth": f"19{n + 20:02d}-03-03"}
        missed = await answer_as(desk, "searchPatients", guess, f"surname-{n // PER_CALL.failures}", "+17185550199")
        assert missed["code"] in ("identity_mismatch", "too_many_attempts"), missed
    nguyen, other = family[0], family[1]
    locked = await desk.call("getPatientInfo", identity(nguyen), "nguyen-from-a-strange-phone")
    assert locked["code"] == "too_many_attempts"  # every Nguyen is spent for callers not on their records
    own = await answer_as(desk, "getPatientInfo", identity(nguyen), "nguyen-at-home", cell(nguyen))
    assert (own["outcome"], own["code"]) == ("ok", "patient_verified"), own
    not_theirs = await answer_as(desk, "getPatientInfo", identity(other), "nguyen-at-home", cell(nguyen))
    assert not_theirs["code"] == "too_many_attempts"  # a number on one record does not open another


async def test_from_a_number_on_file_a_spent_patient_still_has_only_that_numbers_budget(desk: Desk) -> None:
    patient = active(desk)[0]
    for n in range(PER_PATIENT.failures):
        await desk.call("getPatientInfo", identity(patient, dateOfBirth=f"19{n + 20:02d}-04-04"), f"spend-{n}")
    answers = []
    for n in range(4):  # a spoofed number on file: its own call and number limits still hold
        guess = identity(patient, dateOfBirth=f"19{n + 40:02d}-05-05")
        answers.append((await answer_as(desk, "getPatientInfo", guess, "spoofer", cell(patient)))["code"])
    assert answers == ["identity_mismatch"] * PER_CALL.failures + ["too_many_attempts"]


# --- unknown patient ids open no oracle --------------------------------------------------------------------------


@pytest.mark.parametrize("from_a_number", [False, True])
async def test_an_unknown_id_and_a_real_one_answer_alike_at_every_step(desk: Desk, from_a_number: bool) -> None:
    real = active(desk)[0]
    sequences = []
    for line, patient_id in enumerate((real["patient_id"], "99999")):
        wrong = {**identity(real, dateOfBirth="1901-01-01"), "patientId": patient_id}
        number = f"+1718555{line:04d}" if from_a_number else None  # a number not on file, one per probe
        sequences.append(
            [
                (await answer_as(desk, "getPatientInfo", wrong, f"probe-{patient_id}-{n}", number))["code"]
                for n in range(PER_PATIENT.failures + 2)
            ]
        )
    assert sequences[0] == sequences[1] == ["identity_mismatch"] * PER_PATIENT.failures + ["too_many_attempts"] * 2


# --- audit outcomes match the answers ----------------------------------------------------------------------------


async def test_a_birthdate_narrowed_search_that_matches_no_one_is_audited_as_a_failed_check(desk: Desk) -> None:
    patient = active(desk)[0]
    search = {"name": f"{patient['firstname']} {patient['lastname']}", "dateOfBirth": "1931-07-07"}
    missed = await desk.call("searchPatients", search, "narrowed-miss")
    nobody = await desk.call("searchPatients", {"name": "Zebedee Quixotic", "dateOfBirth": "1931-07-07"}, "nobody")
    assert (missed["outcome"], missed["code"]) == ("needs_verification", "identity_mismatch")
    assert (nobody["outcome"], nobody["code"]) == ("not_found", "no_match")  # no birthdate was compared
    async with desk.services.sessions() as session:
        rows = {
            row.vapi_call_id: (row.outcome, row.response_status, row.error_code, row.patient_ref, row.phi_accessed)
            for row in await session.scalars(select(AuditLog).where(AuditLog.action == "searchPatients"))
        }
    assert rows["narrowed-miss"] == ("denied", 403, "identity_mismatch", patient["patient_id"], False)
    assert rows["nobody"] == ("success", 404, None, None, False)
