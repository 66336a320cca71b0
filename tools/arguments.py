"""Argument types shared by the tools: a precise JSON schema for the model, speakable errors for people.

Parsing happens in "before" validators that raise plain sentences, so a rejected value is never echoed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, WithJsonSchema
from pydantic.alias_generators import to_camel

from server.phones import to_e164
from server.text import is_person_name, plain
from tools.dates import SpokenDate

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
_SPACES = re.compile(" +")
_CLOCK = re.compile(r"(?P<hour>[0-9]{1,2}):(?P<minute>[0-5][0-9])")
EARLIEST_BIRTHDATE = date(1900, 1, 1)
UNBOUNDED = 1_000_000  # free text is cleaned first, then its field's max_length refuses what is too long


@dataclass(frozen=True)
class ArgsContext:
    """What validating a tool call's arguments needs from the call (pydantic's validation context)."""

    today: date | None  # the practice's today (tools/context.py); None when its zone cannot be read


def flat_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema as LLM tool-calling APIs take it best: nested objects inline (no `$ref`/`$defs`),
    an optional field as its own type (no `anyOf: [T, null]`, no null default), no generated titles; each
    property keeps its description."""
    schema = model.model_json_schema(by_alias=True)
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, list):
            return [inline(item) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            target = definitions[node["$ref"].rsplit("/", 1)[-1]]
            node = {**target, **{key: value for key, value in node.items() if key != "$ref"}}
        flat = {key: inline(value) for key, value in node.items() if key != "title"}
        options = flat.get("anyOf")
        if isinstance(options, list) and {"type": "null"} in options and len(options) == 2:
            (kept,) = [option for option in options if option != {"type": "null"}]
            flat = {**kept, **{key: value for key, value in flat.items() if key != "anyOf"}}
        if "default" in flat and flat["default"] is None:
            del flat["default"]
        return flat

    flattened: dict[str, Any] = inline(schema)
    return flattened


class Args(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        str_strip_whitespace=True,
        frozen=True,
    )


def _phone(value: Any) -> str:
    e164 = to_e164(str(value)) if isinstance(value, str | int) and not isinstance(value, bool) else None
    if e164 is None:
        raise ValueError("phone must be a phone number, like 408-555-0101")
    return e164


def _birthdate(value: Any, info: ValidationInfo) -> date:
    """A date of birth from 1900 to the practice's today (given in the validation context as `ArgsContext`)."""
    try:
        parsed = date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise ValueError("dateOfBirth must be a date written YYYY-MM-DD")
    today = info.context.today if isinstance(info.context, ArgsContext) else None
    if parsed < EARLIEST_BIRTHDATE or (today is not None and parsed > today):
        raise ValueError("dateOfBirth must be a real date of birth")
    return parsed


def _start_time(value: Any) -> datetime:
    try:
        if isinstance(value, str):
            return datetime.fromisoformat(value.strip())
    except ValueError:
        pass
    raise ValueError("times must be ISO 8601, like 2026-12-01T09:30:00-05:00")


def _clock_time(value: Any) -> time:
    """ "15:30" or "9:05" (24-hour, practice-local)."""
    match = _CLOCK.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None or int(match["hour"]) > 23:
        raise ValueError("preferredTime must be a time written HH:MM (24-hour), like 15:30")
    return time(int(match["hour"]), int(match["minute"]))


def _identifier(name: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
        if not _ID.match(text):
            raise ValueError(f"{name} must be an id from an earlier answer")
        return text

    return parse


def _id_type(name: str, description: str) -> Any:
    return Annotated[
        str,
        BeforeValidator(_identifier(name)),
        WithJsonSchema({"type": "string", "description": description, "maxLength": 32}),
    ]


Phone = Annotated[
    str,
    BeforeValidator(_phone),
    WithJsonSchema({"type": "string", "description": "Phone number in any common format, e.g. 408-555-0101."}),
]
DateOfBirth = Annotated[
    date,
    BeforeValidator(_birthdate),
    WithJsonSchema({"type": "string", "format": "date", "description": "Date of birth, YYYY-MM-DD."}),
]
CalendarDate = Annotated[
    SpokenDate,
    BeforeValidator(SpokenDate.parse),
    WithJsonSchema(
        {
            "type": "string",
            "description": 'YYYY-MM-DD, or "today", "tomorrow", a weekday ("tuesday": the next one, never today) or '
            '"next tuesday" (the same day), in the practice\'s time zone.',
        }
    ),
]
StartTime = Annotated[
    datetime,
    BeforeValidator(_start_time),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "description": "ISO 8601 local time with the practice's offset, e.g. 2026-12-01T09:30:00-05:00.",
        }
    ),
]
ClockTime = Annotated[
    time,
    BeforeValidator(_clock_time),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^[0-9]{1,2}:[0-5][0-9]$",
            "description": 'The time the caller would like, HH:MM 24-hour, practice-local ("around 3:30 PM" is 15:30).',
        }
    ),
]
PatientId = _id_type("patientId", "patientId from searchPatients.")
AppointmentId = _id_type("appointmentId", "appointmentId from getPatientInfo or an earlier booking.")
ProviderId = _id_type("providerId", "providerId as getProviders lists it (each checkAvailability slot has one).")
Duration = Annotated[int, Field(ge=10, le=240, description="Length in minutes (default 30; e.g. 30, 60, 90).")]


def _name_parser(argument: str, max_length: int, max_words: int) -> Callable[[Any], str]:
    """A name exactly as tools/identity.py and the PMS will see it: NFC, single spaces; refused (without echoing
    it) unless it is shaped like a name (server/text.py `is_person_name`)."""

    def parse(value: Any) -> str:
        text = _SPACES.sub(" ", unicodedata.normalize("NFC", value).strip()) if isinstance(value, str) else ""
        if not is_person_name(text, max_length=max_length, max_words=max_words):
            raise ValueError(
                f"{argument} must be a name: letters, spaces, hyphens, apostrophes and periods only, "
                f"at most {max_length} characters"
            )
        return text

    return parse


def person_name(argument: str, description: str, *, max_length: int = 40, max_words: int = 5) -> Any:
    """A name argument (`argument` is its camelCase name, for the error sentence)."""
    return Annotated[
        str,
        BeforeValidator(_name_parser(argument, max_length, max_words)),
        WithJsonSchema({"type": "string", "description": description, "maxLength": max_length}),
    ]


def _cleaned(value: Any) -> Any:
    return plain(value, UNBOUNDED) if isinstance(value, str) else value


def free_text(max_length: int, *, min_length: int = 0) -> Any:
    """Free text (a note, a reason): line breaks, control and invisible characters removed before it is stored
    or sent on; refused when still longer than `max_length`."""
    return Annotated[str, BeforeValidator(_cleaned), Field(min_length=min_length, max_length=max_length)]


FirstName = person_name("firstName", "The first name, as on an ID.")
LastName = person_name("lastName", "The last name, as on an ID.")
PreferredName = person_name("preferredName", "The name the patient likes to be called.")
ProviderName = person_name(
    "providerName", 'The provider as the caller says it: "Dr. Patel", "Patel", "Anita Patel".', max_length=60
)
FullName = person_name("name", 'The full name as the caller says it, e.g. "Jane Doe".', max_length=80, max_words=8)
CallerName = person_name("callerName", "The caller's name as they say it.", max_length=80, max_words=8)
PlaceName = person_name("city", "City or town.", max_words=6)
ShortText = free_text(100, min_length=1)
Note = free_text(500)
Reason = free_text(500, min_length=1)
AddressLine = free_text(100)
State = free_text(20)
PostalCode = free_text(12)
Email = Annotated[str, BeforeValidator(_cleaned), Field(max_length=100, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
