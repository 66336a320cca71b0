"""What each practice-management system accepts in a writeback, as Sikka documents it (reference §13–§17, §22).

Sikka hands writes to the practice's own PMS, and several PMSs require fields that a phone call cannot supply
or that must come from the practice's own settings. `rules_for(pms)` gives a PMS's rules; `server/sikka/writes.py`
builds each write from them, or raises `NeedsStaff` before anything is sent when Sikka would refuse it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

TypeUse = Literal["required", "optional", "none"]
WriteKind = Literal["book", "cancel", "create_patient", "update_patient"]


class NeedsStaff(Exception):
    """Sikka documents this write as invalid for the practice's PMS without something the call cannot supply;
    `reason` is a PHI-free sentence for the audit summary and the staff follow-up."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class PmsRules:
    """A PMS's write rules. Defaults are the documented generic rules (Dentrix, Eaglesoft, Open Dental, ...)."""

    appointment_type: TypeUse = "none"  # POST /appointment `type` (a writeback_details `appttype` item)
    description_limit: int | None = 60  # None: the PMS takes no `description`; 60 is the tightest documented limit
    staff_on: frozenset[WriteKind] = frozenset()  # writes that must name a staff member (OrthoTrac)
    user_on: frozenset[WriteKind] = frozenset()  # writes that must name a PMS user (Dolphin, ClearDent)
    users_from_pms_users: bool = False  # ClearDent: `pms_users`; Dolphin: providers with `is_user`
    booking_status: bool = False  # ClearDent: POST /appointment needs a status
    guarantor_on_booking: bool = False  # CornerStone: POST /appointment needs `guarantor_id`
    books_by_staff: str | None = None  # a reason bookings cannot be written from a call
    registers_by_staff: str | None = None  # a reason new patients cannot be written from a call
    name_limits: tuple[int, int] | None = None  # (first, last) name length limits on POST /patient
    ten_digit_phones: bool = False  # phones as exactly 10 digits
    note_limit: int | None = None  # POST /appointment `note` (Planet DDS only)
    patient_update: bool = False  # PATCH /patient exists (OrthoTrac, Dolphin only)
    preferred_name_limit: int = 50
    slot_endpoint: bool = False  # `appointments_available_slots` has this PMS's open slots
    refuses_broken_status: bool = False  # Dentrix: a "broken" status cannot be written

    def needs_staff_member(self, kind: WriteKind) -> bool:
        return kind in self.staff_on

    def needs_user(self, kind: WriteKind) -> bool:
        return kind in self.user_on


GENERIC = PmsRules()
DENTRIX = PmsRules(refuses_broken_status=True)
RULES: dict[str, PmsRules] = {
    "dentrix": DENTRIX,
    "eaglesoft": PmsRules(appointment_type="optional"),
    "opendental": PmsRules(appointment_type="optional"),
    # OrthoTrac: `type` required but "blank -> picked from available types"; a new patient needs gender, status,
    # type and relationship, which a receptionist call does not establish.
    "orthotrac": PmsRules(
        appointment_type="optional",
        description_limit=150,
        staff_on=frozenset({"book", "cancel", "update_patient"}),
        registers_by_staff="OrthoTrac needs gender, status, type and relationship for a new patient",
        name_limits=(15, 25),
        patient_update=True,
        preferred_name_limit=20,
        slot_endpoint=True,
    ),
    "dolphin": PmsRules(
        appointment_type="required",
        description_limit=None,
        user_on=frozenset({"book", "create_patient"}),
        patient_update=True,
        slot_endpoint=True,
    ),
    "cleardent": PmsRules(
        appointment_type="required",
        user_on=frozenset({"book"}),
        users_from_pms_users=True,
        booking_status=True,
        name_limits=(15, 25),
        ten_digit_phones=True,
    ),
    "planetdds": PmsRules(
        description_limit=None,
        books_by_staff="Planet DDS needs insurance and production details for a booking",
        note_limit=3950,
    ),
    "cornerstone": PmsRules(guarantor_on_booking=True),
}


def pms_key(name: str) -> str:
    """ "Open Dental", "OpenDental", "Dolphin Management" -> a key of RULES (letters and digits, lower case)."""
    squashed = re.sub(r"[^a-z0-9]", "", name.lower())
    return next((key for key in sorted(RULES, key=len, reverse=True) if squashed.startswith(key)), squashed)


def rules_for(pms: str) -> PmsRules:
    return RULES.get(pms_key(pms), GENERIC)
