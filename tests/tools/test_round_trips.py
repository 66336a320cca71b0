"""How many Sikka round trips a caller waits for (tools/gather.py, tools/identity.py): every read tool one, the
writes one before they write; what is read beside the identity check reaches only a verified caller.

Sikka answers each request after LATENCY here, and the sandbox's timeline says when each request arrived and was
answered: requests sent at once overlap, and the round trips are the longest chain of requests that ran one after
another (`sandbox.latency.sequential_round_trips`)."""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from sandbox.latency import Served, sequential_round_trips
from server.db.models import AuditLog
from tests.support import closed_day, identity, open_day
from tests.tools.conftest import Desk, desk_behind
from tools.identity import PER_CALL

pytestmark = pytest.mark.anyio

LATENCY = 0.2  # seconds per Sikka request: far longer than the server takes to send requests that go at once
WRITES = ("POST /appointment", "PUT /appointments", "PATCH /appointments")


@pytest.fixture(scope="module")
async def desk(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Desk]:
    """A desk whose practice metadata, carriers and coverage table are cached, then Sikka slowed to LATENCY."""
    async with desk_behind(tmp_path_factory.mktemp("round-trips") / "parlae.db") as opened:
        for tool, arguments in (("checkInsuranceAccepted", {"carrier": "Delta"}), ("getPracticeInfo", {})):
            assert not (await opened.call(tool, arguments, "warm-up"))["isError"]
        await opened.services.gateway.coverage_cache.get(opened.account_id)
        opened.sandbox.config.latency_seconds = LATENCY
        yield opened


def active(desk: Desk, index: int) -> dict[str, str]:
    """The index-th active self-guarantor with a cell phone of its own: each test keeps to its own patients."""
    rows = desk.practice.patients.values()
    cells = Counter(p["cell"] for p in rows)
    own: list[dict[str, str]] = [
        p
        for p in rows
        if p["status"] == "Active" and p["guarantor_id"] == p["patient_id"] and p["cell"] and cells[p["cell"]] == 1
    ]
    return own[index]


async def served_for(
    desk: Desk, tool: str, arguments: dict[str, Any], call_id: str
) -> tuple[dict[str, Any], list[Served]]:
    """The tool's answer and the Sikka requests it made (key exchanges aside)."""
    mark = desk.sandbox.timeline.last_seq
    result = await desk.call(tool, arguments, call_id)
    served = [s for s in desk.sandbox.timeline.after(mark) if not s.request.startswith("POST /request_key")]
    return result, served


def before_the_write(served: list[Served]) -> list[Served]:
    write = next(s for s in served if s.request in WRITES)
    return [s for s in served if s.finished <= write.started]


async def test_every_read_tool_waits_for_one_round_trip(desk: Desk) -> None:
    me = active(desk, 0)
    day = open_day(desk, 3)
    calls: dict[str, tuple[str, dict[str, Any]]] = {
        "getPatientInfo": ("getPatientInfo", identity(me)),
        "getPatientBalance": ("getPatientBalance", identity(me)),
        "getPatientInsurance": ("getPatientInsurance", {**identity(me), "category": "crowns"}),
        "searchPatients (phone)": ("searchPatients", {"phone": me["cell"]}),
        "searchPatients (name)": ("searchPatients", {"name": f"{me['firstname']} {me['lastname']}"}),
        "checkAvailability": ("checkAvailability", {"date": day.isoformat()}),
    }
    rounds, made = {}, {}
    for label, (tool, arguments) in calls.items():
        result, served = await served_for(desk, tool, arguments, f"one-round-{label}")
        assert result["outcome"] == "ok", (label, result)
        rounds[label] = sequential_round_trips(served)
        made[label] = dict(Counter(s.request for s in served))
    assert rounds == dict.fromkeys(calls, 1), made
    assert made["getPatientInfo"] == {"GET /patients": 1, "GET /appointments": 1}
    assert made["getPatientBalance"] == {"GET /patients": 1, "GET /patient_balance": 1}
    assert made["searchPatients (phone)"] == {"GET /patients": 3}  # every stored form of the number at once


async def test_a_closed_day_goes_straight_to_the_nearest_openings(desk: Desk) -> None:
    """The schedule says the day is closed: only the days after it are read."""
    day = closed_day(desk, 3)
    result, served = await served_for(desk, "checkAvailability", {"date": day.isoformat()}, "closed-day")
    assert (result["outcome"], result["code"]) == ("not_found", "office_closed"), result
    assert result["nextAvailableDates"]
    assert [s.request for s in served] == ["GET /appointments"]


async def test_a_dependent_whose_own_row_is_empty_waits_for_the_guarantors_too(desk: Desk) -> None:
    """The guarantor is known only from the patient's record: the one read tool with a second round trip."""
    practice = desk.practice
    family = next(pid for pid, owed in practice.debts.items() if sum(owed.patient) == Decimal("210.00"))
    dependent = next(p for p in practice.patients.values() if p["guarantor_id"] == family != p["patient_id"])
    result, served = await served_for(desk, "getPatientBalance", identity(dependent), "dependent")
    assert result["onGuarantorAccount"] is True, result
    assert sequential_round_trips(served) == 2


async def test_writes_check_identity_and_re_check_the_slot_in_one_round_trip(desk: Desk) -> None:
    me = active(desk, 1)
    day = open_day(desk, 40)
    found = await desk.call(
        "checkAvailability", {"startDate": day.isoformat(), "endDate": (day + timedelta(days=6)).isoformat()}, "write"
    )
    first, last = found["slots"][0], found["slots"][-1]
    booking = {**identity(me), "startTime": first["startTime"], "providerId": first["providerId"]}
    booked, book_served = await served_for(desk, "bookAppointment", booking, "write")
    assert booked["outcome"] == "confirmed", booked
    appointment = {**identity(me), "appointmentId": booked["appointmentId"]}
    move = {**appointment, "newStartTime": last["startTime"], "providerId": last["providerId"]}
    moved, move_served = await served_for(desk, "rescheduleAppointment", move, "write")
    assert moved["outcome"] == "confirmed", moved
    cancelled, cancel_served = await served_for(desk, "cancelAppointment", appointment, "write")
    assert cancelled["outcome"] == "confirmed", cancelled
    for served, reads in (
        (book_served, {"GET /patients": 1, "GET /appointments": 1}),  # the patient, the day's bookings
        (move_served, {"GET /patients": 1, "GET /appointments": 2}),  # and the appointment moved
        (cancel_served, {"GET /patients": 1, "GET /appointments": 1}),
    ):
        first_round = before_the_write(served)
        assert dict(Counter(s.request for s in first_round)) == reads
        assert sequential_round_trips(first_round) == 1


async def audit_row(desk: Desk, call_id: str) -> AuditLog:
    async with desk.services.sessions() as session:
        row: AuditLog = (await session.scalars(select(AuditLog).where(AuditLog.vapi_call_id == call_id))).one()
        return row


async def test_what_was_read_beside_a_failed_check_is_never_disclosed(desk: Desk, captured_logs: io.StringIO) -> None:
    me = active(desk, 2)
    booked = [a for a in desk.practice.appointments.values() if a["patient_id"] == me["patient_id"]]
    assert booked
    wrong = identity(me, dateOfBirth="1901-01-01")
    result, served = await served_for(desk, "getPatientInfo", wrong, "beside-refused")
    assert (result["outcome"], result["code"]) == ("needs_verification", "identity_mismatch")
    assert "GET /appointments" in {s.request for s in served}  # read beside the record, then dropped
    said = json.dumps(result)
    assert result["patient"] is None
    row = await audit_row(desk, "beside-refused")
    assert (row.phi_accessed, row.phi_fields, row.patient_ref) == (False, [], me["patient_id"])
    logged = captured_logs.getvalue()
    for appointment in booked:
        for text in (appointment["appointment_sr_no"], f"{appointment['date'][:10]}T{appointment['time']}"):
            assert text not in said
            assert text not in logged
    assert me["firstname"] not in said


async def test_a_failed_read_beside_leaves_a_refusal_a_refusal(desk: Desk) -> None:
    me = active(desk, 3)
    desk.sandbox.faults.add("appointments", malformed=True, count=2)  # not retried: the read fails
    try:
        refused = await desk.call("getPatientInfo", identity(me, dateOfBirth="1901-01-01"), "beside-failed")
        verified = await desk.call("getPatientInfo", identity(me), "beside-failed")
    finally:
        desk.sandbox.faults.clear()
    assert (refused["outcome"], refused["code"]) == ("needs_verification", "identity_mismatch")
    assert verified["outcome"] == "unavailable", verified  # verified, but the appointments could not be read
    again = await desk.call("getPatientInfo", identity(me), "beside-failed")
    assert again["outcome"] == "ok", again  # the office system's failure was not counted as an attempt


async def test_a_locked_caller_makes_no_sikka_request(desk: Desk) -> None:
    me = active(desk, 4)
    for _ in range(PER_CALL.failures):
        await desk.call("getPatientInfo", identity(me, dateOfBirth="1901-01-01"), "locked-out")
    result, served = await served_for(desk, "getPatientInfo", identity(me), "locked-out")
    assert result["code"] == "too_many_attempts", result
    assert served == []
