"""The front-desk tools through uvicorn and the MCP SDK client against the sandbox: practice information with this
week's holiday and closed days, providers, insurance carriers by partial name, balances (the guarantor's account
too), insurance on file and its coverage, messages for staff; refusals without verification; audit rows; and
the Sikka requests each tool makes cold and warm.

The sandbox is created as if ten days ago (its clock runs ten days behind, from noon practice time), so its
one holiday — the first Thursday at least ten days after creation — falls within the coming week."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from sandbox import DEMO_OFFICE_ID, SandboxConfig, SandboxState, open_hours
from sandbox.billing import CARRIERS
from sandbox.data import HOLIDAY_NAME, holiday_for
from server.db.models import AuditLog
from server.phones import pms_format, to_e164
from server.services import open_services
from tests.support import Stack, call, identity, mcp_client, running_stack
from tools.speech import spoken_day

pytestmark = pytest.mark.anyio
ZONE = ZoneInfo("America/New_York")  # the demo practice's "Eastern Standard Time"
SHIFT_DAYS = 10


def sandbox_ten_days_behind() -> tuple[SandboxConfig, date]:
    """A sandbox clock that created the practice at noon, practice time, ten days before today; the holiday."""
    created = datetime.combine(datetime.now(ZONE).date() - timedelta(days=SHIFT_DAYS), time(12), tzinfo=ZONE)
    behind = datetime.now(UTC) - created
    config = SandboxConfig(writeback_delay_seconds=0.3, clock=lambda: datetime.now(UTC) - behind)
    return config, holiday_for(created.date())


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config, holiday = sandbox_ten_days_behind()
    database = tmp_path_factory.mktemp("front-desk") / "parlae.db"
    with running_stack(f"sqlite+aiosqlite:///{database}", sandbox=config) as running:
        running.extra["holiday"] = holiday
        yield running


def demo(stack: Stack) -> Any:
    return stack.sandbox.practice(DEMO_OFFICE_ID)


async def ask(stack: Stack, tool: str, arguments: dict[str, Any], call_id: str = "front-desk") -> dict[str, Any]:
    async with mcp_client(stack.mcp_url, stack.token, call_id=call_id) as client:
        return await call(client, tool, arguments)


def owing_alone(stack: Stack) -> dict[str, str]:
    """The self-guarantor who owes 125.50 (sandbox.billing.debts)."""
    practice = demo(stack)
    return next(
        practice.patients[pid] for pid, owed in practice.debts.items() if sum(owed.patient) == Decimal("125.50")
    )


def dependent_of_owing_family(stack: Stack) -> dict[str, str]:
    """A dependent whose guarantor's account owes 210.00, with 80.00 expected from insurance."""
    practice = demo(stack)
    family = next(pid for pid, owed in practice.debts.items() if sum(owed.patient) == Decimal("210.00"))
    return next(p for p in practice.patients.values() if p["guarantor_id"] == family != p["patient_id"])


def doubly_insured(stack: Stack) -> dict[str, str]:
    """A self-insured patient with a primary and a secondary carrier."""
    return next(
        p
        for p in demo(stack).patients.values()
        if p["secondary_insurance_company_id"] and p["primary_relationship"] == "Self" and p["status"] == "Active"
    )


def carrier_name(stack: Stack, company_id: str) -> str:
    return str(
        next(
            c["insurance_company_name"]
            for c in demo(stack).insurance_companies
            if c["insurance_company_id"] == company_id
        )
    )


async def audit_rows(stack: Stack, action: str) -> list[AuditLog]:
    async with open_services(stack.settings) as services, services.sessions() as session:
        return list(await session.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


# --- practice, providers, carriers ------------------------------------------------------------------


async def test_practice_info_has_this_weeks_hours_with_the_holiday_and_closed_days(stack: Stack) -> None:
    info = await ask(stack, "getPracticeInfo", {})
    practice, holiday = demo(stack), stack.extra["holiday"]
    assert info["outcome"] == "ok", info
    assert (info["name"], info["website"], info["timeZone"]) == (practice.name, practice.website, "America/New_York")
    assert info["phone"] == pms_format(to_e164(practice.phone) or "")
    assert info["address"].startswith(practice.address)
    assert info["message"].startswith(f"{practice.name} is {'open' if info['openNow'] else 'closed'} now")
    assert f"the office is closed on {spoken_day(holiday)} for {HOLIDAY_NAME}." in info["message"]
    days = [date.fromisoformat(h["day"]) for h in info["hours"]]
    assert days == [days[0] + timedelta(days=n) for n in range(7)]
    assert holiday in days
    for hours in info["hours"]:
        day = date.fromisoformat(hours["day"])
        spans = [(s["opens"], s["closes"]) for s in hours["hours"]]
        expected = [
            (f"{a // 60:02d}:{a % 60:02d}", f"{b // 60:02d}:{b % 60:02d}")
            for a, b in open_hours(practice.schedule, day)
        ]
        assert spans == expected, day
        assert hours["open"] == bool(spans)
    by_day = {date.fromisoformat(h["day"]): h for h in info["hours"]}
    assert (by_day[holiday]["holiday"], by_day[holiday]["said"]) == (HOLIDAY_NAME, f"closed for {HOLIDAY_NAME}")
    sunday = next(h for d, h in by_day.items() if d.weekday() == 6)
    assert (sunday["open"], sunday["holiday"], sunday["said"]) == (False, None, "closed")
    (row,) = await audit_rows(stack, "getPracticeInfo")
    assert (row.phi_accessed, row.patient_ref, row.outcome) == (False, None, "success")


async def test_providers_are_the_bookable_ones_with_roles(stack: Stack) -> None:
    found = await ask(stack, "getProviders", {})
    assert found["outcome"] == "ok", found
    assert [(p["providerId"], p["role"]) for p in found["providers"]] == [
        ("DDS1", "dentist"),
        ("DDS2", "dentist"),
        ("HYG1", "hygienist"),
    ]  # not the inactive dentist (DDS0), not front-desk staff (STF1)
    assert (
        found["message"] == "The dentists are Dr. Sarah Chen and Dr. Michael Patel, and the hygienist is Maria Lopez."
    )


async def test_a_carrier_is_matched_by_a_partial_name_and_others_are_not(stack: Stack) -> None:
    offered = [c["insurance_company_name"] for c in demo(stack).insurance_companies]
    first = offered[0]
    partial = await ask(stack, "checkInsuranceAccepted", {"carrier": first.split()[0].lower()})
    assert (partial["outcome"], partial["accepted"]) == ("ok", True), partial
    assert first in partial["matches"]
    assert "covers" in partial["message"]  # never a promise of coverage
    missing = next(c.name for c in CARRIERS if c.name not in offered)
    unknown = await ask(stack, "checkInsuranceAccepted", {"carrier": missing})
    assert (unknown["outcome"], unknown["code"], unknown["accepted"]) == ("not_found", "carrier_not_listed", False)
    vague = await ask(stack, "checkInsuranceAccepted", {"carrier": "dental insurance"})
    assert (vague["isError"], vague["code"]) == (True, "carrier_name_needed")


# --- balance and insurance --------------------------------------------------------------------------


async def test_balances_in_dollars_and_the_guarantors_account(stack: Stack) -> None:
    alone, dependent = owing_alone(stack), dependent_of_owing_family(stack)
    own = await ask(stack, "getPatientBalance", identity(alone), "balance-own")
    assert (own["outcome"], own["code"], own["message"]) == ("ok", "balance_found", "This patient owes $125.50.")
    assert (own["patientDue"], own["insurancePending"], own["accountBalance"]) == ("125.50", "0.00", "125.50")
    assert own["onGuarantorAccount"] is False
    family = await ask(stack, "getPatientBalance", identity(dependent), "balance-family")
    assert family["onGuarantorAccount"] is True, family
    assert family["message"] == (
        "The family account, held by the patient's guarantor, owes $210.00, with $80.00 more expected from insurance."
    )
    assert (family["patientDue"], family["insurancePending"], family["accountBalance"]) == ("210.00", "80.00", "290.00")
    guarantor = demo(stack).patients[dependent["guarantor_id"]]
    assert guarantor["firstname"] not in json.dumps(family)  # the account holder is not named
    rows = await audit_rows(stack, "getPatientBalance")
    refs = {row.vapi_call_id: row.patient_ref for row in rows}
    assert refs["balance-own"] == alone["patient_id"]
    assert refs["balance-family"] == f"{dependent['patient_id']},{dependent['guarantor_id']}"
    assert all(row.phi_fields == ["balance"] for row in rows if row.phi_accessed)


@pytest.mark.parametrize("tool", ["getPatientBalance", "getPatientInsurance"])
async def test_nothing_is_said_without_verification(stack: Stack, tool: str) -> None:
    patient = owing_alone(stack)
    wrong = await ask(stack, tool, identity(patient, dateOfBirth="1901-01-01"), f"unverified-{tool}")
    assert (wrong["outcome"], wrong["code"]) == ("needs_verification", "identity_mismatch")
    assert "125" not in json.dumps(wrong)
    assert not wrong.get("plans")
    no_name = await ask(stack, tool, {"patientId": patient["patient_id"], "dateOfBirth": patient["birthdate"][:10]})
    assert (no_name["isError"], no_name["code"]) == (True, "invalid_arguments")


async def test_insurance_on_file_names_carriers_and_quotes_the_coverage_table(stack: Stack) -> None:
    patient = doubly_insured(stack)
    primary = carrier_name(stack, patient["primary_insurance_company_id"])
    secondary = carrier_name(stack, patient["secondary_insurance_company_id"])
    on_file = await ask(stack, "getPatientInsurance", identity(patient))
    assert on_file["message"] == f"The insurance on file is {primary} as primary and {secondary} as secondary.", on_file
    crowns = await ask(stack, "getPatientInsurance", {**identity(patient), "category": "a crown"})
    expected = next(
        row
        for row in demo(stack).coverage
        if row["insurance_company_id"] == patient["primary_insurance_company_id"] and row["category"] == "Crowns"
    )
    assert crowns["code"] == "coverage_listed", crowns
    assert crowns["message"].startswith(
        f"The plan on file with {primary} lists crowns at {expected['percentage_covered']} percent"
    )
    assert "not a guarantee" in crowns["message"]
    assert crowns["plans"][0]["coverage"] == {
        "category": "Crowns",
        "percentageCovered": int(expected["percentage_covered"]),
        "coPay": None,
        "deductibleApplies": True,
    }
    for answer in (on_file, crowns):
        text = json.dumps(answer)
        assert patient["subscriber_id"] not in text
        assert patient["secondary_subscriber_id"] not in text
    implants = await ask(stack, "getPatientInsurance", {**identity(patient), "category": "implants"})
    assert (implants["outcome"], implants["code"]) == ("not_found", "coverage_not_listed")


# --- takeMessage -------------------------------------------------------------------------------------


async def test_a_message_is_stored_once_per_call_and_linked_only_to_a_verified_patient(stack: Stack) -> None:
    message = {"callerName": "Jo Caller", "callbackNumber": "(212) 555-0142", "reason": "Question about a bill"}
    first = await ask(stack, "takeMessage", {**message, "urgency": "urgent"}, "message-call")
    again = await ask(stack, "takeMessage", {**message, "urgency": "urgent"}, "message-call")
    assert (first["outcome"], first["code"], first["urgency"]) == ("confirmed", "message_taken", "urgent"), first
    assert again["messageId"] == first["messageId"]  # a retry on the same call stores nothing new
    patient = owing_alone(stack)
    linked = await ask(stack, "takeMessage", {**message, "patient": identity(patient)}, "message-linked")
    refused = await ask(
        stack, "takeMessage", {**message, "patient": identity(patient, dateOfBirth="1901-01-01")}, "message-refused"
    )
    assert refused["code"] == "identity_mismatch"
    assert refused.get("messageId") is None
    async with open_services(stack.settings) as services:
        stored = {m.id: m for m in await services.messages.open_messages(stack.account_id)}
    assert stored[first["messageId"]].details.callback_number == "+12125550142"
    assert stored[first["messageId"]].details.patient_id is None
    assert stored[linked["messageId"]].details.patient_id == patient["patient_id"]
    assert stored[first["messageId"]].delivery == "off"  # no notify URL configured for this practice
    assert len([m for m in stored.values() if m.vapi_call_id in ("message-call", "message-refused")]) == 1


async def test_the_callback_number_defaults_to_the_calling_number(stack: Stack) -> None:
    message = {"callerName": "Sam Caller", "reason": "Please call back"}
    headers = {"X-Caller-Number": "+1 (917) 555-0177"}
    async with mcp_client(stack.mcp_url, stack.token, call_id="message-caller", headers=headers) as client:
        taken = await call(client, "takeMessage", message)
    assert (taken["outcome"], taken["code"]) == ("confirmed", "message_taken"), taken
    assert taken["message"].endswith("they will call you back at the number ending in 0177.")
    unknown = await ask(stack, "takeMessage", message, "message-no-number")
    assert (unknown["isError"], unknown["code"]) == (True, "callback_number_needed")
    async with open_services(stack.settings) as services:
        stored = {m.id: m for m in await services.messages.open_messages(stack.account_id)}
    assert stored[taken["messageId"]].details.callback_number == "+19175550177"
    assert not any(m.vapi_call_id == "message-no-number" for m in stored.values())


# --- Sikka requests per call ------------------------------------------------------------------------


def requests_since(state: SandboxState, before: Counter[str]) -> dict[str, int]:
    now = Counter({name: n for name, n in state.counters.items() if not name.startswith("POST /request_key")})
    return dict(now - before)


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Stack]:
    """A stack of its own: nothing cached yet."""
    config, _ = sandbox_ten_days_behind()
    with running_stack(f"sqlite+aiosqlite:///{tmp_path / 'counts.db'}", sandbox=config) as running:
        yield running


async def test_warm_calls_make_the_fewest_sikka_requests(fresh: Stack) -> None:
    patient = doubly_insured(fresh)
    alone = owing_alone(fresh)
    calls: list[tuple[str, dict[str, Any]]] = [
        ("getPracticeInfo", {}),
        ("getProviders", {}),
        ("checkInsuranceAccepted", {"carrier": "Delta"}),
        ("getPatientBalance", identity(alone)),
        ("getPatientInsurance", {**identity(patient), "category": "cleanings"}),
        ("takeMessage", {"callerName": "Jo", "callbackNumber": "212-555-0100", "reason": "Call me"}),
    ]
    cold: dict[str, dict[str, int]] = {}
    warm: dict[str, dict[str, int]] = {}
    async with mcp_client(fresh.mcp_url, fresh.token, call_id="counts") as client:
        for label, counts in (("cold", cold), ("warm", warm)):
            for tool, arguments in calls:
                before = Counter(fresh.sandbox.counters)
                result = await call(client, tool, {**arguments, **({"reason": label} if tool == "takeMessage" else {})})
                assert not result["isError"], result
                counts[tool] = requests_since(fresh.sandbox, before)
    metadata = {"GET /practices", "GET /providers", "GET /practice_schedule", "GET /operatories"}
    assert metadata <= set(cold["getPracticeInfo"])  # the first call loads the practice metadata ...
    assert "GET /insurance_companies" not in cold["getPracticeInfo"]  # ... but never the insurance tables
    assert cold["getProviders"] == {}
    assert cold["checkInsuranceAccepted"] == {"GET /insurance_companies": 1}
    assert cold["getPatientInsurance"] == {"GET /patients": 1, "GET /insurance_plan_coverage": 1}
    assert warm == {
        "getPracticeInfo": {},
        "getProviders": {},
        "checkInsuranceAccepted": {},
        "getPatientBalance": {"GET /patients": 1, "GET /patient_balance": 1},
        "getPatientInsurance": {"GET /patients": 1},
        "takeMessage": {},
    }
