"""A whole phone call through uvicorn and the MCP SDK client, in both protocol generations."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from sandbox import DEMO_OFFICE_ID
from tests.support import Stack, call, identity, mcp_client, patient_with_own_cell, practice_today

pytestmark = pytest.mark.anyio
TOOLS = {
    "searchPatients",
    "getPatientInfo",
    "createPatient",
    "updatePatient",
    "checkAvailability",
    "bookAppointment",
    "rescheduleAppointment",
    "cancelAppointment",
    "getPracticeInfo",
    "getProviders",
    "checkInsuranceAccepted",
    "getPatientBalance",
    "getPatientInsurance",
    "takeMessage",
}


def as_spoken_format(cell: str) -> str:
    digits = "".join(ch for ch in cell if ch.isdigit())[-10:]
    return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"


async def test_tools_list_has_every_tool_with_schemas(stack: Stack) -> None:
    async with mcp_client(stack.mcp_url, stack.token) as client:
        listed = (await client.list_tools()).tools
    assert {tool.name for tool in listed} == TOOLS
    for tool in listed:
        assert tool.input_schema["type"] == "object"
        assert tool.output_schema is not None
        assert list(tool.output_schema["properties"])[:3] == ["message", "outcome", "code"]
        assert tool.description
        assert tool.annotations is not None
    by_name = {tool.name: tool for tool in listed}  # every tool's annotations: tests/tools/test_mcp_adapter.py
    assert by_name["getProviders"].annotations.read_only_hint is True  # type: ignore[union-attr]
    assert by_name["searchPatients"].annotations.read_only_hint is False  # type: ignore[union-attr]
    assert by_name["cancelAppointment"].annotations.destructive_hint is True  # type: ignore[union-attr]
    creates = by_name["takeMessage"].annotations
    assert (creates.read_only_hint, creates.idempotent_hint) == (False, False)  # type: ignore[union-attr]
    assert set(by_name["bookAppointment"].input_schema["required"]) == {"patientId", "dateOfBirth", "startTime"}


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_a_whole_phone_call(stack: Stack, mode: str) -> None:
    patient = patient_with_own_cell(stack)
    call_id = f"call-{mode}"
    async with mcp_client(stack.mcp_url, stack.token, call_id=call_id, mode=mode) as client:
        found = await call(client, "searchPatients", {"phone": as_spoken_format(patient["cell"])})
        assert found["outcome"] == "ok", found
        assert [m["patientId"] for m in found["matches"]] == [patient["patient_id"]]
        assert set(found["matches"][0]) == {"patientId", "firstName", "lastName"}

        info = await call(client, "getPatientInfo", identity(patient))
        assert info["outcome"] == "ok", info
        assert info["patient"]["firstName"] == patient["firstname"]

        start = practice_today() + timedelta(days=3)
        openings = await call(
            client,
            "checkAvailability",
            {"startDate": start.isoformat(), "endDate": (start + timedelta(days=6)).isoformat(), "durationMinutes": 60},
        )
        assert openings["outcome"] == "ok", openings
        first, second = openings["slots"][0], openings["slots"][-1]

        booking: dict[str, Any] = {
            **identity(patient),
            "startTime": first["startTime"],
            "durationMinutes": 60,
            "providerId": first["providerId"],
            "appointmentType": "Cleaning",
        }
        booked = await call(client, "bookAppointment", booking)
        assert booked["outcome"] == "confirmed", booked
        appointment_id = booked["appointmentId"]
        assert appointment_id != booked["reference"]  # created_id, not the writeback id

        again = await call(client, "bookAppointment", booking)
        assert again["appointmentId"] == appointment_id
        assert ours(stack, patient["patient_id"], first["startTime"]) == [appointment_id]

        moved = await call(
            client,
            "rescheduleAppointment",
            {
                **identity(patient),
                "appointmentId": appointment_id,
                "newStartTime": second["startTime"],
                "providerId": second["providerId"],
            },
        )
        assert moved["outcome"] == "confirmed", moved

        cancelled = await call(
            client,
            "cancelAppointment",
            {**identity(patient), "appointmentId": appointment_id},
        )
        assert cancelled["outcome"] == "confirmed", cancelled

    final = stack.sandbox.practice(DEMO_OFFICE_ID).appointments[appointment_id]
    assert final["patient_id"] == patient["patient_id"]
    assert f"{final['date'][:10]}T{final['time']}" == second["startTime"][:16]
    assert final["provider_id"] == second["providerId"]
    assert final["status"] == "Canceled"
    assert final["cancelled"] == "True"


def ours(stack: Stack, patient_id: str, start_time: str) -> list[str]:
    appointments = stack.sandbox.practice(DEMO_OFFICE_ID).appointments.values()
    return [
        a["appointment_sr_no"]
        for a in appointments
        if a["patient_id"] == patient_id and f"{a['date'][:10]}T{a['time']}" == start_time[:16]
    ]


@pytest.mark.parametrize(
    ("headers", "method"),
    [({}, "POST"), ({"Authorization": "Bearer wrong"}, "POST"), ({"Authorization": "Basic abc"}, "POST")],
)
async def test_no_request_without_a_valid_token_reaches_a_tool(
    stack: Stack, headers: dict[str, str], method: str
) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "searchPatients", "arguments": {}}}
    async with httpx.AsyncClient() as http:
        response = await http.request(
            method,
            stack.mcp_url,
            json=body,
            headers={**headers, "Accept": "application/json, text/event-stream"},
        )
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_get_on_mcp_is_405(stack: Stack) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.get(stack.mcp_url, headers={"Authorization": f"Bearer {stack.token}"})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


async def test_health_and_metrics(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.app_url) as http:
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        assert (await http.get("/readyz")).status_code == 200
        metrics = (await http.get("/metrics")).text
    assert 'parlae_http_requests_total{method="GET",route="/healthz",status="200"}' in metrics
    assert "parlae_tool_calls_total" in metrics


async def test_hosts_outside_parlae_allowed_hosts_are_refused(stack: Stack) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            stack.mcp_url,
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={
                "Authorization": f"Bearer {stack.token}",
                "Host": "attacker.example",
                "Accept": "application/json, text/event-stream",
            },
        )
    assert response.status_code == 421


async def test_create_patient_records_a_duplicate_for_staff_and_creates_nothing(stack: Stack) -> None:
    patient = patient_with_own_cell(stack)
    async with mcp_client(stack.mcp_url, stack.token, call_id="duplicate") as client:
        result = await call(
            client,
            "createPatient",
            {
                "firstName": patient["firstname"],
                "lastName": patient["lastname"],
                "dateOfBirth": patient["birthdate"][:10],
                "phone": "212-555-0100",
            },
        )
    assert (result["outcome"], result["code"]) == ("recorded_for_staff", "registration_recorded_for_staff")
    assert result.get("patientId") is None  # the answer names no one: the caller is not verified yet
    assert patient["firstname"] not in result["message"]
    assert not [w for w in stack.sandbox.writebacks_of(DEMO_OFFICE_ID) if w.status_row()["api"] == "patients"]
