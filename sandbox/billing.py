"""Money: insurance carriers and their coverage, patients' insurance, and balances (§11).

- `insurance_companies`: a realistic carrier list per practice; `insurance_company_name` is only returned
  with `fields=get_all` (documented).
- `insurance_plan_coverage`: one row per company and CDT code range, `procedure_code_from`/`_to` in the
  documented "2700.00" form, `category` ("Preventive", "Basic", "Crowns", ...), `percentage_covered`.
- Patients: about 60% have a primary carrier with a subscriber id, some a secondary one; dependents share
  their guarantor's carrier and subscriber id with `primary_relationship` "Child" or "Spouse".
- `patient_balance`: amounts are strings with four decimals ("125.5000"; formats are undocumented, §23.17,
  so they follow the documented "0.0000" examples). A balance sits on the account of the guarantor who
  owes it: a dependent's row is all zero even when their treatment is what the family owes, and the
  guarantor's row carries it (`account_balance` is the family total). Most patients owe nothing.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import NamedTuple

from sandbox import fields
from sandbox.envelopes import Record
from sandbox.formats import amount


class Carrier(NamedTuple):
    name: str
    payer_id: str
    city: str
    state: str
    zipcode: str
    phone: str


CARRIERS = (
    Carrier("Delta Dental of Illinois", "47598", "Naperville", "IL", "60563", "800-323-1743"),
    Carrier("MetLife", "65978", "Utica", "NY", "13504", "800-942-0854"),
    Carrier("Cigna Dental", "62308", "Scranton", "PA", "18505", "800-244-6224"),
    Carrier("Aetna Dental", "60054", "Lexington", "KY", "40512", "877-238-6200"),
    Carrier("Guardian", "64246", "Appleton", "WI", "54912", "800-541-7846"),
    Carrier("United Concordia", "CX021", "Harrisburg", "PA", "17106", "888-638-3384"),
)
EMPLOYERS = ("Acme Corp", "City of New York", "Northwell Health", "Verizon", "State University")


class Coverage(NamedTuple):
    category: str
    first: str
    last: str
    percentage: int
    deductible: str


COVERAGE = (
    Coverage("Preventive", "0100.00", "1999.99", 100, "Preventive"),
    Coverage("Basic", "2000.00", "2699.99", 80, "Standard"),
    Coverage("Crowns", "2700.00", "2899.99", 50, "Standard"),
    Coverage("Endodontics", "3000.00", "3999.99", 80, "Standard"),
    Coverage("Periodontics", "4000.00", "4999.99", 80, "Standard"),
    Coverage("Oral Surgery", "7000.00", "7999.99", 70, "Standard"),
)


class Place(NamedTuple):
    """What rows of a practice share: its ids and href prefix."""

    practice_id: str
    cust_id: str
    href: str


def insurance_companies(rng: random.Random, place: Place, first_id: int) -> list[Record]:
    """Four or five carriers, numbered from `first_id`."""
    chosen = rng.sample(CARRIERS, rng.randint(4, 5))
    return [_company(rng, place, str(first_id + n), carrier) for n, carrier in enumerate(chosen)]


def _company(rng: random.Random, place: Place, company_id: str, carrier: Carrier) -> Record:
    row = dict.fromkeys(fields.INSURANCE_COMPANIES.keys, "")
    yearly = rng.choice((1000, 1500, 2000, 2500))
    employer = rng.choice(EMPLOYERS)
    row.update(
        href=f"{place.href}/insurance_companies/{company_id}",
        insurance_company_id=company_id,
        payer_id=carrier.payer_id,
        address_line1=f"PO Box {rng.randint(1000, 9999)}",
        city=carrier.city,
        state=carrier.state,
        zipcode=carrier.zipcode,
        country="USA",
        phone=carrier.phone,
        employer_id=str(rng.randint(100, 999)),
        default_employer=employer,
        practice_id=place.practice_id,
        practice_href=place.href,
        fee_no="0",
        group_plan_number=f"{rng.randint(100000, 999999)}",
        maximum_yearly_benefit=amount(yearly),
        maximum_family_benefit=amount(0),
        renew_month="1",
        insurance_type="Dental",
        plan_type=rng.choice(("PPO", "PPO", "DHMO", "Indemnity")),
        is_maximum_coverage="True",
        maximum_coverage_amount=amount(yearly),
        family_deductible_limit=amount(150),
        individual_deductible_limit=amount(50),
        individual_ortho_maximum_limit=amount(rng.choice((0, 1500, 2000))),
        charge_per_visit=amount(0),
        insurance_plan_status="Active",
        eligibility="Active",
        insurance_company_name=carrier.name,
        group_plan_name=f"{employer} Dental {rng.choice(('PPO', 'Plan', 'Basic'))}",
        carrier_id=carrier.payer_id,
        cust_id=place.cust_id,
    )
    row["employer_href"] = f"{place.href}/employers/{row['employer_id']}"
    return row


def coverage(rng: random.Random, place: Place, companies: Sequence[Mapping[str, str]]) -> list[Record]:
    """The coverage rows of each company; percentages vary a little between companies."""
    return [
        {
            "href": f"{place.href}/insurance_plan_coverage/{company['insurance_company_id']}",
            "practice_id": place.practice_id,
            "practice_href": place.href,
            "insurance_company_id": company["insurance_company_id"],
            "insurance_company_href": company["href"],
            "procedure_code_from": row.first,
            "procedure_code_to": row.last,
            "co_pay": amount(0),
            "percentage_covered": str(
                row.percentage if row.percentage == 100 else row.percentage - rng.choice((0, 10))
            ),
            "category": row.category,
            "deductible": row.deductible,
            "is_deductible": "0" if row.deductible == "Preventive" else "1",
        }
        for company in companies
        for row in COVERAGE
    ]


def insure(rng: random.Random, patient: Record, companies: Sequence[Mapping[str, str]]) -> None:
    """Give a self-insured patient a primary (60%) and maybe a secondary (10%) carrier."""
    if rng.random() >= 0.6:
        return
    primary, secondary = rng.sample(list(companies), 2)
    _cover(patient, "primary", primary, f"W{rng.randint(10**8, 10**9 - 1)}")
    if rng.random() < 0.15:
        _cover(patient, "secondary", secondary, f"{rng.randint(10**8, 10**9 - 1)}")


def _cover(patient: Record, rank: str, company: Mapping[str, str], subscriber_id: str) -> None:
    """Make `company` the patient's `rank` ("primary" or "secondary") carrier, the patient its subscriber."""
    patient.update(
        {
            f"{rank}_insurance_company_id": company["insurance_company_id"],
            f"{rank}_insurance_company_href": company["href"],
            f"{rank}_insurance": company["insurance_company_name"],
            f"{rank}_relationship": "Self",
            f"{rank}_subscriber_patient_id": patient["patient_id"],
            "subscriber_id" if rank == "primary" else "secondary_subscriber_id": subscriber_id,
        }
    )


INSURANCE_KEYS = tuple(
    key for key in fields.PATIENTS.keys if key.startswith(("primary_", "secondary_")) or key == "subscriber_id"
)


def share_insurance(dependent: Record, guarantor: Mapping[str, str], relationship: str) -> None:
    """A dependent is covered as the guarantor's `relationship` on the guarantor's plans."""
    dependent.update({key: guarantor[key] for key in INSURANCE_KEYS})
    if guarantor["primary_insurance_company_id"]:
        dependent["primary_relationship"] = relationship
    if guarantor["secondary_insurance_company_id"]:
        dependent["secondary_relationship"] = relationship


class Owed(NamedTuple):
    """What an account owes: patient and insurance amounts by age bucket (under 30, 30-60, 60-90, 90+ days)."""

    patient: tuple[Decimal, ...]
    insurance: tuple[Decimal, ...] = (Decimal(0),) * 4


def balance_row(patient: Mapping[str, str], practice_name: str, today: str, owed: Owed | None) -> Record:
    """A `patient_balance` row; `owed` is None for a patient whose account owes nothing."""
    owed = owed or Owed((Decimal(0),) * 4)
    patient_balance, insurance_due = sum(owed.patient), sum(owed.insurance)
    return {
        "patient_id": patient["patient_id"],
        "firstname": patient["firstname"],
        "lastname": patient["lastname"],
        "practice_id": patient["practice_id"],
        "practice_name": practice_name,
        "customer_id": patient["cust_id"],
        "chart_number": patient["chart_number"],
        "current_date": today,
        **{key: amount(value) for key, value in zip(fields.AGING, owed.patient + owed.insurance, strict=True)},
        "patient_balance": amount(patient_balance),
        "unapplied": amount(0),
        "insurance_due": amount(insurance_due),
        "patient_due": amount(patient_balance),
        "account_balance": amount(patient_balance + insurance_due),
        "write_off": amount(0),
    }


def debts(rng: random.Random, patients: Sequence[Mapping[str, str]]) -> dict[str, Owed]:
    """Who owes what: the first self-guarantor owes 125.50, the first family's guarantor 210.00 (plus 80.00
    expected from insurance) for a dependent's treatment, and about 5% of the others a random amount."""
    owed: dict[str, Owed] = {}
    singles = [p for p in patients if p["guarantor_id"] == p["patient_id"] and p["status"] == "Active"]
    guarantors = {p["guarantor_id"] for p in patients if p["guarantor_id"] != p["patient_id"]}
    zero = Decimal(0)
    family = [p["patient_id"] for p in patients if p["patient_id"] in guarantors][:1]
    owed.update(
        dict.fromkeys(family, Owed((zero, Decimal("210.00"), zero, zero), (Decimal("80.00"), zero, zero, zero)))
    )
    single = [p["patient_id"] for p in singles if p["patient_id"] not in guarantors][:1]
    owed.update(dict.fromkeys(single, Owed((Decimal("125.50"), zero, zero, zero))))
    for patient in singles:
        if patient["patient_id"] not in owed and rng.random() < 0.05:
            bucket = rng.randrange(4)
            value = Decimal(rng.randint(2000, 60000)) / 100
            owed[patient["patient_id"]] = Owed(tuple(value if n == bucket else zero for n in range(4)))
    return owed
