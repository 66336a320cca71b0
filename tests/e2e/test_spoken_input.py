"""Spoken input through uvicorn, each case on both paths (MCP and `POST /vapi/tool-calls`, the same answer):
dates as callers say them resolved in the practice's zone and said back, the practice's `today` on every
answer, a preferred time among the options, a provider by name, names as callers say them, balances in cents,
and the examples of docs/vapi.md. Dates are derived from the practice's today and the sandbox's schedule."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from sandbox import DEMO_OFFICE_ID
from sandbox.billing import Owed
from tests.e2e.test_vapi_tool_calls import as_function, message, post, results
from tests.outcome_codes import CODES
from tests.support import Stack, call, identity, mcp_client, open_day, practice_today
from tools.speech import spoken_day

pytestmark = pytest.mark.anyio

DOCS = Path(__file__).parents[2] / "docs" / "vapi.md"
EXAMPLE = re.compile(r"```json example\n(.*?)\n```", re.DOTALL)
CALLS = count()
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [without_nulls(item) for item in value]
    return value


async def both(stack: Stack, tool: str, arguments: dict[str, Any]) -> tuple[dict[str, Any], bool, bool]:
    """The answer, the same on both paths, its `today` the practice's; whether MCP calls it an error, and whether
    tool-calls does. Made again should the practice's midnight pass during the two calls (only reads are asked)."""
    while True:
        started = practice_today()
        over_vapi, mcp_error, vapi_error = await both_once(stack, tool, arguments)
        if practice_today() == started:
            assert over_vapi.get("today", started.isoformat()) == started.isoformat(), over_vapi
            return over_vapi, mcp_error, vapi_error


async def both_once(stack: Stack, tool: str, arguments: dict[str, Any]) -> tuple[dict[str, Any], bool, bool]:
    serial = next(CALLS)
    async with mcp_client(stack.mcp_url, stack.token, call_id=f"spoken-mcp-{serial}") as client:
        over_mcp = await call(client, tool, arguments)
    (entry,) = results(await post(stack, message([as_function("1", tool, arguments)], f"spoken-vapi-{serial}")))
    over_vapi = json.loads(entry.get("result") or entry["error"])
    mcp_error = over_mcp.pop("isError")
    assert without_nulls(over_mcp) == over_vapi  # MCP's structured content keeps the nulls the text leaves out
    assert CODES[tool][over_vapi["code"]] == over_vapi["outcome"]  # a code the registry lists for the tool
    return over_vapi, mcp_error, "error" in entry


def ahead(today: date, weekday: int) -> date:
    """The next such weekday after today (one to seven days ahead)."""
    return today + timedelta(days=(weekday - today.weekday() - 1) % 7 + 1)


def resolved(said: str, today: date) -> date:
    """The day a caller means: today, tomorrow, or the next such weekday after today ("friday", "next friday")."""
    word = said.lower().split()[-1]
    if word in ("today", "tomorrow"):
        return today + timedelta(days=word == "tomorrow")
    return ahead(today, WEEKDAYS.index(word))


async def test_dates_as_callers_say_them_are_the_practices_and_said_back(stack: Stack) -> None:
    same_weekday = f"{practice_today():%A}"
    for said in ("today", "Tomorrow", same_weekday.lower(), f"next {same_weekday}", "FRIDAY"):
        answer, _, _ = await both(stack, "checkAvailability", {"date": said})
        today = date.fromisoformat(answer["today"])  # the answer's own today (`both` checks it is the practice's)
        day = resolved(said, today)
        assert (answer["startDate"], answer["endDate"]) == (day.isoformat(), day.isoformat()), said
        assert day != today or said == "today"  # a weekday is never today, even today's weekday
        assert answer["day"] == spoken_day(day)
        assert spoken_day(day) in answer["message"], answer["message"]
    ranged, _, _ = await both(stack, "checkAvailability", {"startDate": "tomorrow", "endDate": "next friday"})
    today = date.fromisoformat(ranged["today"])
    assert (ranged["startDate"], ranged["endDate"]) == (
        resolved("tomorrow", today).isoformat(),
        ahead(today, 4).isoformat(),
    )


async def test_every_answer_carries_the_practices_today(stack: Stack) -> None:
    for tool, arguments in [
        ("searchPatients", {"name": "Smith"}),
        ("getPracticeInfo", {}),
        ("getProviders", {}),
        ("checkInsuranceAccepted", {"carrier": "Delta"}),
        ("checkAvailability", {"date": "someday"}),
    ]:
        answer, _, _ = await both(stack, tool, arguments)
        assert "today" in answer, (tool, answer)  # and `both` checks it is the practice's
    unreadable, mcp_error, vapi_error = await both(stack, "checkAvailability", {"date": "someday"})
    assert (unreadable["outcome"], unreadable["code"], mcp_error, vapi_error) == (
        "invalid",
        "invalid_arguments",
        True,
        False,
    )
    assert "someday" not in unreadable["message"]


def clock(slot: dict[str, str]) -> int:
    start = datetime.fromisoformat(slot["startTime"])
    return start.hour * 60 + start.minute


async def test_a_free_preferred_time_is_offered_with_the_nearest(stack: Stack) -> None:
    day = open_day(stack, 8).isoformat()
    afternoon, _, _ = await both(stack, "checkAvailability", {"date": day, "partOfDay": "afternoon"})
    spread, _, _ = await both(stack, "checkAvailability", {"date": day})
    assert afternoon["code"] == "slots_found", afternoon
    free = {slot["startTime"] for slot in afternoon["slots"] + spread["slots"]}  # known open times that day
    wanted = afternoon["slots"][1]
    hhmm = wanted["startTime"][11:16]
    answer, _, _ = await both(stack, "checkAvailability", {"date": day, "preferredTime": hhmm})
    offered = {slot["startTime"] for slot in answer["slots"]}
    assert wanted["startTime"] in offered
    farthest = max(abs(clock(slot) - clock(wanted)) for slot in answer["slots"])
    left_out = [start for start in free - offered if abs(clock({"startTime": start}) - clock(wanted)) < farthest]
    assert left_out == [], "an open time nearer the preferred one was left out"


async def test_a_provider_by_the_name_callers_use(stack: Stack) -> None:
    team, _, _ = await both(stack, "getProviders", {})
    surnames = [provider["name"].split()[-1] for provider in team["providers"]]
    chosen = next(p for p in team["providers"] if surnames.count(p["name"].split()[-1]) == 1)
    day = open_day(stack, 9).isoformat()
    for said in (f"Dr. {chosen['name'].split()[-1]}", f"doctor {chosen['name'].lower()}"):
        answer, _, _ = await both(stack, "checkAvailability", {"date": day, "providerName": said})
        assert answer["outcome"] in ("ok", "not_found"), answer
        assert {slot["providerId"] for slot in answer["slots"]} <= {chosen["providerId"]}
    unknown, mcp_error, vapi_error = await both(stack, "checkAvailability", {"date": day, "providerName": "Dr. Zzyzx"})
    assert (unknown["outcome"], unknown["code"], mcp_error, vapi_error) == (
        "invalid",
        "unknown_provider_name",
        True,
        False,
    )


def add_patient(stack: Stack, patient_id: str, first: str, last: str, **more: str) -> dict[str, str]:
    practice = stack.sandbox.practice(DEMO_OFFICE_ID)
    record = practice.make_patient(
        patient_id, {"firstname": first, "lastname": last, "birthdate": "1980-05-17T00:00:00", **more}
    )
    practice.patients[patient_id] = record
    return record


@pytest.mark.parametrize(
    ("record", "said", "found"),
    [
        (("Maria", "De La Cruz"), "Maria De La Cruz", True),
        (("Maria", "DeLaCruz"), "Maria De La Cruz", True),  # run together on record
        (("Jon", "Smith"), "J O N Smith", True),
        (("Mary Ann", "Quill"), "Mary Ann Quill", True),
        (("Mary Ann", "Quill"), "Mary Quill", True),
        (("Mary Ann", "Quill"), "Ann Quill", False),  # the first word of a first name, not any word
        (("Robert", "Vance"), "Bob Vance", True),  # the preferred name
        (("Robert", "Vance"), "Robert James Vance", True),  # a middle name
    ],
)
async def test_names_as_callers_say_them(stack: Stack, record: tuple[str, str], said: str, found: bool) -> None:
    patient_id = f"9{next(CALLS):05d}"
    add_patient(stack, patient_id, *record, preferred_name="Bob" if record[0] == "Robert" else "")
    answer, _, _ = await both(stack, "searchPatients", {"name": said})
    ids = [match["patientId"] for match in answer.get("matches", [])]
    assert (patient_id in ids) == found, answer
    assert all(set(match) == {"patientId", "firstName", "lastName"} for match in answer.get("matches", []))
    assert len(ids) <= 5


def self_guarantor(stack: Stack, after: int) -> dict[str, str]:
    practice = stack.sandbox.practice(DEMO_OFFICE_ID)
    alone = [
        p
        for p in practice.patients.values()
        if p["guarantor_id"] == p["patient_id"] and p["status"] == "Active" and p["firstname"] and p["birthdate"]
    ]
    return alone[after]


@pytest.mark.parametrize(
    ("owed", "code", "said", "due"),
    [
        ("0.004", "no_balance", "This patient has no balance due.", "0.00"),
        ("10.005", "balance_found", "This patient owes $10.01.", "10.01"),
        ("-0.0049", "no_balance", "This patient has no balance due.", "0.00"),
    ],
)
async def test_balances_are_in_cents_half_up(stack: Stack, owed: str, code: str, said: str, due: str) -> None:
    patient = self_guarantor(stack, 3 + next(CALLS) % 7)
    stack.sandbox.practice(DEMO_OFFICE_ID).debts[patient["patient_id"]] = Owed((Decimal(owed), *[Decimal(0)] * 3))
    answer, _, _ = await both(stack, "getPatientBalance", identity(patient))
    assert (answer["code"], answer["message"], answer["patientDue"]) == (code, said, due)


@pytest.mark.parametrize("example", EXAMPLE.findall(DOCS.read_text()), ids=lambda text: json.loads(text)["tool"])
async def test_the_vapi_guides_examples(stack: Stack, example: str) -> None:
    shown = json.loads(example)
    answer, _, _ = await both(stack, shown["tool"], shown["arguments"])
    expected = shown["answer"]
    assert (answer["outcome"], answer["code"]) == (expected["outcome"], expected["code"]), answer
    assert set(expected) <= set(answer)
    assert "today" in answer  # the practice's (checked by `both`)
