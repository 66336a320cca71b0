"""Who and what a generated location has: providers, chairs, opening hours and visit types.

The first location of an office gets the main roster (DDS1, DDS2, HYG1, inactive DDS0, staff STF1; chairs
OP1-OP4 and the hidden OP5). Each further location gets a branch roster with its own ids and chair names
(location 2: DDS3, HYG2, STF2; chairs L2-OP1..L2-OP3, hidden L2-OP4) and other hours, so office-wide reads
never mix up two locations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from sandbox.schedule import DAYS, Interval, Week

PROVIDER_TYPE, STAFF_TYPE = "Provider", "Staff"


class Visit(NamedTuple):
    """An appointment type: `writeback_details` new_appointment/appttype lists it (description, item)."""

    value: str
    description: str
    length: int


DENTIST_VISITS = (
    Visit("Exam", "Periodic exam", 30),
    Visit("New Patient Exam", "Comprehensive exam and xrays", 60),
    Visit("Filling", "Composite restoration", 60),
    Visit("Crown", "Crown preparation", 90),
    Visit("Root Canal", "Endodontic therapy", 90),
    Visit("Extraction", "Simple extraction", 30),
    Visit("Emergency", "Limited exam pain", 30),
)
HYGIENE_VISITS = (
    Visit("Cleaning", "Adult prophylaxis", 60),
    Visit("Periodontal Maintenance", "Perio maintenance", 60),
)
VISITS = DENTIST_VISITS + HYGIENE_VISITS


def hours(*spans: tuple[float, float]) -> tuple[Interval, ...]:
    """Spans given in hours (13.5 = 1:30 PM) as minute intervals."""
    return tuple((int(start * 60), int(end * 60)) for start, end in spans)


def week(days: Sequence[str], spans: Sequence[Interval]) -> dict[str, Sequence[Interval]]:
    return dict.fromkeys(days, spans)


WEEKDAYS = DAYS[1:6]
FULL_DAY = hours((8, 12), (13, 17))
SATURDAY = hours((9, 13))
BRANCH_DAY = hours((9, 13), (14, 18))


@dataclass(frozen=True)
class Person:
    """A provider: a dentist, hygienist or staff member, with the hours and chairs they work."""

    provider_id: str
    firstname: str
    lastname: str
    specialty: str
    specialty_code: str
    status: str = "Active"
    provider_type: str = PROVIDER_TYPE
    week: Week | None = None
    """Weekly hours; None for someone without schedule rows."""
    operatories: tuple[str, ...] = ()
    visits: tuple[Visit, ...] = ()

    @property
    def books(self) -> bool:
        """Whether appointments are booked with this person."""
        return self.status == "Active" and self.provider_type == PROVIDER_TYPE


@dataclass(frozen=True)
class Roster:
    """A location's people, chairs (the last one hidden), weekly hours and visit-type ids."""

    practice_week: Week
    people: tuple[Person, ...]
    chairs: tuple[str, ...]
    hidden_chair: str
    first_type_id: int

    @property
    def bookable(self) -> tuple[Person, ...]:
        return tuple(person for person in self.people if person.books)

    def type_id(self, visit: Visit) -> str:
        """The numeric `item` of a visit type at this location."""
        return str(self.first_type_id + VISITS.index(visit))


DENTIST = ("General Dentist", "1223G0001X")
HYGIENIST = ("Hygienist", "124Q00000X")
FRONT_DESK = ("Office Manager", "")

MAIN = Roster(
    practice_week={**week(WEEKDAYS, FULL_DAY), "saturday": SATURDAY},
    people=(
        Person("DDS1", "Sarah", "Chen", *DENTIST, week=week(WEEKDAYS, FULL_DAY), operatories=("OP1", "OP2"),
               visits=DENTIST_VISITS),
        Person("DDS2", "Michael", "Patel", *DENTIST, week={**week(WEEKDAYS[1:], FULL_DAY), "saturday": SATURDAY},
               operatories=("OP2", "OP1"), visits=DENTIST_VISITS),
        Person("HYG1", "Maria", "Lopez", *HYGIENIST,
               week={**week(WEEKDAYS[:4], FULL_DAY), "friday": hours((8, 12), (13, 14))},
               operatories=("OP3", "OP4"), visits=HYGIENE_VISITS),
        Person("DDS0", "Robert", "Hughes", *DENTIST, status="Inactive"),
        Person("STF1", "Linda", "Park", *FRONT_DESK, provider_type=STAFF_TYPE),
    ),
    chairs=("OP1", "OP2", "OP3", "OP4"),
    hidden_chair="OP5",
    first_type_id=11,
)  # fmt: skip

BRANCH_WEEK = {**week(DAYS[1:5], BRANCH_DAY), "friday": hours((9, 13))}
BRANCH_NAMES = (("James", "Okafor"), ("Priya", "Raman"), ("Tom", "Reilly"), ("Elena", "Novak"), ("Omar", "Haddad"))


def roster(index: int) -> Roster:
    """The roster of an office's location number `index` (0 = the first)."""
    if index == 0:
        return MAIN
    number, prefix = index + 1, f"L{index + 1}-OP"
    chairs = tuple(f"{prefix}{n}" for n in (1, 2, 3))
    names = [BRANCH_NAMES[(index + n) % len(BRANCH_NAMES)] for n in range(3)]
    return Roster(
        practice_week=BRANCH_WEEK,
        people=(
            Person(f"DDS{index + 2}", *names[0], *DENTIST, week=BRANCH_WEEK, operatories=chairs[:2],
                   visits=DENTIST_VISITS),
            Person(f"HYG{number}", *names[1], *HYGIENIST, week=week(DAYS[2:6], BRANCH_DAY), operatories=chairs[2:],
                   visits=HYGIENE_VISITS),
            Person(f"STF{number}", *names[2], *FRONT_DESK, provider_type=STAFF_TYPE),
        ),
        chairs=chairs,
        hidden_chair=f"{prefix}4",
        first_type_id=10 * number + 1,
    )  # fmt: skip
