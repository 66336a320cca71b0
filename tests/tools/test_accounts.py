"""The account tools (tools/accounts.py): getPatientBalance in dollars, the guarantor's account included, and its
audit rows; getPatientInsurance naming the carriers on file and quoting the practice's coverage table; nothing
said without verification; and the Sikka requests both make cold and warm.

The sandbox is created as if ten days ago (its clock runs ten days behind, from noon practice time), as for the
practice tools (tests/tools/test_practice.py)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from server.db.models import AuditLog
from tests.support import identity
from tests.tools.conftest import Desk, cold_and_warm, desk_behind, requests_since

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
async def desk(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Desk]:
    async with desk_behind(tmp_path_factory.mktemp("accounts") / "parlae.db") as opened:
        yield opened


def owing_alone(desk: Desk) -> dict[str, str]:
    """The self-guarantor who owes 125.50 (sandbox.billing.debts)."""
    practice = desk.practice
    return next(
        practice.patients[pid] for pid, owed in practice.debts.items() if sum(owed.patient) == Decimal("125.50")
    )


def dependent_of_owing_family(desk: Desk) -> dict[str, str]:
    """A dependent whose guarantor's account owes 210.00, with 80.00 expected from insurance."""
    practice = desk.practice
    family = next(pid for pid, owed in practice.debts.items() if sum(owed.patient) == Decimal("210.00"))
    return next(p for p in practice.patients.values() if p["guarantor_id"] == family != p["patient_id"])


def doubly_insured(desk: Desk) -> dict[str, str]:
    """A self-insured patient with a primary and a secondary carrier."""
    return next(
        p
        for p in desk.practice.patients.values()
        if p["secondary_insurance_company_id"] and p["primary_relationship"] == "Self" and p["status"] == "Active"
    )


def insured_debtor(desk: Desk) -> tuple[dict[str, str], Decimal]:
    """Another self-guarantor who owes something and has insurance on file (none of the patients above); what
    they owe."""
    practice = desk.practice
    others = {owing_alone(desk)["patient_id"], doubly_insured(desk)["patient_id"]}
    owing = {pid: sum(owed.patient, Decimal(0)) for pid, owed in practice.debts.items() if pid not in others}
    return next(
        (practice.patients[pid], owed)
        for pid, owed in owing.items()
        if owed > 0
        and practice.patients[pid]["guarantor_id"] == pid
        and practice.patients[pid]["primary_insurance_company_id"]
    )


def carrier_name(desk: Desk, company_id: str) -> str:
    return str(
        next(
            c["insurance_company_name"]
            for c in desk.practice.insurance_companies
            if c["insurance_company_id"] == company_id
        )
    )


async def audit_rows(desk: Desk, action: str) -> list[AuditLog]:
    async with desk.services.sessions() as session:
        return list(await session.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


async def test_balances_in_dollars_and_the_guarantors_account(desk: Desk) -> None:
    alone, dependent = owing_alone(desk), dependent_of_owing_family(desk)
    own = await desk.call("getPatientBalance", identity(alone), "balance-own")
    assert (own["outcome"], own["code"], own["message"]) == ("ok", "balance_found", "This patient owes $125.50.")
    assert (own["patientDue"], own["insurancePending"], own["accountBalance"]) == ("125.50", "0.00", "125.50")
    assert own["onGuarantorAccount"] is False
    family = await desk.call("getPatientBalance", identity(dependent), "balance-family")
    assert family["onGuarantorAccount"] is True, family
    assert family["message"] == (
        "The family account, held by the patient's guarantor, owes $210.00, with $80.00 more expected from insurance."
    )
    assert (family["patientDue"], family["insurancePending"], family["accountBalance"]) == ("210.00", "80.00", "290.00")
    guarantor = desk.practice.patients[dependent["guarantor_id"]]
    assert guarantor["firstname"] not in json.dumps(family)  # the account holder is not named
    rows = await audit_rows(desk, "getPatientBalance")
    refs = {row.vapi_call_id: row.patient_ref for row in rows}
    assert refs["balance-own"] == alone["patient_id"]
    assert refs["balance-family"] == f"{dependent['patient_id']},{dependent['guarantor_id']}"
    assert all(row.phi_fields == ["balance"] for row in rows if row.phi_accessed)


@pytest.mark.parametrize("tool", ["getPatientBalance", "getPatientInsurance"])
async def test_nothing_is_said_without_verification(desk: Desk, tool: str) -> None:
    patient, owed = insured_debtor(desk)
    wrong = await desk.call(tool, identity(patient, dateOfBirth="1901-01-01"), f"unverified-{tool}")
    assert (wrong["outcome"], wrong["code"]) == ("needs_verification", "identity_mismatch")
    assert str(int(owed)) not in json.dumps(wrong)
    assert not wrong.get("plans")
    no_name = await desk.call(
        tool, {"patientId": patient["patient_id"], "dateOfBirth": patient["birthdate"][:10]}, f"unverified-{tool}"
    )
    assert (no_name["isError"], no_name["code"]) == (True, "invalid_arguments")


async def test_insurance_on_file_names_carriers_and_quotes_the_coverage_table(desk: Desk) -> None:
    patient = doubly_insured(desk)
    primary = carrier_name(desk, patient["primary_insurance_company_id"])
    secondary = carrier_name(desk, patient["secondary_insurance_company_id"])
    on_file = await desk.call("getPatientInsurance", identity(patient), "insurance")
    assert on_file["message"] == "The patient has a primary plan and a secondary plan on file.", on_file
    assert [(p["rank"], p["carrierName"]) for p in on_file["plans"]] == [("primary", primary), ("secondary", secondary)]
    crowns = await desk.call("getPatientInsurance", {**identity(patient), "category": "a crown"}, "insurance")
    expected = next(
        row
        for row in desk.practice.coverage
        if row["insurance_company_id"] == patient["primary_insurance_company_id"] and row["category"] == "Crowns"
    )
    assert crowns["code"] == "coverage_listed", crowns
    assert crowns["message"].startswith(
        f"The primary plan on file lists crowns at {expected['percentage_covered']} percent"
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
    implants = await desk.call("getPatientInsurance", {**identity(patient), "category": "implants"}, "insurance")
    assert (implants["outcome"], implants["code"]) == ("not_found", "coverage_not_listed")


async def test_warm_calls_make_the_fewest_sikka_requests(fresh: Desk) -> None:
    calls: list[tuple[str, dict[str, Any]]] = [
        ("getPatientBalance", identity(owing_alone(fresh))),
        ("getPatientInsurance", {**identity(doubly_insured(fresh)), "category": "cleanings"}),
    ]
    cold, warm = await cold_and_warm(fresh, calls)
    assert cold == {
        "getPatientBalance": {"GET /patients": 1, "GET /patient_balance": 1},
        "getPatientInsurance": {"GET /patients": 1, "GET /insurance_companies": 1, "GET /insurance_plan_coverage": 1},
    }
    assert warm == {
        "getPatientBalance": {"GET /patients": 1, "GET /patient_balance": 1},  # a balance is never cached
        "getPatientInsurance": {"GET /patients": 1},  # the carrier list and coverage table are
    }


async def test_insurance_uses_the_carrier_list_the_carrier_check_loaded(fresh: Desk) -> None:
    asked = await fresh.call("checkInsuranceAccepted", {"carrier": "Delta"}, "shared-carriers")
    assert not asked["isError"], asked
    before = Counter(fresh.sandbox.counters)
    insurance = await fresh.call(
        "getPatientInsurance", {**identity(doubly_insured(fresh)), "category": "cleanings"}, "shared-carriers"
    )
    assert not insurance["isError"], insurance
    assert requests_since(fresh.sandbox, before) == {"GET /patients": 1, "GET /insurance_plan_coverage": 1}
