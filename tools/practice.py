"""getPracticeInfo, getProviders, checkInsuranceAccepted: what any caller may ask, no patient data involved."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from server.phones import pms_format, to_e164
from server.sikka import PracticeMetadata, PracticeProfile, Provider
from tools.arguments import Args, ShortText
from tools.availability import closure
from tools.base import tool
from tools.carriers import match_carrier, words
from tools.codes import Code
from tools.context import ToolCall
from tools.hours import OpeningDay, coming_week, next_opening, open_until, spoken_opening
from tools.results import (
    InsuranceAcceptedResult,
    OpeningHours,
    PracticeInfoResult,
    ProviderInfo,
    ProvidersResult,
    TimeSpan,
)
from tools.spec import READ_ONLY
from tools.speech import spoken_list, spoken_time

Role = Literal["dentist", "hygienist", "specialist"]
SPECIALTY_WORDS = (
    "ortho", "endo", "perio", "oral surg", "maxillo", "pediatric", "pedodont", "prosth", "implant", "oral path",
    "radiolog", "anesthes",
)  # fmt: skip
ROLE_NOUNS: dict[Role, tuple[str, str]] = {
    "dentist": ("dentist", "dentists"),
    "hygienist": ("hygienist", "hygienists"),
    "specialist": ("specialist", "specialists"),
}
NOT_A_PROMISE = "the office can confirm what a specific plan covers"


class NoArgs(Args):
    pass  # a tool without arguments (its schema is an empty object)


# --- getPracticeInfo --------------------------------------------------------------------------------


def one_line_address(practice: PracticeProfile) -> str | None:
    """ "123 Main St, Suite 4, New York, NY 10016"."""
    region = " ".join(part for part in (practice.state, practice.zipcode) if part)
    parts = [practice.address_line1, practice.address_line2, practice.city, region]
    return ", ".join(part for part in parts if part) or None


def opening_hours(day: OpeningDay) -> OpeningHours:
    return OpeningHours(
        day=day.day.isoformat(),
        weekday=f"{day.day:%A}",
        open=not day.hours.closed,
        hours=[TimeSpan(opens=f"{o:%H:%M}", closes=f"{c:%H:%M}") for o, c in day.hours.spans],
        holiday=day.holiday_name,
        said=day.said,
    )


def open_sentence(week: list[OpeningDay], now: datetime) -> tuple[bool, str]:
    """Whether the office is open at `now` (practice-local) and how to say it, with the days of the week it is
    closed for a holiday (their names stay in the structured hours)."""
    closes = open_until(week, now)
    if closes is not None:
        said = f"The office is open now until {spoken_time(closes)}"
    elif (opens := next_opening(week, now)) is not None:
        said = f"The office is closed now and opens {spoken_opening(opens, now.date())}"
    else:
        said = "The office is closed now, and I don't see opening hours in the coming week"
    holidays = [closed for d in week if d.hours.holiday and (closed := closure(d.hours, d.day))]
    if holidays:
        said += f"; note that the office is closed on {spoken_list(holidays)}"
    return closes is not None, said + "."


def practice_info(metadata: PracticeMetadata, now: datetime) -> PracticeInfoResult:
    """The answer for `now` (any zone): the profile, this week's hours, and whether the office is open."""
    local = now.astimezone(metadata.zone)
    week = coming_week(metadata, local.date())
    practice = metadata.practice
    is_open, said = open_sentence(week, local)
    phone = to_e164(practice.phone)
    return PracticeInfoResult(
        message=said,
        outcome="ok",
        code=Code.PRACTICE_INFO,
        name=practice.name or None,
        address=one_line_address(practice),
        phone=pms_format(phone) if phone else None,
        website=practice.website or None,
        time_zone=metadata.zone.key,
        open_now=is_open,
        hours=[opening_hours(day) for day in week],
    )


@tool(
    "getPracticeInfo",
    title="Office hours, address and contact details",
    description="""
The practice's name, address, main phone number, website and time zone; its opening hours for today and the
next six days from its own schedule (holidays and closed days included); and whether it is open right now.
Needs no arguments and no patient details. The message says whether the office is open now and names any
holiday this week; the hours list answers "when are you open on Saturday?".
""",
    hints=READ_ONLY,
    crud="R",
    phi_fields=(),
    summary="practice information",
)
async def get_practice_info(call: ToolCall, args: NoArgs) -> PracticeInfoResult:
    return practice_info(await call.practice.metadata(), call.now)


# --- getProviders -----------------------------------------------------------------------------------


def role_of(provider: Provider) -> Role:
    """From the provider's type and specialty: hygienists, specialists (orthodontists, endodontists, ...),
    and everyone else a dentist."""
    described = f"{provider.provider_type} {provider.specialty}".lower()
    if "hygien" in described:
        return "hygienist"
    if any(word in described for word in SPECIALTY_WORDS):
        return "specialist"
    return "dentist"


def spoken_team(providers: list[ProviderInfo]) -> str:
    """ "The office has 2 dentists and 1 hygienist": counts by role; the names (the PMS's free text) stay in the
    structured `providers`."""
    counts = []
    for role, (one, many) in ROLE_NOUNS.items():
        count = sum(p.role == role for p in providers)
        if count:
            counts.append(f"{count} {one if count == 1 else many}")
    return f"The office has {spoken_list(counts)}"


@tool(
    "getProviders",
    title="Who the dentists and hygienists are",
    description="""
This location's providers patients can book with: name, role (dentist, hygienist or specialist), specialty,
and providerId for checkAvailability. Needs no arguments and no patient details.
""",
    hints=READ_ONLY,
    crud="R",
    phi_fields=(),
    summary="provider list",
)
async def get_providers(call: ToolCall, args: NoArgs) -> ProvidersResult:
    metadata = await call.practice.metadata()
    bookable = sorted(metadata.bookable_providers, key=lambda p: p.provider_id)
    if not bookable:
        return ProvidersResult(
            message="I don't see any providers listed for this office; the staff can help.",
            outcome="not_found",
            code=Code.NO_PROVIDERS,
        )
    providers = [
        ProviderInfo(provider_id=p.provider_id, name=p.display_name, role=role_of(p), specialty=p.specialty or None)
        for p in bookable
    ]
    said = spoken_team(providers)
    return ProvidersResult(message=f"{said}.", outcome="ok", code=Code.PROVIDERS_FOUND, providers=providers)


# --- checkInsuranceAccepted -------------------------------------------------------------------------


class CheckInsuranceArgs(Args):
    carrier: ShortText = Field(description='The insurance company as the caller names it, e.g. "Delta Dental".')


@tool(
    "checkInsuranceAccepted",
    title="Does the office take my insurance?",
    description="""
Whether an insurance company the caller names is among the carriers the practice works with. Tolerant of
partial names ("Delta", "Delta Dental of Illinois", "Met Life"). Needs no patient details. A match means the
office works with that carrier, never that a treatment is covered; when nothing matches, similar carriers are
named and the office can confirm.
""",
    hints=READ_ONLY,
    crud="R",
    phi_fields=(),
    summary="insurance carrier check",
)
async def check_insurance_accepted(call: ToolCall, args: CheckInsuranceArgs) -> InsuranceAcceptedResult:
    if not words(args.carrier):
        return InsuranceAcceptedResult(
            message="Please ask for the insurance company's name, such as Delta Dental or MetLife.",
            outcome="invalid",
            code=Code.CARRIER_NAME_NEEDED,
        )
    carriers = await call.practice.carriers()
    if not carriers.names:
        return InsuranceAcceptedResult(
            message="I can't see which insurance companies the office works with; the staff can confirm.",
            outcome="not_found",
            code=Code.NO_CARRIER_LIST,
        )
    found = match_carrier(args.carrier, carriers.names)
    if found.matches:
        return InsuranceAcceptedResult(
            message=f"Yes, the office works with that insurance company; {NOT_A_PROMISE}.",
            outcome="ok",
            code=Code.CARRIER_ACCEPTED,
            accepted=True,
            matches=found.matches,
        )
    similar = " It does work with companies of a similar name." if found.similar else ""
    return InsuranceAcceptedResult(
        message=f"I don't see that insurance company on the office's list; the staff can confirm.{similar}",
        outcome="not_found",
        code=Code.CARRIER_NOT_LISTED,
        accepted=False,
        similar=found.similar,
    )
