"""Balances, carriers and coverage: parsing Sikka's amounts and rows, matching what callers say, and the
sentences the balance and insurance tools speak."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from types import SimpleNamespace
from typing import cast

import pytest

from server.audit.record import AuditEntry
from server.caller import Caller
from server.sikka.billing import Balance, Carrier, Carriers, CoverageRow, CoverageTable, as_amount
from server.sikka.client import Listing
from server.sikka.records import Patient, PlanOnFile
from tools.accounts import account_balance, balance_sentence, insurance_sentence, plan_answer
from tools.carriers import match_carrier
from tools.context import ToolCall
from tools.speech import dollars, spoken_dollars
from tools.treatments import coverage_for, treatment_for

CARRIERS = ("Delta Dental of Illinois", "Delta Dental of New York", "MetLife", "Cigna Dental", "United Concordia")


@pytest.mark.parametrize(
    ("raw", "amount"),
    [
        ("125.5000", Decimal("125.50")),
        ("0.0000", Decimal(0)),
        ("-15.0000", Decimal(-15)),
        ("(15.00)", Decimal(-15)),
        ("$1,234.50", Decimal("1234.50")),
        ("10.005", Decimal("10.01")),  # half up, not half even (10.00)
        ("10.015", Decimal("10.02")),
        ("10.0049", Decimal("10.00")),
        ("-10.005", Decimal("-10.01")),
        ("0.004", Decimal("0.00")),
        ("-0.004", Decimal("0.00")),
        ("", None),
        ("n/a", None),
        ("NaN", None),
    ],
)
def test_amounts(raw: str, amount: Decimal | None) -> None:
    assert as_amount(raw) == amount
    assert amount is None or str(as_amount(raw)) == f"{amount:.2f}"  # in cents, never "-0.00"


def balance(patient_due: str, insurance_due: str = "0.0000", total: str | None = None) -> Balance:
    row = {"patient_id": "1", "patient_due": patient_due, "insurance_due": insurance_due}
    if total is not None:
        row["account_balance"] = total
    parsed = Balance.from_item(row)
    assert parsed is not None
    return parsed


def test_a_row_with_unreadable_amounts_is_not_a_balance() -> None:
    assert Balance.from_item({"patient_id": "1", "patient_due": "?", "insurance_due": "0"}) is None
    assert balance("10.00", "5.00").account_balance == Decimal(15)  # the total, when missing, is the sum


@pytest.mark.parametrize(
    ("row", "guarantor", "code", "said"),
    [
        (balance("125.5000", total="125.5000"), False, "balance_found", "This patient owes $125.50."),
        (
            balance("210.0000", "80.0000", "290.0000"),
            True,
            "balance_found",
            "The family account, held by the patient's guarantor, owes $210.00, with $80.00 more expected from "
            "insurance.",
        ),
        (balance("0.0000", total="0.0000"), False, "no_balance", "This patient has no balance due."),
        (balance("-15.0000", total="-15.0000"), False, "credit_balance", "This patient has a credit of $15.00."),
        (
            balance("0.0000", "80.0000", "80.0000"),
            False,
            "balance_found",
            "This patient owes nothing right now; $80.00 is expected from insurance.",
        ),
        (balance("1234.5", total="1234.5"), False, "balance_found", "This patient owes $1,234.50."),
        (balance("0.0040", "0.0030", "0.0040"), False, "no_balance", "This patient has no balance due."),
        (balance("-0.0040", total="-0.0040"), False, "no_balance", "This patient has no balance due."),
        (balance("0.0000", total="0.0049"), False, "no_balance", "This patient has no balance due."),
        (balance("12.345", total="12.345"), False, "balance_found", "This patient owes $12.35."),
    ],
)
def test_balance_sentences(row: Balance, guarantor: bool, code: str, said: str) -> None:
    assert balance_sentence(row, guarantor) == (code, said)


def test_structured_amounts_keep_their_sign() -> None:
    assert (dollars(Decimal("-15")), dollars(Decimal("125.5")), spoken_dollars(Decimal("-15"))) == (
        "-15.00",
        "125.50",
        "$15.00",
    )


@pytest.mark.parametrize(
    ("said", "matches"),
    [
        ("Delta Dental of Illinois", ["Delta Dental of Illinois"]),
        ("delta dental illinois", ["Delta Dental of Illinois"]),
        ("Delta", ["Delta Dental of Illinois", "Delta Dental of New York"]),
        ("Delta Dental", ["Delta Dental of Illinois", "Delta Dental of New York"]),
        ("Met Life", ["MetLife"]),
        ("metlife dental", ["MetLife"]),
        ("Medlife", ["MetLife"]),
        ("CIGNA", ["Cigna Dental"]),
        ("United Concordia Dental Plan", ["United Concordia"]),
    ],
)
def test_carriers_match_by_partial_and_run_together_names(said: str, matches: list[str]) -> None:
    assert match_carrier(said, CARRIERS).matches == matches


@pytest.mark.parametrize(
    ("said", "similar"),
    [
        ("Delta Dental of California", ["Delta Dental of Illinois", "Delta Dental of New York"]),
        ("United Healthcare", ["United Concordia"]),
        ("Blue Cross", []),
        ("Aetna", []),
        ("a", []),
    ],
)
def test_other_carriers_do_not_match_but_similar_ones_are_named(said: str, similar: list[str]) -> None:
    found = match_carrier(said, CARRIERS)
    assert found.matches == []
    assert found.similar == similar


def test_carrier_rows_need_a_name_and_an_active_plan() -> None:
    listing = Listing(
        [
            {"insurance_company_id": "1", "insurance_company_name": "MetLife", "insurance_plan_status": "Active"},
            {"insurance_company_id": "2", "insurance_company_name": "metlife ", "insurance_plan_status": "Active"},
            {"insurance_company_id": "3", "insurance_company_name": "Old Carrier", "insurance_plan_status": "Inactive"},
            {"insurance_company_id": "4", "payer_id": "60054"},  # without fields=get_all: no name
        ]
    )
    carriers = Carriers.from_listing(listing)
    assert carriers.names == ("MetLife",)
    assert carriers.name_of("2") == "metlife"
    assert carriers.name_of("3") is None
    assert Carriers.from_listing(Listing([], reloading=True)).cacheable is False


def row(company: str, category: str, low: str, high: str, percentage: str, **extra: str) -> CoverageRow:
    item = {"insurance_company_id": company, "category": category, "procedure_code_from": low}
    parsed = CoverageRow.from_item(
        {**item, "procedure_code_to": high, "percentage_covered": percentage, "is_deductible": "1", **extra}
    )
    assert parsed is not None
    return parsed


TABLE = CoverageTable(
    (
        row("10", "Preventive", "0100.00", "1999.99", "100", is_deductible="0"),
        row("10", "Basic", "2000.00", "2699.99", "80"),
        row("10", "Crowns", "2700.00", "2899.99", "50", co_pay="25.0000"),
        row("10", "Major", "2000.00", "9999.99", "40"),
        row("20", "Crowns", "2700.00", "2899.99", "60"),
    )
)


@pytest.mark.parametrize(
    ("said", "category"),
    [
        ("a cleaning", "Preventive"),
        ("X-rays", "Preventive"),
        ("fillings", "Basic"),
        ("a crown", "Crowns"),  # the narrowest range wins over "Major"
        ("root canal", "Major"),
        ("preventive", "Preventive"),  # a category's own name
        ("teeth whitening", None),
    ],
)
def test_treatments_find_their_coverage_row(said: str, category: str | None) -> None:
    found = coverage_for(said, TABLE.of("10"))
    assert (found.category if found else None) == category


def test_deep_cleaning_is_not_a_cleaning() -> None:
    deep = treatment_for("a deep cleaning please")
    assert deep is not None
    assert deep.label == "deep cleanings"


def patient_with(*plans: PlanOnFile) -> Patient:
    return Patient("7", "Ann", "Lee", "", None, "Active", "", plans=plans)


def test_insurance_sentences_quote_the_table_never_member_ids() -> None:
    carriers = Carriers((Carrier("10", "Delta Dental of Illinois"), Carrier("20", "MetLife")))
    plans = patient_with(PlanOnFile("primary", "10", ""), PlanOnFile("secondary", "20", "")).plans
    on_file = [plan_answer(plan, carriers, None, None) for plan in plans]
    assert insurance_sentence(on_file, None) == (  # carriers' names (the PMS's text) only in the plans
        "insurance_on_file",
        "The patient has a primary plan and a secondary plan on file.",
    )
    assert [a.plan.carrier_name for a in on_file] == ["Delta Dental of Illinois", "MetLife"]
    crowns = [plan_answer(plan, carriers, TABLE, "crowns") for plan in plans]
    code, said = insurance_sentence(crowns, "crowns")
    assert code == "coverage_listed"
    assert said == (
        "The primary plan on file lists crowns at 50 percent, with a $25.00 copay and after "
        "the deductible; that is the practice's table, not a guarantee of coverage."
    )
    assert [a.plan.coverage.percentage_covered for a in crowns if a.plan.coverage] == [50, 60]
    whitening = [plan_answer(plan, carriers, TABLE, "whitening") for plan in plans]
    code, said = insurance_sentence(whitening, "whitening")
    assert code == "coverage_not_listed"
    assert "that treatment" in said
    assert "whitening" not in said  # the caller's own words are not repeated
    assert insurance_sentence([], None) == (
        "no_insurance_on_file",
        "I don't see any insurance on file for this patient.",
    )


def test_a_carrier_missing_from_the_list_keeps_the_records_own_name() -> None:
    answer = plan_answer(PlanOnFile("primary", "99", "Guardian"), Carriers(()), None, None)
    assert answer.plan.carrier_name == "Guardian"


def test_plans_on_file_ignore_empty_and_zero_ids() -> None:
    parsed = Patient.from_item(
        {
            "patient_id": "1",
            "primary_insurance_company_id": "10",
            "primary_insurance": "Delta Dental of Illinois",
            "subscriber_id": "W123456789",
            "secondary_insurance_company_id": "0",
        }
    )
    assert parsed.plans == (PlanOnFile("primary", "10", "Delta Dental of Illinois"),)
    assert "W123456789" not in repr(parsed)


class Balances:
    """The gateway's balance read over a dict of rows."""

    def __init__(self, rows: dict[str, Balance]) -> None:
        self.rows = rows

    async def balance(self, patient_id: str) -> Balance | None:
        return self.rows.get(patient_id)


def dependent(rows: dict[str, Balance]) -> tuple[ToolCall, Patient]:
    entry = AuditEntry("getPatientBalance", "R", Caller("acct", "tok"), ("balance",), "acct")
    call = cast(ToolCall, SimpleNamespace(practice=Balances(rows), entry=entry))
    return call, Patient("7", "Kid", "Lee", "", None, "Active", "", guarantor_id="5")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("rows", "expected", "on_guarantor", "refs"),
    [
        ({"7": balance("0"), "5": balance("210", "80")}, "5", True, ["5"]),  # the family's account
        ({"7": balance("40"), "5": balance("210", "80")}, "7", False, []),  # the dependent's own amounts
        ({"7": balance("0")}, "7", False, []),  # no guarantor row: the dependent's own (empty) row
        ({}, None, False, []),
    ],
)
async def test_a_dependents_balance_is_the_guarantors_account_unless_their_own_row_has_amounts(
    rows: dict[str, Balance], expected: str | None, on_guarantor: bool, refs: list[str]
) -> None:
    rows = {pid: dataclasses.replace(row, patient_id=pid) for pid, row in rows.items()}
    call, patient = dependent(rows)
    found, guarantors = await account_balance(call, patient, rows.get(patient.patient_id))
    assert (found.patient_id if found else None, guarantors) == (expected, on_guarantor)
    assert call.entry.patient_refs == refs  # the guarantor's account was disclosed: recorded
