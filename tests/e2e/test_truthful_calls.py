"""What the assistant is told is what happened, on the paths a real call takes: a new MCP connection per tool
call (as Vapi makes them), a model that repeats itself, slips a year, asks for a closed day or its own time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from sandbox import DEMO_OFFICE_ID, open_hours
from tests.support import (
    DEMO_ZONE,
    Stack,
    call,
    closed_day,
    identity,
    mcp_client,
    open_day,
    practice_today,
    running_stack,
)

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    database = tmp_path_factory.mktemp("truthful") / "parlae.db"
    with running_stack(f"sqlite+aiosqlite:///{database}") as running:
        yield running


async def tool(stack: Stack, call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """One tool call on its own connection, the way Vapi calls."""
    async with mcp_client(stack.mcp_url, stack.token, call_id=call_id) as client:
        return await call(client, name, arguments)


def patient(stack: Stack, index: int) -> dict[str, str]:
    rows = [p for p in stack.sandbox.practice(DEMO_OFFICE_ID).patients.values() if p["status"] == "Active"]
    return rows[index]


async def two_slots(stack: Stack, call_id: str, after_days: int) -> list[dict[str, Any]]:
    day = open_day(stack, after_days)
    found = await tool(
        stack,
        call_id,
        "checkAvailability",
        {"startDate": day.isoformat(), "endDate": (day + timedelta(days=6)).isoformat()},
    )
    assert found["outcome"] == "ok", found
    return [found["slots"][0], found["slots"][-1]]


def booked_at(stack: Stack, patient_id: str, start: str) -> list[dict[str, str]]:
    return [
        a
        for a in stack.sandbox.practice(DEMO_OFFICE_ID).appointments.values()
        if a["patient_id"] == patient_id and f"{a['date'][:10]}T{a['time']}" == start[:16] and a["cancelled"] != "True"
    ]


async def test_book_cancel_book_again_books_again(stack: Stack) -> None:
    me = patient(stack, 1)
    first, _ = await two_slots(stack, "rebook", 20)
    request = {**identity(me), "startTime": first["startTime"], "providerId": first["providerId"]}
    booked = await tool(stack, "rebook", "bookAppointment", request)
    retried = await tool(stack, "rebook", "bookAppointment", request)  # the model repeats itself: a replay
    assert booked["outcome"] == retried["outcome"] == "confirmed"
    assert retried["appointmentId"] == booked["appointmentId"]
    cancelled = await tool(
        stack, "rebook", "cancelAppointment", {**identity(me), "appointmentId": booked["appointmentId"]}
    )
    assert cancelled["outcome"] == "confirmed", cancelled
    again = await tool(stack, "rebook", "bookAppointment", request)
    assert again["outcome"] == "confirmed", again
    assert again["appointmentId"] != booked["appointmentId"]  # a new booking, not the cancelled one's id
    assert [a["appointment_sr_no"] for a in booked_at(stack, me["patient_id"], first["startTime"])] == [
        again["appointmentId"]
    ]


async def test_moving_there_and_back_and_there_again_ends_there(stack: Stack) -> None:
    me = patient(stack, 2)
    a, b = await two_slots(stack, "shuffle", 27)
    booked = await tool(
        stack,
        "shuffle",
        "bookAppointment",
        {**identity(me), "startTime": a["startTime"], "providerId": a["providerId"]},
    )
    appointment = {**identity(me), "appointmentId": booked["appointmentId"]}
    to_b = {**appointment, "newStartTime": b["startTime"], "providerId": b["providerId"]}
    to_a = {**appointment, "newStartTime": a["startTime"], "providerId": a["providerId"]}
    for move in (to_b, to_a, to_b):
        moved = await tool(stack, "shuffle", "rescheduleAppointment", move)
        assert moved["outcome"] == "confirmed", moved
    final = stack.sandbox.practice(DEMO_OFFICE_ID).appointments[booked["appointmentId"]]
    assert f"{final['date'][:10]}T{final['time']}" == b["startTime"][:16]


async def test_a_date_in_last_year_is_said_to_have_passed_with_todays_date(stack: Stack) -> None:
    slipped = open_day(stack, 3) - timedelta(days=365)
    result = await tool(stack, "slip", "checkAvailability", {"date": slipped.isoformat()})
    assert (result["outcome"], result["code"]) == ("invalid", "date_in_past")
    assert result["today"] == practice_today().isoformat()
    assert "passed" in result["message"]
    assert str(practice_today().year) in result["message"]


async def test_a_start_time_in_the_past_is_not_called_taken(stack: Stack) -> None:
    me = patient(stack, 3)
    yesterday = (datetime.now(DEMO_ZONE) - timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    result = await tool(stack, "past-start", "bookAppointment", {**identity(me), "startTime": yesterday.isoformat()})
    assert (result["outcome"], result["code"]) == ("invalid", "time_in_past")
    assert result["today"] == practice_today().isoformat()


async def test_a_closed_day_is_closed_not_full(stack: Stack) -> None:
    day = closed_day(stack, 2)
    result = await tool(stack, "closed", "checkAvailability", {"date": day.isoformat()})
    assert (result["outcome"], result["code"]) == ("not_found", "closed"), result
    assert "closed" in result["message"]
    assert result["nextAvailableDates"]


async def test_a_full_day_is_full(stack: Stack) -> None:
    day = open_day(stack, 35)
    practice = stack.sandbox.practice(DEMO_OFFICE_ID)
    for provider in (row["provider_id"] for row in practice.providers if row["provider_type"] == "Provider"):
        for number, (start, end) in enumerate(open_hours(practice.schedule, day, provider_id=provider)):
            sr_no = f"9{provider}{day:%m%d}{number}"
            practice.appointments[sr_no] = practice.make_appointment(
                sr_no,
                {
                    "patient_id": patient(stack, 4)["patient_id"],
                    "provider_id": provider,
                    "operatory": "",
                    "date": f"{day.isoformat()}T00:00:00",
                    "time": f"{start // 60:02d}:{start % 60:02d}",
                    "length": str(end - start),
                },
            )
    result = await tool(stack, "full", "checkAvailability", {"date": day.isoformat()})
    assert (result["outcome"], result["code"]) == ("not_found", "day_full"), result


async def test_a_refused_move_never_offers_the_appointments_own_time_and_its_own_time_changes_nothing(
    stack: Stack,
) -> None:
    me = patient(stack, 5)
    a, _ = await two_slots(stack, "own-time", 41)
    booked = await tool(
        stack,
        "own-time",
        "bookAppointment",
        {**identity(me), "startTime": a["startTime"], "providerId": a["providerId"]},
    )
    appointment = {**identity(me), "appointmentId": booked["appointmentId"], "providerId": a["providerId"]}
    stack.sandbox.reset_counters()
    same = await tool(stack, "own-time-2", "rescheduleAppointment", {**appointment, "newStartTime": a["startTime"]})
    assert (same["outcome"], same["code"]) == ("ok", "already_at_that_time")
    assert not any(name.startswith(("PUT", "POST", "PATCH")) for name in stack.sandbox.counters)
    night = a["startTime"][:11] + "22:00:00" + a["startTime"][19:]  # after hours on an open day
    refused = await tool(stack, "own-time-3", "rescheduleAppointment", {**appointment, "newStartTime": night})
    assert refused["outcome"] == "refused", refused
    assert all(alt["startTime"] != a["startTime"] for alt in refused["alternatives"])


async def test_input_schemas_are_flat(stack: Stack) -> None:
    async with mcp_client(stack.mcp_url, stack.token) as client:
        listed = (await client.list_tools()).tools
    for listed_tool in listed:
        text = json.dumps(listed_tool.input_schema)
        assert not [word for word in ("$ref", "$defs", "anyOf") if word in text], listed_tool.name
        properties = listed_tool.input_schema["properties"]
        assert all(spec.get("default", "") is not None for spec in properties.values())
    create = next(t for t in listed if t.name == "createPatient").input_schema
    assert create["properties"]["address"]["type"] == "object"  # inline, not a reference
    assert "email" not in create["required"]
    assert create["properties"]["consents"]["description"]


async def raw_rpc(stack: Stack, method: str, params: dict[str, Any]) -> dict[str, Any]:
    body = {"jsonrpc": "2.0", "id": 7, "method": method, "params": params}
    headers = {
        "Authorization": f"Bearer {stack.token}",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2025-11-25",
    }
    async with httpx.AsyncClient() as http:
        response = await http.post(stack.mcp_url, json=body, headers=headers)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def test_unknown_tools_are_json_rpc_errors_and_unknown_arguments_are_refused(stack: Stack) -> None:
    unknown = await raw_rpc(stack, "tools/call", {"name": "deletePatient", "arguments": {}})
    assert unknown["error"]["code"] == -32602
    extra = await tool(stack, "extra", "searchPatients", {"name": "Smith", "ssn": "123-45-6789"})
    assert (extra["outcome"], extra["code"]) == ("invalid", "invalid_arguments")
    assert "ssn" not in extra["message"]
    assert "123-45-6789" not in extra["message"]


async def test_only_tools_are_advertised(stack: Stack, captured_logs: Any) -> None:
    initialized = await raw_rpc(
        stack,
        "initialize",
        {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "probe", "version": "1"}},
    )
    capabilities = initialized["result"]["capabilities"]
    assert "tools" in capabilities
    assert "prompts" not in capabilities
    assert "resources" not in capabilities
    prompt = await raw_rpc(stack, "prompts/get", {"name": "anything"})
    assert prompt["error"]["code"] == -32601  # method not found, not a crash
    logs = captured_logs.getvalue()
    assert "Traceback" not in logs
    assert "Terminating session" not in logs


async def test_short_lived_keys_are_renewed_once_not_on_every_call(stack: Stack) -> None:
    stack.sandbox.config.key_ttl_seconds = 120  # far shorter than SIKKA_REFRESH_MARGIN_SECONDS (one hour)
    stack.sandbox.expire_request_keys()
    try:
        stack.sandbox.reset_counters()
        async with mcp_client(stack.mcp_url, stack.token, call_id="short-keys") as client:
            for _ in range(20):
                await call(client, "searchPatients", {"name": "Smith"})
        assert stack.sandbox.counters["POST /request_key"] == 1  # one renewal, then fresh for half its life
    finally:
        stack.sandbox.config.key_ttl_seconds = 86400
        stack.sandbox.expire_request_keys()
