"""`POST /vapi/tool-calls` through uvicorn: Vapi's three tool-call shapes and the older `toolWithToolCallList`,
both credential headers (and the RFC 6750 challenge), slips answered as results in order, at most 20 calls, 200
for every other server message, the end of a call ending its state, a long call's message within the body limit,
deep nesting refused, the calling number as search context (never identity), audit by call id, idempotent
retries, the call's prefetch started by its status-update and dropped at its end."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO
from typing import Any

import anyio
import httpx
import pytest
from sqlalchemy import func, select

from app.toolcalls import MAX_BODY_BYTES
from server.calls import call_key
from server.db.engine import create_engine, session_factory
from server.db.models import AuditLog, CallPrefetch, IdempotencyKey, IdentityAttempt
from server.phones import to_e164
from server.services import open_services
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


async def audit_rows(stack: Stack, call_id: str) -> list[AuditLog]:
    engine = create_engine(stack.settings.database_url)
    try:
        async with session_factory(engine)() as session:
            return list((await session.scalars(select(AuditLog).where(AuditLog.vapi_call_id == call_id))).all())
    finally:
        await engine.dispose()


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
    none_sent = await post(stack, body, {})
    assert none_sent.status_code == 401
    assert none_sent.headers["www-authenticate"] == "Bearer"  # RFC 6750 §3.1: no error code without credentials
    wrong = await post(stack, body, {header: "Bearer nope" if header == "Authorization" else "nope"})
    assert wrong.status_code == 401
    assert wrong.headers["www-authenticate"] == 'Bearer error="invalid_token"'


async def test_slips_are_results_the_model_acts_on_in_order_with_200(stack: Stack) -> None:
    day = open_day(stack, 4).isoformat()
    calls = [
        as_function("1", "checkAvailability", {"date": day}),
        {"id": "2", "type": "function", "function": {"name": "checkAvailability", "arguments": "{not json"}},
        {"id": "3", "name": "deletePatient", "arguments": {}},
        {"id": "4", "name": "checkAvailability", "arguments": {"date": "the day after"}},
        {"id": "5", "name": "searchPatients", "arguments": ["not", "an", "object"]},
        as_function("6", "checkAvailability", {"date": day}),
    ]
    answered = results(await post(stack, message(calls, "vapi-errors")))
    assert [r["toolCallId"] for r in answered] == ["1", "2", "3", "4", "5", "6"]
    assert all("result" in r and "error" not in r for r in answered)
    slips = [json.loads(r["result"]) for r in answered[1:5]]
    assert [(s["outcome"], s["code"]) for s in slips] == [
        ("invalid", "invalid_arguments"),
        ("invalid", "unknown_tool"),
        ("invalid", "invalid_arguments"),
        ("invalid", "invalid_arguments"),
    ]
    assert "the day after" not in answered[3]["result"]


async def test_at_most_twenty_calls_run_and_the_rest_are_errors_without_running(stack: Stack) -> None:
    calls = [{"id": f"c{n}", "name": "getProviders", "arguments": {}} for n in range(25)]
    calls[3] = {"id": "c3", "type": "function", "function": {"name": "getProviders", "arguments": "[" * 100_000}}
    answered = results(await post(stack, message(calls, "vapi-cap")))
    assert [r["toolCallId"] for r in answered] == [f"c{n}" for n in range(25)]
    codes = [json.loads(r["result"])["code"] for r in answered[:20]]
    assert codes == ["providers_found"] * 3 + ["invalid_arguments"] + ["providers_found"] * 16
    for refused in answered[20:]:
        assert set(refused) == {"toolCallId", "name", "error"}
        assert json.loads(refused["error"])["code"] == "too_many_calls"
    assert len(await audit_rows(stack, "vapi-cap")) == 19  # the tools that ran


async def test_older_payloads_with_only_tool_with_tool_call_list_are_answered(stack: Stack) -> None:
    legacy = [
        {"name": "getProviders", "toolCall": {"id": "l1", "parameters": {}}},
        {
            "type": "function",
            "function": {"name": "checkInsuranceAccepted", "parameters": {"type": "object"}},
            "toolCall": {
                "id": "l2",
                "type": "function",
                "function": {"name": "checkInsuranceAccepted", "arguments": json.dumps({"carrier": "Delta"})},
            },
        },
    ]
    body = {"message": {"type": "tool-calls", "toolWithToolCallList": legacy, "call": {"id": "vapi-legacy"}}}
    answered = results(await post(stack, body))
    assert [(r["toolCallId"], r["name"]) for r in answered] == [
        ("l1", "getProviders"),
        ("l2", "checkInsuranceAccepted"),
    ]
    assert json.loads(answered[0]["result"])["code"] == "providers_found"
    assert json.loads(answered[1]["result"])["outcome"] in ("ok", "not_found")


@pytest.mark.parametrize(
    "kind", ["conversation-update", "hang", "transcript", "speech-update", "model-output", "user-interrupted"]
)
async def test_every_other_server_message_gets_200(stack: Stack, kind: str) -> None:
    body = {"message": {"type": kind, "call": {"id": "vapi-other"}, "messages": [], "artifact": {"messages": []}}}
    response = await post(stack, body)
    assert (response.status_code, response.json()) == (200, {})
    assert response.headers["cache-control"] == "no-store"


async def test_a_body_that_is_not_a_server_message_is_400(stack: Stack) -> None:
    for body in ({"message": {"status": "ended"}}, {"nothing": True}, ["a list"], {"message": {"type": 5}}):
        assert (await post(stack, body)).status_code == 400
    tool_calls_without_calls = {"message": {"type": "tool-calls", "call": {"id": "x"}}}
    assert (await post(stack, tool_calls_without_calls)).status_code == 400
    response = await post(stack, message([]))
    assert response.json() == {"results": []}
    assert response.headers["cache-control"] == "no-store"


async def test_deep_nesting_is_400_not_a_crash(stack: Stack, captured_logs: StringIO) -> None:
    headers = {"Authorization": f"Bearer {stack.token}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=stack.app_url) as http:
        for body in (b'{"message": ' * 50_000, b"[" * 200_000, b'{"message": {"type": "hang", "x": ' + b"[" * 5000):
            response = await http.post("/vapi/tool-calls", content=body, headers=headers)
            assert response.status_code == 400, response.text
            assert "nested too deeply" in response.json()["error"]
    assert "RecursionError" not in captured_logs.getvalue()
    assert "Traceback" not in captured_logs.getvalue()


def long_call(calls: list[dict[str, Any]], turns: int) -> dict[str, Any]:
    """A tool-calls message late in a long call: Vapi sends the conversation so far, several times over."""
    said = [
        {"role": "user" if n % 2 else "bot", "message": f"Turn {n}: " + "words spoken on the call " * 12}
        for n in range(turns)
    ]
    openai = [{"role": "user" if n % 2 else "assistant", "content": m["message"]} for n, m in enumerate(said)]
    body = message(calls, "vapi-long")
    transcript = " ".join(m["message"] for m in said)
    body["message"]["artifact"] = {"messages": said, "messagesOpenAIFormatted": openai, "transcript": transcript}
    body["message"]["messages"] = said
    body["message"]["messagesOpenAIFormatted"] = openai
    return body


async def test_a_long_calls_message_is_answered_and_the_limit_is_well_past_it(stack: Stack) -> None:
    calls = [{"id": "p", "name": "getPracticeInfo", "arguments": {}}]
    long = long_call(calls, 1600)  # some 100,000 words said (hours of talk), five copies of each
    assert 2 * 1024 * 1024 < len(json.dumps(long).encode()) < MAX_BODY_BYTES
    assert json.loads(results(await post(stack, long))[0]["result"])["code"] == "practice_info"
    too_long = long_call(calls, 3000)
    assert len(json.dumps(too_long).encode()) > MAX_BODY_BYTES
    response = await post(stack, too_long)
    assert response.status_code == 413
    assert response.json() == {"error": f"the body exceeds {MAX_BODY_BYTES} bytes"}


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
    assert json.loads(not_verified[0]["result"])["code"] == "invalid_arguments"  # a date of birth and name needed
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
    rows = await audit_rows(stack, "vapi-book")
    assert [row.action for row in rows] == [
        "checkAvailability",
        "write.requested",  # recorded before the booking was sent
        "write.outcome",  # confirmed within the voice budget
        "bookAppointment",
        "bookAppointment",  # the replay: nothing sent again
    ]
    assert all(row.actor.startswith("tok_") for row in rows)


async def call_state(stack: Stack, call_id: str) -> tuple[int, int, int]:
    """(per-call attempt counters, stored write outcomes, the patient's and token's counters) of the call."""
    async with open_services(stack.settings) as services:
        key = await call_key(services.blind_index, stack.account_id, call_id)
        async with services.sessions() as session:
            counters = select(func.count()).select_from(IdentityAttempt).where(IdentityAttempt.subject == call_id)
            outcomes = select(func.count()).select_from(IdempotencyKey).where(IdempotencyKey.call_key == key)
            others = select(func.count()).select_from(IdentityAttempt).where(IdentityAttempt.scope != "call")
            return (
                int(await session.scalar(counters) or 0),
                int(await session.scalar(outcomes) or 0),
                int(await session.scalar(others) or 0),
            )


async def test_the_end_of_a_call_ends_its_server_side_state(stack: Stack) -> None:
    patient = patient_with_own_cell(stack)
    call_id, number = "vapi-ending", "+14155550123"
    started = await post(
        stack,
        {
            "message": {
                "type": "status-update",
                "status": "in-progress",
                "call": {"id": call_id, "customer": {"number": number}},
            }
        },
    )
    assert (started.status_code, started.json()) == (200, {})
    calls = [
        {"id": "v", "name": "getPatientInfo", "arguments": identity(patient, dateOfBirth="1901-02-03")},
        {"id": "m", "name": "takeMessage", "arguments": {"callerName": "Sam Caller", "reason": "Please call back"}},
    ]
    answered = [json.loads(r["result"]) for r in results(await post(stack, message(calls, call_id, number)))]
    assert [(a["outcome"], a["code"]) for a in answered] == [
        ("needs_verification", "identity_mismatch"),
        ("confirmed", "message_taken"),
    ]
    counters, outcomes, others = await call_state(stack, call_id)
    assert (counters, outcomes) == (1, 1)
    ended = {
        "message": {
            "type": "status-update",
            "status": "ended",
            "endedReason": "customer-ended-call",
            "call": {"id": call_id},
        }
    }
    assert (await post(stack, ended, {})).status_code == 401  # the same credentials as tool calls
    assert (await call_state(stack, call_id))[:2] == (1, 1)
    response = await post(stack, ended)
    assert (response.status_code, response.json()) == (200, {})
    assert await call_state(stack, call_id) == (0, 0, others)  # the patient's and the token's counters stay
    report = {
        "message": {
            "type": "end-of-call-report",
            "endedReason": "customer-ended-call",
            "call": {"id": call_id},
            "artifact": {"messages": []},
        }
    }
    assert (await post(stack, report)).json() == {}
    rows = await audit_rows(stack, call_id)
    prefetched = [row for row in rows if row.action == "vapi.callPrefetched"]  # in the background, any time
    assert len(prefetched) <= 1
    assert [row.action for row in rows if row not in prefetched] == [
        "getPatientInfo",
        "takeMessage",
        "vapi.callEnded",
        "vapi.callEnded",
    ]


async def prefetch_state(stack: Stack, call_id: str) -> str | None:
    """The call's prefetch row's state (None without one)."""
    async with open_services(stack.settings) as services:
        key = await services.prefetcher.store.call_key(stack.account_id, call_id)
        async with services.sessions() as session:
            found: str | None = await session.scalar(
                select(CallPrefetch.state).where(
                    CallPrefetch.account_id == stack.account_id, CallPrefetch.call_key == key
                )
            )
            return found


async def test_the_start_of_a_call_prefetches_in_the_background_and_its_end_drops_it(stack: Stack) -> None:
    patient = patient_with_own_cell(stack)
    call_id, number = "vapi-prefetched", to_e164(patient["cell"])
    start = {
        "message": {
            "type": "status-update",
            "status": "in-progress",
            "call": {"id": call_id, "customer": {"number": number}},
        }
    }
    response = await post(stack, start)
    assert (response.status_code, response.json()) == (200, {})  # answered at once; the reads run after
    for _ in range(200):
        if await prefetch_state(stack, call_id) == "ready":
            break
        await anyio.sleep(0.05)
    assert await prefetch_state(stack, call_id) == "ready"
    (found,) = results(
        await post(stack, message([{"id": "s", "name": "searchPatients", "arguments": {}}], call_id, number))
    )
    answer = json.loads(found["result"])
    assert [m["patientId"] for m in answer["matches"]] == [patient["patient_id"]]
    report = {"message": {"type": "end-of-call-report", "call": {"id": call_id}, "artifact": {"messages": []}}}
    assert (await post(stack, report)).json() == {}
    assert await prefetch_state(stack, call_id) == "cleared"


async def test_the_first_tool_request_of_a_call_with_a_number_starts_its_prefetch(stack: Stack) -> None:
    """A call whose start Vapi did not report: its first tool request queues the prefetch, for the later ones."""
    patient = patient_with_own_cell(stack)
    call_id, number = "vapi-no-start", to_e164(patient["cell"])
    calls = [{"id": "s", "name": "searchPatients", "arguments": {}}]
    (found,) = results(await post(stack, message(calls, call_id, number)))
    assert json.loads(found["result"])["code"] == "patients_found"
    for _ in range(200):
        if await prefetch_state(stack, call_id) == "ready":
            break
        await anyio.sleep(0.05)
    assert await prefetch_state(stack, call_id) == "ready"
