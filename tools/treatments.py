"""What a caller's words for a treatment mean in a coverage table: a representative CDT code per treatment
(D1110 adult prophylaxis for "a cleaning"), found in the code ranges of `insurance_plan_coverage`; failing that,
a table category whose name the caller said ("preventive", "major")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from server.sikka import CoverageRow
from tools.carriers import words


@dataclass(frozen=True, slots=True)
class Treatment:
    label: str  # how to say it: "cleanings"
    code: Decimal  # a representative CDT code's digits (D1110 → 1110)
    phrases: tuple[str, ...]  # what callers say, in `words()` form


def _treatment(label: str, code: int, *phrases: str) -> Treatment:
    return Treatment(label, Decimal(code), tuple(" ".join(words(phrase)) for phrase in phrases))


TREATMENTS = (
    _treatment("deep cleanings", 4341, "deep cleaning", "deep cleanings", "scaling", "root planing", "gum treatment"),
    _treatment("cleanings", 1110, "cleaning", "cleanings", "prophy", "prophylaxis", "hygiene", "teeth cleaning"),
    _treatment("exams", 120, "exam", "exams", "checkup", "check up", "checkups", "examination"),
    _treatment("x-rays", 274, "x ray", "x rays", "xray", "xrays", "radiograph", "radiographs", "bitewings"),
    _treatment("fluoride", 1206, "fluoride", "fluoride treatment"),
    _treatment("sealants", 1351, "sealant", "sealants"),
    _treatment("fillings", 2391, "filling", "fillings", "cavity", "cavities", "restoration", "restorations"),
    _treatment("crowns", 2740, "crown", "crowns", "cap", "caps"),
    _treatment("root canals", 3330, "root canal", "root canals", "endodontics", "endodontic treatment"),
    _treatment("gum treatment", 4910, "periodontal maintenance", "perio maintenance", "periodontics"),
    _treatment("dentures", 5110, "denture", "dentures", "partial denture", "partials"),
    _treatment("implants", 6010, "implant", "implants", "dental implant"),
    _treatment("bridges", 6240, "bridge", "bridges"),
    _treatment("extractions", 7140, "extraction", "extractions", "tooth pulled", "wisdom teeth", "oral surgery"),
    _treatment("braces", 8080, "braces", "orthodontics", "orthodontic treatment", "invisalign", "aligners"),
)


def treatment_for(said: str) -> Treatment | None:
    """The treatment whose phrase the caller's words contain; the longest phrase wins ("deep cleaning")."""
    spoken = f" {' '.join(words(said))} "
    found = [(len(phrase), t) for t in TREATMENTS for phrase in t.phrases if f" {phrase} " in spoken]
    return max(found, key=lambda pair: pair[0])[1] if found else None


def coverage_for(said: str, rows: Sequence[CoverageRow]) -> CoverageRow | None:
    """The row of one company's table that covers what the caller asked about, if the table has one."""
    treatment = treatment_for(said)
    if treatment is not None:
        covering = [row for row in rows if row.covers(treatment.code)]
        if covering:
            return min(covering, key=lambda row: row.code_to - row.code_from)  # the narrowest range
    asked = set(words(said))
    return next((row for row in rows if asked and asked <= set(words(row.category))), None)


def label_for(said: str) -> str:
    """How to say what was asked about: the treatment's label, else "that treatment" (the caller's own words
    are never repeated into a sentence)."""
    treatment = treatment_for(said)
    return treatment.label if treatment else "that treatment"
