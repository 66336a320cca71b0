"""Typed views of Sikka's all-string items ("True", "60", "1984-12-10T00:00:00", "10:30")."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

TRUE_STRINGS = frozenset({"true", "t", "yes", "y", "1"})
CLOCK_LAYOUTS = ("%H:%M", "%H:%M:%S", "%I:%M %p", "%I:%M:%S %p", "%I:%M%p")
CANCEL_WORDS = ("cancel", "broken", "deleted", "no show", "noshow")
Rank = Literal["primary", "secondary"]
RANKS: tuple[Rank, ...] = ("primary", "secondary")


def as_bool(value: Any) -> bool:
    """Sikka booleans are strings in any case ("True", "true", "T"); "" and anything else is False."""
    return str(value).strip().lower() in TRUE_STRINGS


def as_int(value: Any, default: int = 0) -> int:
    try:
        return int(float(str(value).strip()))
    except ValueError:
        return default


def as_date(value: Any) -> date | None:
    """Dates come as "1984-12-10T00:00:00", "1984-12-10" or "2020-12-04 13:51:34"."""
    text = str(value or "").strip()[:10]
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def as_time(value: Any) -> time | None:
    """Clock times come as "10:30", "10:30:00", "8:00 AM" (schedules: format undocumented) or "" (none)."""
    text = " ".join(str(value or "").split()).upper()
    if not text:
        return None
    for layout in CLOCK_LAYOUTS:
        try:
            return datetime.strptime(text, layout).time()
        except ValueError:
            continue
    return None


def is_cancel_status(status: str) -> bool:
    lowered = status.strip().lower()
    return any(word in lowered for word in CANCEL_WORDS)


def text(item: dict[str, Any], key: str) -> str:
    value = item.get(key)
    return value.strip() if isinstance(value, str) else ("" if value is None else str(value))


@dataclass(frozen=True, slots=True)
class PlanOnFile:
    """A patient's primary or secondary insurance: the carrier's `insurance_company_id` (a default field) and the
    name the record gives it (`primary_insurance`, get_all only). Subscriber ids are never read."""

    rank: Rank
    carrier_id: str
    carrier_name: str

    @classmethod
    def from_item(cls, item: dict[str, Any], rank: Rank) -> PlanOnFile | None:
        carrier_id = text(item, f"{rank}_insurance_company_id")
        carrier_id = "" if carrier_id == "0" else carrier_id
        name = text(item, f"{rank}_insurance")
        return cls(rank, carrier_id, name) if carrier_id or name else None


@dataclass(frozen=True, slots=True)
class Patient:
    patient_id: str
    first_name: str
    last_name: str
    preferred_name: str
    birthdate: date | None
    status: str
    email: str
    phones: dict[str, str] = field(default_factory=dict)
    address: dict[str, str] = field(default_factory=dict)
    last_visit: date | None = None
    provider_id: str = ""
    guarantor_id: str = ""
    plans: tuple[PlanOnFile, ...] = ()

    @property
    def dependent(self) -> bool:
        """Someone else is this patient's guarantor (the account holder)."""
        return bool(self.guarantor_id) and self.guarantor_id != self.patient_id

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Patient:
        return cls(
            patient_id=text(item, "patient_id"),
            guarantor_id=text(item, "guarantor_id"),
            first_name=text(item, "firstname"),
            last_name=text(item, "lastname"),
            preferred_name=text(item, "preferred_name"),
            birthdate=as_date(item.get("birthdate")),
            status=text(item, "status"),
            email=text(item, "email"),
            phones={key: text(item, key) for key in ("cell", "homephone", "workphone") if text(item, key)},
            address={
                key: text(item, key)
                for key in ("address_line1", "address_line2", "city", "state", "zipcode")
                if text(item, key)
            },
            last_visit=as_date(item.get("last_visit")),
            provider_id=text(item, "provider_id"),
            plans=tuple(plan for rank in RANKS if (plan := PlanOnFile.from_item(item, rank)) is not None),
        )


@dataclass(frozen=True, slots=True)
class Appointment:
    appointment_id: str
    patient_id: str
    provider_id: str
    start: datetime  # aware, in the practice's zone (Sikka gives practice-local wall times)
    length_minutes: int
    status: str
    type: str
    description: str
    operatory: str
    cancelled: bool

    @property
    def end(self) -> datetime:
        """The wall time `length_minutes` after the start (aware datetimes sharing a zone add wall time)."""
        return self.start + timedelta(minutes=self.length_minutes)

    @classmethod
    def from_item(cls, item: dict[str, Any], zone: ZoneInfo) -> Appointment | None:
        """The item's practice-local date and time, read in the practice's `zone`."""
        day, clock = as_date(item.get("date")), as_time(item.get("time"))
        if day is None or clock is None:
            return None
        status = text(item, "status")
        return cls(
            appointment_id=text(item, "appointment_sr_no"),
            patient_id=text(item, "patient_id"),
            provider_id=text(item, "provider_id"),
            start=datetime.combine(day, clock, tzinfo=zone),
            length_minutes=as_int(item.get("length"), 0),
            status=status,
            type=text(item, "type"),
            description=text(item, "description"),
            operatory=text(item, "operatory"),
            cancelled=as_bool(item.get("cancelled")) or is_cancel_status(status),
        )


@dataclass(frozen=True, slots=True)
class Provider:
    provider_id: str
    first_name: str
    last_name: str
    provider_type: str
    specialty: str
    active: bool
    is_user: bool = False  # a PMS user (`is_user`, get_all only): Dolphin writes name one

    @property
    def is_staff(self) -> bool:
        """Front-desk staff (`provider_type` "Staff"): never bookable, but some PMSs want one named on writes."""
        return self.provider_type.strip().lower() == "staff"

    @property
    def display_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part) or self.provider_id

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Provider:
        return cls(
            provider_id=text(item, "provider_id"),
            first_name=text(item, "firstname"),
            last_name=text(item, "lastname"),
            provider_type=text(item, "provider_type"),
            specialty=text(item, "specialty") or text(item, "speciality"),  # the get_all example spells it so
            # Sikka writes "Active"/"Inactive"; compare without case, hidden providers are not bookable.
            active=text(item, "status").lower() == "active" and not as_bool(item.get("is_hidden")),
            is_user=as_bool(item.get("is_user")),
        )


@dataclass(frozen=True, slots=True)
class Operatory:
    operatory: str  # the value writebacks take (not `abbreviation`)
    abbreviation: str
    hidden: bool

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Operatory:
        return cls(
            operatory=text(item, "operatory"),
            abbreviation=text(item, "abbreviation"),
            hidden=as_bool(item.get("is_hidden")),
        )


@dataclass(frozen=True, slots=True)
class Choice:
    """A value a practice defines for writes (`writeback_details` `item`, `practice_variables` `value`) and what
    it means to people (`description`)."""

    value: str
    description: str

    @property
    def label(self) -> str:
        return self.description or self.value


@dataclass(frozen=True, slots=True)
class PracticeProfile:
    """A location as `GET /practices` describes it; `cust_id` is what `GET /operatories` requires."""

    practice_id: str
    cust_id: str
    name: str = ""
    address_line1: str = ""
    address_line2: str = ""
    city: str = ""
    state: str = ""
    zipcode: str = ""
    phone: str = ""
    email: str = ""
    website: str = ""

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> PracticeProfile:
        keys = ("address_line1", "address_line2", "city", "state", "zipcode", "phone", "email", "website")
        return cls(
            practice_id=text(item, "practice_id"),
            cust_id=text(item, "cust_id"),
            name=text(item, "name"),
            **{key: text(item, key) for key in keys},
        )
