"""getPatientBalance, getPatientInsurance: a verified patient's account, from the practice's own records.

Both take the identity check's arguments first (tools/identity.py). Balances are said in dollars ("$125.50");
a negative amount is a credit. A dependent's amounts usually sit on the guarantor's account (the account
holder's): then the answer says so, without naming the guarantor. Insurance answers name carriers only (never
subscriber or member ids) and quote the practice's coverage table as "the plan on file lists", never as a
promise of coverage.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field

from server.sikka import Balance, Carriers, CoverageRow, CoverageTable, Patient, PlanOnFile
from tools.arguments import ShortText
from tools.base import tool
from tools.codes import Code
from tools.context import ToolCall
from tools.gather import Beside
from tools.identity import VerifyArgs, verify
from tools.results import BalanceResult, InsurancePlan, PatientInsuranceResult, PlanCoverage
from tools.spec import CHECKS_IDENTITY
from tools.speech import dollars, spoken_dollars, spoken_list
from tools.treatments import coverage_for, label_for

NOT_A_GUARANTEE = "that is the practice's table, not a guarantee of coverage"


# --- getPatientBalance ------------------------------------------------------------------------------


async def account_balance(call: ToolCall, patient: Patient, own: Balance | None) -> tuple[Balance | None, bool]:
    """The balance to speak of and whether it is the guarantor's: the patient's own row (read beside the identity
    check), or for a dependent whose own row carries no amounts the guarantor's account (a second round trip:
    the guarantor is known only from the patient's record)."""
    if not patient.dependent or (own is not None and not own.empty):
        return own, False
    guarantor = await call.practice.balance(patient.guarantor_id)
    if guarantor is None:
        return own, False
    call.entry.touched(patient.guarantor_id)
    return guarantor, True


def balance_sentence(balance: Balance, on_guarantor: bool) -> tuple[Code, str]:
    """(code, one sentence) for a balance."""
    subject = "The family account, held by the patient's guarantor," if on_guarantor else "This patient"
    due, pending = balance.patient_due, balance.insurance_due
    if balance.empty:
        return Code.NO_BALANCE, f"{subject} has no balance due."
    if due < 0 or (due == 0 and balance.account_balance < 0):
        return Code.CREDIT_BALANCE, f"{subject} has a credit of {spoken_dollars(min(due, balance.account_balance))}."
    if due == 0:
        total = f"the account shows {spoken_dollars(balance.account_balance)} and the office can explain it"
        rest = f"{spoken_dollars(pending)} is expected from insurance" if pending > 0 else total
        return Code.BALANCE_FOUND, f"{subject} owes nothing right now; {rest}."
    more = f", with {spoken_dollars(pending)} more expected from insurance" if pending > 0 else ""
    return Code.BALANCE_FOUND, f"{subject} owes {spoken_dollars(due)}{more}."


@tool(
    "getPatientBalance",
    title="What a patient owes",
    description="""
A verified patient's balance: the amount due from the patient, the amount pending with insurance, and the
account total, in dollars (negative is a credit). Needs patientId, dateOfBirth and the full name (or
phoneOnFile), as getPatientInfo. When the amounts are on the guarantor's account (a parent's or spouse's), the
answer says so.
""",
    hints=CHECKS_IDENTITY,
    crud="R",
    phi_fields=("balance",),
    summary="patient balance",
)
async def get_patient_balance(call: ToolCall, args: VerifyArgs) -> BalanceResult:
    own = Beside(lambda: call.practice.balance(args.patient_id))
    patient = await verify(call, args, beside=(own,))
    balance, on_guarantor = await account_balance(call, patient, own.result())
    if balance is None:
        return BalanceResult(
            message="I couldn't find a balance for this patient in the office system; the staff can check it.",
            outcome="not_found",
            code=Code.BALANCE_NOT_FOUND,
        )
    code, said = balance_sentence(balance, on_guarantor)
    return BalanceResult(
        message=said,
        outcome="ok",
        code=code,
        patient_due=dollars(balance.patient_due),
        insurance_pending=dollars(balance.insurance_due),
        account_balance=dollars(balance.account_balance),
        on_guarantor_account=on_guarantor,
    )


# --- getPatientInsurance ----------------------------------------------------------------------------


class PatientInsuranceArgs(VerifyArgs):
    category: ShortText | None = Field(
        None, description='A treatment the caller asks about, e.g. "cleanings", "crowns", "root canal".'
    )


def plan_coverage(row: CoverageRow) -> PlanCoverage:
    return PlanCoverage(
        category=row.category,
        percentage_covered=row.percentage,
        co_pay=dollars(row.co_pay) if row.co_pay else None,
        deductible_applies=row.deductible_applies,
    )


@dataclass(frozen=True)
class PlanAnswer:
    """A plan on file and the coverage row the practice's table has for what was asked, if any."""

    plan: InsurancePlan
    row: CoverageRow | None


def plan_answer(plan: PlanOnFile, carriers: Carriers, table: CoverageTable | None, asked: str | None) -> PlanAnswer:
    name = carriers.name_of(plan.carrier_id) or plan.carrier_name or "an insurance company the system doesn't name"
    row = coverage_for(asked, table.of(plan.carrier_id)) if table is not None and asked else None
    coverage = plan_coverage(row) if row else None
    return PlanAnswer(InsurancePlan(rank=plan.rank, carrier_name=name, coverage=coverage), row)


def coverage_sentence(rank: str, row: CoverageRow, asked: str) -> str:
    """ "The primary plan on file lists crowns at 50 percent, after the deductible" (the carrier's name, the
    PMS's free text, stays in the structured plans)."""
    share = f"at {row.percentage} percent" if row.percentage is not None else "without a percentage"
    extras = [f"with a {spoken_dollars(row.co_pay)} copay"] if row.co_pay else []
    if row.deductible_applies:
        extras.append("after the deductible")
    detail = f", {' and '.join(extras)}" if extras else ""
    return f"The {rank} plan on file lists {label_for(asked)} {share}{detail}"


def insurance_sentence(answers: list[PlanAnswer], asked: str | None) -> tuple[Code, str]:
    """(code, message) for the plans on file and, when asked, what the table lists for the category."""
    if not answers:
        return Code.NO_INSURANCE_ON_FILE, "I don't see any insurance on file for this patient."
    on_file = spoken_list([f"a {a.plan.rank} plan" for a in answers])
    if not asked:
        return Code.INSURANCE_ON_FILE, f"The patient has {on_file} on file."
    listed = next((a for a in answers if a.row is not None), None)
    if listed is None or listed.row is None:
        which = "that plan" if len(answers) == 1 else "these plans"
        return (
            Code.COVERAGE_NOT_LISTED,
            f"The patient has {on_file} on file, but the practice's coverage table doesn't list "
            f"{label_for(asked)} for {which}, so the office will need to check.",
        )
    return Code.COVERAGE_LISTED, f"{coverage_sentence(listed.plan.rank, listed.row, asked)}; {NOT_A_GUARANTEE}."


@tool(
    "getPatientInsurance",
    title="A patient's insurance on file",
    description="""
A verified patient's insurance on file: the primary and secondary carrier names (never member or subscriber
ids) and, for a treatment the caller asks about (category, e.g. "cleanings", "crowns"), what the practice's
coverage table lists for each plan (percentage, copay, whether the deductible applies). The table is the
practice's, not the insurer's answer: say "the plan on file lists", never that something is covered. Needs
patientId, dateOfBirth and the full name (or phoneOnFile), as getPatientInfo.
""",
    hints=CHECKS_IDENTITY,
    crud="R",
    phi_fields=("insurance",),
    summary="patient insurance",
)
async def get_patient_insurance(call: ToolCall, args: PatientInsuranceArgs) -> PatientInsuranceResult:
    # The practice's carriers and coverage table are cached: read beside the record only when they are not.
    companies = Beside(call.practice.carriers)
    coverage = Beside(call.practice.coverage)
    beside = (companies, coverage) if args.category else (companies,)
    patient = await verify(call, args, insurance=True, beside=beside)
    if not patient.plans:
        code, said = insurance_sentence([], None)
        return PatientInsuranceResult(message=said, code=code)
    carriers = companies.result()
    table = coverage.result() if args.category else None
    answers = [plan_answer(plan, carriers, table, args.category) for plan in patient.plans]
    code, said = insurance_sentence(answers, args.category)
    return PatientInsuranceResult(message=said, code=code, plans=[a.plan for a in answers])
