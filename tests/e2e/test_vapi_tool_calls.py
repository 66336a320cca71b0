"""`POST /vapi/tool-calls` through uvicorn: Vapi's three tool-call shapes, both credential headers, per-call
errors in order, the calling number as search context (never identity), audit by call id, idempotent retries."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from server.db.engine import create_engine, session_factory
from server.db.models import AuditLog
from tests.support import Stack, call, identity, mcp_client, open_day, patient_with_own_cell

pytestmark = pytest.mark.anyio


def message(calls: list[dict[str, Any]], call_id: str = "vapi-call-1", number: str | None = None) -> dict[str, Any]:
    call_object: dict[str, Any] = {"id": call_id, "orgId": "org-1", "type": "inboundPhoneCall"}
    if number:
        call_object["customer"] = {"number": number}
    return {"message": {"type": "tool-calls", "timestamp": 1764500000000, "toolCallList": calls, "call": call_object}}


def as_function(call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}


async def post(stack: Stack, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    sent = {"Authorization": f"Bearer {stack.token}"} if headers is None else headers
    async with httpx.AsyncClient(base_url=stack.app_url) as http:
        return await http.post("/vapi/tool-calls", json=body, headers=sent)


def results(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["results"]
    return found


async def test_every_shape_gets_the_same_answer(stack: Stack) -> None:
    arguments = {"name": patient_with_own_cell(stack)["lastname"]}
    calls = [
        as_function("a", "searchPatients", arguments),
        {"id": "b", "name": "searchPatients", "arguments": arguments},
        {"id": "c", "name": "searchPatients", "parameters": arguments},
    ]
    answered = results(await post(stack, message(calls)))
    assert [(r["toolCallId"], r["name"]) for r in answered] == [
        ("a", "searchPatients"),
        ("b", "searchPatients"),
        ("c", "searchPatients"),
    ]
    assert len({r["result"] for r in answered}) == 1
    first = json.loads(answered[0]["result"])
    assert first["code"] == "patients_found"
    assert "\n" not in answered[0]["result"]


@pytest.mark.parametrize("header", ["Authorization", "X-Vapi-Secret"])
async def test_both_credential_headers_and_401_without_a_valid_token(stack: Stack, header: str) -> None:
    value = f"Bearer {stack.token}" if header == "Authorization" else stack.token
    body = message([as_function("a", "checkAvailability", {"date": open_day(stack, 3).isoformat()})])
    assert results(await post(stack, body, {header: value}))[0]["name"] == "checkAvailability"
    for refused in ({}, {header: "Bearer nope" if header == "Authorization" else "nope"}):
        response = await post(stack, body, refused)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"


async def test_failures_are_per_call_errors_in_order_with_200(stack: Stack) -> None:
    day = open_day(stack, 4).isoformat()
    calls = [
        as_function("1", "checkAvailability", {"date": day}),
        {"id": "2", "type": "function", "function": {"name": "checkAvailability", "arguments": "{not json"}},
        {"id": "3", "name": "deletePatient", "arguments": {}},
        {"id": "4", "name": "checkAvailability", "arguments": {"date": "next tuesday"}},
        {"id": "5", "name": "searchPatients", "arguments": ["not", "an", "object"]},
        as_function("6", "checkAvailability", {"date": day}),
    ]
    answered = results(await post(stack, message(calls, "vapi-errors")))
    assert [r["toolCallId"] for r in answered] == ["1", "2", "3", "4", "5", "6"]
    assert [("result" in r, "error" in r) for r in answered] == [
        (True, False),
        (False, True),
        (False, True),
        (False, True),
        (False, True),
        (True, False),
    ]
    assert "next tuesday" not in answered[3]["error"]
    assert json.loads(answered[3]["error"])["code"] == "invalid_arguments"


async def test_a_body_that_is_not_a_tool_calls_message_is_400(stack: Stack) -> None:
    for body in ({"message": {"type": "status-update"}}, {"nothing": True}, ["a list"]):
        assert (await post(stack, body)).status_code == 400
    response = await post(stack, message([]))
    assert response.json() == {"results": []}
    assert response.headers["cache-control"] == "no-store"


async def test_the_calling_number_is_search_context_not_identity(stack: Stack) -> None:
    patient = patient_with_own_cell(stack)
    number = "+1" + "".join(ch for ch in patient["cell"] if ch.isdigit())[-10:]
    searched = results(
        await post(stack, message([{"id": "s", "name": "searchPatients", "arguments": {}}], "vapi-number", number))
    )
    found = json.loads(searched[0]["result"])
    assert found["matchedBy"] == "callerNumber"
    assert "calling from" in found["message"]
    assert [m["patientId"] for m in found["matches"]] == [patient["patient_id"]]
    not_verified = results(
        await post(
            stack,
            message(
                [{"id": "v", "name": "getPatientInfo", "arguments": {"patientId": patient["patient_id"]}}],
                "vapi-number",
                number,
            ),
        )
    )
    assert (
        json.loads(not_verified[0]["error"])["code"] == "invalid_arguments"
    )  # a date of birth and name are still needed
    async with mcp_client(
        stack.mcp_url, stack.token, call_id="mcp-number", headers={"X-Caller-Number": patient["cell"]}
    ) as client:
        over_mcp = await call(client, "searchPatients", {})
    assert over_mcp["matchedBy"] == "callerNumber"


async def test_audit_rows_carry_the_vapi_call_id_and_retries_do_not_book_twice(stack: Stack) -> None:
    patient = patient_with_own_cell(stack)
    day = open_day(stack, 30)
    openings = results(
        await post(
            stack,
            message(
                [
                    {
                        "id": "o",
                        "name": "checkAvailability",
                        "arguments": {"startDate": day.isoformat(), "endDate": (day + timedelta(days=6)).isoformat()},
                    }
                ],
                "vapi-book",
            ),
        )
    )
    slot = json.loads(openings[0]["result"])["slots"][0]
    booking = message(
        [{"id": "b", "name": "bookAppointment", "arguments": {**identity(patient), "startTime": slot["startTime"]}}],
        "vapi-book",
    )
    first = json.loads(results(await post(stack, booking))[0]["result"])
    again = json.loads(results(await post(stack, booking))[0]["result"])  # Vapi or the model sends it again
    assert first["outcome"] == "confirmed", first
    assert again["appointmentId"] == first["appointmentId"]
    engine = create_engine(stack.settings.database_url)
    try:
        async with session_factory(engine)() as session:
            rows = (await session.scalars(select(AuditLog).where(AuditLog.vapi_call_id == "vapi-book"))).all()
    finally:
        await engine.dispose()
    assert [row.action for row in rows] == ["checkAvailability", "bookAppointment", "bookAppointment"]
    assert all(row.actor.startswith("tok_") for row in rows)
