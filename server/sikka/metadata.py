"""Practice metadata (the location's profile, providers, operatories, schedule, appointment statuses and types,
PMS users, capabilities, zone), loaded concurrently and cached per practice (server/sikka/cache.py), so a warm
tool call makes only the requests it must.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

from server.sikka.pms import PmsRules, pms_key, rules_for
from server.sikka.records import Choice, Operatory, PracticeProfile, Provider, is_cancel_status, text
from server.sikka.schedule import PracticeSchedule
from server.sikka.zones import today_in

AVAILABLE = "available"
# Statuses a new booking may be written with (ClearDent requires one), in order of preference.
BOOKED_WORDS = ("unconfirm", "schedul", "booked", "open")


def flag(row: dict[str, str], name: str) -> bool | None:
    """A `supported_pmses` capability flag: documented as "available" or "" (None when the row lacks it)."""
    if name not in row:
        return None
    return text(row, name).lower() in (AVAILABLE, "true", "yes", "y")


@dataclass(frozen=True, slots=True)
class Capabilities:
    """Writebacks the practice's PMS supports, from `supported_pmses` (reference §8). Without a row for the PMS
    the documented writebacks are assumed. There is no documented flag for reschedules (PUT /appointments):
    they follow `new_appointment_writeback`; patient updates exist for OrthoTrac and Dolphin only (§17)."""

    new_patient: bool = True
    new_appointment: bool = True
    appointment_status: bool = True
    reschedule: bool = True
    patient_update: bool = False

    @classmethod
    def for_pms(cls, pms: str, items: Sequence[dict[str, str]]) -> Capabilities:
        rules = rules_for(pms)
        key = pms_key(pms)
        row = next((i for i in items if pms_key(text(i, "practice_management_system")) == key), None)
        if row is None:
            return cls(patient_update=rules.patient_update)

        def read(name: str, fallback: bool) -> bool:
            value = flag(row, name)
            return fallback if value is None else value

        appointments = read("new_appointment_writeback", True)
        return cls(
            new_patient=read("new_patient_writeback", True),
            new_appointment=appointments,
            appointment_status=read("appointment_status_writeback", True),
            reschedule=appointments,
            patient_update=rules.patient_update,
        )


@dataclass(frozen=True)
class PracticeMetadata:
    practice: PracticeProfile
    pms: str
    zone: ZoneInfo
    providers: tuple[Provider, ...]
    operatories: tuple[Operatory, ...]
    schedule: PracticeSchedule
    statuses: tuple[Choice, ...]  # practice_variables "Appointment Status": what status writes send
    appointment_types: tuple[Choice, ...]  # writeback_details new_appointment/appttype
    capabilities: Capabilities
    users: tuple[str, ...] = ()  # `pms_users` ids (ClearDent writes name one)
    cacheable: bool = True  # False when Sikka was reloading the practice's data (Data-Insert: in progress)
    _providers_by_id: dict[str, Provider] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._providers_by_id.update({p.provider_id: p for p in self.providers})

    @property
    def practice_id(self) -> str:
        return self.practice.practice_id

    @property
    def rules(self) -> PmsRules:
        return rules_for(self.pms)

    def today(self) -> date:
        """Today at the practice."""
        return today_in(self.zone)

    @property
    def has_slot_endpoint(self) -> bool:
        """Only OrthoTrac and Dolphin fill `appointments_available_slots`."""
        return self.rules.slot_endpoint

    @property
    def bookable_providers(self) -> tuple[Provider, ...]:
        return tuple(p for p in self.providers if p.active and not p.is_staff)

    @property
    def staff(self) -> tuple[Provider, ...]:
        return tuple(sorted((p for p in self.providers if p.active and p.is_staff), key=lambda p: p.provider_id))

    @property
    def pms_users(self) -> tuple[str, ...]:
        """Who a write names as the PMS user: `pms_users` (ClearDent) or providers with `is_user` (Dolphin)."""
        if self.rules.users_from_pms_users:
            return self.users
        return tuple(sorted(p.provider_id for p in self.providers if p.active and p.is_user))

    @property
    def open_operatories(self) -> tuple[Operatory, ...]:
        return tuple(o for o in self.operatories if not o.hidden and o.operatory)

    def provider(self, provider_id: str) -> Provider | None:
        return self._providers_by_id.get(provider_id)

    def cancel_status(self) -> Choice | None:
        """The practice's own cancellation status ("Canceled", "Cancelled"; else "Broken" where the PMS can
        write it: Dentrix cannot)."""
        cancels = [s for s in self.statuses if is_cancel_status(s.label) or is_cancel_status(s.value)]
        preferred = [s for s in cancels if "cancel" in f"{s.label} {s.value}".lower()]
        if preferred:
            return preferred[0]
        return None if self.rules.refuses_broken_status or not cancels else cancels[0]

    def booking_status(self) -> Choice | None:
        """A status a new appointment may be written with (scheduled / unconfirmed / open), if the practice has one."""
        for word in BOOKED_WORDS:
            for status in self.statuses:
                label = f"{status.label} {status.value}".lower()
                if word in label and not is_cancel_status(label):
                    return status
        return None
