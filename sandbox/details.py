"""`GET /writeback_details`: the PMS lookup values that writebacks must send (§19).

Each row is (writeback_type, category, item, description); a write sends the `item`. Which rows a practice
has depends on its PMS, per the §19 table:

- new_appointment/appttype (visit types; item a numeric id, description e.g. "Adult prophylaxis"): only the
  PMSs that use appointment types (OrthoTrac, Dolphin, Eaglesoft, ClearDent, Open Dental; not Dentrix);
- new_appointment/ApptProdType: Planet DDS; new_appointment/apptdesc: CornerStone;
- patch_appointment/CancelBy: OrthoTrac; patch_appointment/ApptStatusChangedBy: Dolphin;
- new_patient/Country, Status, Type, Relationship: OrthoTrac (Relationship also Dolphin); new_patient/Sex:
  ClearDent;
- update_patient/Salutation, Status (OrthoTrac, Dolphin), Type, Race (OrthoTrac), Gender, Language,
  Mail_method, Gender_identifier, School (Dolphin).

Categories are matched exactly and case-sensitively: the docs spell them inconsistently and say nothing of
case (§19), so the least convenient reading holds (`category=AppTType` finds nothing).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from sandbox.pms import CLEARDENT, CORNERSTONE, DOLPHIN, ORTHOTRAC, PLANET_DDS, Pms
from sandbox.roster import VISITS, Roster


class Detail(NamedTuple):
    writeback_type: str
    category: str
    item: str
    description: str


Values = tuple[tuple[str, str], ...]

RELATIONSHIP: Values = (("1", "Self"), ("2", "Parent"), ("3", "Spouse"), ("4", "Guardian"), ("5", "Other"))
SALUTATION: Values = (("1", "Mr"), ("2", "Ms"), ("3", "Mrs"), ("4", "Dr"))
PATIENT_STATUS: Values = (("1", "Active"), ("2", "Inactive"), ("3", "Prospect"))
ORTHO_TYPE: Values = (("1", "Comprehensive"), ("2", "Observation"), ("3", "Phase one"))

CATALOGUE: dict[str, tuple[tuple[str, str, Values], ...]] = {
    ORTHOTRAC: (
        ("patch_appointment", "CancelBy", (("1", "Patient"), ("2", "Office"), ("3", "Doctor"))),
        ("new_patient", "Country", (("1", "USA"), ("2", "Canada"), ("3", "Mexico"))),
        ("new_patient", "Status", PATIENT_STATUS),
        ("new_patient", "Type", ORTHO_TYPE),
        ("new_patient", "Relationship", RELATIONSHIP),
        ("update_patient", "Salutation", SALUTATION),
        ("update_patient", "Status", PATIENT_STATUS),
        ("update_patient", "Type", ORTHO_TYPE),
        ("update_patient", "Race", (("1", "Declined to state"), ("2", "Asian"), ("3", "Black"), ("4", "White"))),
    ),
    DOLPHIN: (
        ("patch_appointment", "ApptStatusChangedBy", (("1", "Front desk"), ("2", "Doctor"), ("3", "Patient"))),
        ("new_patient", "Relationship", RELATIONSHIP),
        ("update_patient", "Salutation", SALUTATION),
        ("update_patient", "Status", PATIENT_STATUS),
        ("update_patient", "Gender", (("1", "Male"), ("2", "Female"), ("3", "Unknown"))),
        ("update_patient", "Language", (("1", "English"), ("2", "Spanish"), ("3", "Mandarin"))),
        ("update_patient", "Mail_method", (("1", "Email"), ("2", "Postal mail"))),
        ("update_patient", "Gender_identifier", (("1", "He him"), ("2", "She her"), ("3", "They them"))),
        ("update_patient", "School", (("1", "Lincoln High School"), ("2", "Roosevelt Middle School"))),
    ),
    CLEARDENT: (("new_patient", "Sex", (("M", "Male"), ("F", "Female"), ("U", "Unknown"))),),
    PLANET_DDS: (
        ("new_appointment", "ApptProdType",
         (("1", "Hygiene"), ("2", "Restorative"), ("3", "Exam"), ("4", "Emergency"))),
    ),
    CORNERSTONE: (
        ("new_appointment", "apptdesc",
         (("EXAM", "Annual exam"), ("VACC", "Vaccination"), ("DENT", "Dental cleaning"))),
    ),
}  # fmt: skip


def details(pms: Pms, roster: Roster) -> Iterator[Detail]:
    """Every writeback_details row of a location with this PMS and roster."""
    if pms.appointment_types:
        for visit in VISITS:
            yield Detail("new_appointment", "appttype", roster.type_id(visit), visit.description)
    for writeback_type, category, values in CATALOGUE.get(pms.key, ()):
        for item, description in values:
            yield Detail(writeback_type, category, item, description)
