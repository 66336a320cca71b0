"""Typed views of the money endpoints (reference §11): balances, insurance carriers and coverage tables.

Amount formats and signs are undocumented (§23.17); the documented examples are "0.0000", so amounts are read
as decimal strings, with "$", thousands separators and accounting parentheses tolerated; a negative amount is
a credit. Amounts are kept in cents, rounded half up (half a cent is a cent): what is under half a cent is no
money at all. Coverage code ranges ("2700.00"–"2899.99") are compared as numbers with a CDT code's digits (D2740
is 2740): the mapping is undocumented, but it is the only reading the examples allow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, TypeVar

from server.sikka.client import Item, Listing
from server.sikka.records import as_bool, as_int, text

INACTIVE_CARRIER = frozenset({"inactive", "deleted", "terminated"})
CENT = Decimal("0.01")
T = TypeVar("T")


def in_cents(amount: Decimal) -> Decimal:
    """To the cent, half up (0.005 → 0.01, -0.005 → -0.01); under half a cent is 0.00, never -0.00."""
    cents = amount.quantize(CENT, rounding=ROUND_HALF_UP)
    return cents if cents else cents.copy_abs()


def as_number(value: Any) -> Decimal | None:
    """ "125.5000" → 125.5; "(12.00)" and "-12.00" → -12; "" or anything unreadable → None."""
    raw = str(value or "").strip().replace("$", "").replace(",", "")
    negative = raw.startswith("(") and raw.endswith(")")
    raw = raw.strip("()")
    try:
        amount = Decimal(raw)
    except InvalidOperation:
        return None
    if not amount.is_finite():
        return None
    return -amount if negative else amount


def as_amount(value: Any) -> Decimal | None:
    """Money: `as_number` in cents ("125.5000" → 125.50, "0.004" → 0.00)."""
    number = as_number(value)
    return None if number is None else in_cents(number)


def parsed(listing: Listing, parse: Callable[[Item], T | None]) -> tuple[T, ...]:
    """The listing's items that parse (the others are left out)."""
    return tuple(row for item in listing.items if (row := parse(item)) is not None)


@dataclass(frozen=True, slots=True)
class Balance:
    """One `patient_balance` row: what the patient owes, what insurance is expected to pay, and the total."""

    patient_id: str
    patient_due: Decimal
    insurance_due: Decimal
    account_balance: Decimal

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Balance | None:
        """None when the row's amounts cannot be read (then nothing is said rather than a wrong figure)."""
        patient_due, insurance_due = as_amount(item.get("patient_due")), as_amount(item.get("insurance_due"))
        total = as_amount(item.get("account_balance"))
        if patient_due is None or insurance_due is None:
            return None
        account_balance = total if total is not None else patient_due + insurance_due
        return cls(text(item, "patient_id"), patient_due, insurance_due, account_balance)

    @property
    def empty(self) -> bool:
        return not (self.patient_due or self.insurance_due or self.account_balance)


@dataclass(frozen=True, slots=True)
class Carrier:
    company_id: str
    name: str  # `insurance_company_name` (get_all only)

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Carrier | None:
        """None for a row without a name or whose plan status says it is no longer in use."""
        name = " ".join(text(item, "insurance_company_name").split())
        if not name or text(item, "insurance_plan_status").lower() in INACTIVE_CARRIER:
            return None
        return cls(text(item, "insurance_company_id"), name)


@dataclass(frozen=True)
class Carriers:
    """The practice's insurance companies (one row per carrier and employer plan in most PMSs)."""

    carriers: tuple[Carrier, ...]
    cacheable: bool = True

    @classmethod
    def from_listing(cls, listing: Listing) -> Carriers:
        return cls(parsed(listing, Carrier.from_item), cacheable=not listing.reloading)

    @property
    def names(self) -> tuple[str, ...]:
        """Each carrier name once (case-insensitively), in the order Sikka lists them."""
        unique: dict[str, str] = {}
        for carrier in self.carriers:
            unique.setdefault(carrier.name.casefold(), carrier.name)
        return tuple(unique.values())

    def name_of(self, company_id: str) -> str | None:
        return next((c.name for c in self.carriers if company_id and c.company_id == company_id), None)


@dataclass(frozen=True, slots=True)
class CoverageRow:
    """One `insurance_plan_coverage` row: a code range of one company's plan and what the table says of it."""

    company_id: str
    category: str
    code_from: Decimal
    code_to: Decimal
    percentage: int | None
    co_pay: Decimal
    deductible_applies: bool

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> CoverageRow | None:
        low, high = as_number(item.get("procedure_code_from")), as_number(item.get("procedure_code_to"))
        if low is None or high is None:
            return None
        percentage = as_int(item.get("percentage_covered"), -1)
        return cls(
            company_id=text(item, "insurance_company_id"),
            category=text(item, "category"),
            code_from=low,
            code_to=high,
            percentage=percentage if 0 <= percentage <= 100 else None,
            co_pay=as_amount(item.get("co_pay")) or Decimal(0),
            deductible_applies=as_bool(item.get("is_deductible")),
        )

    def covers(self, code: Decimal) -> bool:
        return self.code_from <= code <= self.code_to


@dataclass(frozen=True)
class CoverageTable:
    """The practice's coverage table for every company."""

    rows: tuple[CoverageRow, ...]
    cacheable: bool = True

    @classmethod
    def from_listing(cls, listing: Listing) -> CoverageTable:
        return cls(parsed(listing, CoverageRow.from_item), cacheable=not listing.reloading)

    def of(self, company_id: str) -> tuple[CoverageRow, ...]:
        return tuple(row for row in self.rows if row.company_id == company_id)
