from __future__ import annotations

from datetime import date, datetime

import pytest
from pydantic import ValidationError

from server.phones import last_digits, pms_format, stored_forms, to_e164
from tools.appointments import CheckAvailabilityArgs
from tools.base import describe_errors
from tools.messages import TakeMessageArgs
from tools.patients import CreatePatientArgs, SearchPatientsArgs
from tools.practice import NoArgs
from tools.speech import mask_email, spoken_day, spoken_list, spoken_time


@pytest.mark.parametrize("raw", ["(408) 555-0101", "408.555.0101", "+1 408 555 0101", "4085550101", "1-408-555-0101"])
def test_phones_normalise_to_e164(raw: str) -> None:
    assert to_e164(raw) == "+14085550101"


@pytest.mark.parametrize("raw", ["", "  ", "555", "not a phone", "12"])
def test_non_phones_are_refused(raw: str) -> None:
    assert to_e164(raw) is None


@pytest.mark.parametrize("raw", ["555-0101", "5550101", "+15550101", "123-456-7890", "555-555-5555", "+1 408 555 01"])
def test_numbers_that_reach_no_one_are_refused(raw: str) -> None:
    """Possible, but not valid: seven digits without an area code, an area code or exchange that does not exist."""
    assert to_e164(raw) is None


@pytest.mark.parametrize(("raw", "e164"), [("+44 20 7946 0958", "+442079460958"), ("800-555-0101", "+18005550101")])
def test_valid_numbers_abroad_and_toll_free_are_kept(raw: str, e164: str) -> None:
    assert to_e164(raw) == e164


@pytest.mark.parametrize("raw", ["555-0101", "123-456-7890"])
def test_a_callback_number_must_be_one_staff_can_call(raw: str) -> None:
    with pytest.raises(ValidationError) as info:
        TakeMessageArgs.model_validate({"callerName": "Jo Caller", "callbackNumber": raw, "reason": "a bill"})
    assert describe_errors(info.value.errors(include_input=False), TakeMessageArgs) == (
        "Please correct the arguments: phone must be a phone number, like 408-555-0101."
    )


def test_phone_patterns_and_formats() -> None:
    # Sikka's documented form first (the one search request a warm call usually needs), then the others.
    assert stored_forms("+14085550101") == ["408-555-0101", "(408) 555-0101", "4085550101"]
    assert stored_forms("+442079460958") == ["2079460958", "+442079460958"]
    assert pms_format("+14085550101") == "408-555-0101"
    assert pms_format("+442079460958") == "+442079460958"
    assert last_digits("408-555-0101") == "0101"
    assert last_digits("12") == ""


def test_speech() -> None:
    assert spoken_day(date(2026, 12, 1)) == "Tuesday, December 1"
    assert spoken_time(datetime(2026, 12, 1, 9, 5)) == "9:05 AM"
    assert spoken_time(datetime(2026, 12, 1, 12, 30)) == "12:30 PM"
    assert spoken_time(datetime(2026, 12, 1, 0, 15)) == "12:15 AM"
    assert spoken_list(["a", "b", "c"]) == "a, b and c"
    assert spoken_list(["a"]) == "a"
    assert mask_email("jane.doe@example.com") == "j***@example.com"
    assert mask_email("nonsense") is None


def error_sentence(model: type, raw: dict[str, object]) -> str:
    with pytest.raises(ValidationError) as info:
        model.model_validate(raw)  # type: ignore[attr-defined]
    return describe_errors(info.value.errors(include_input=False), model)


@pytest.mark.parametrize(
    ("model", "raw", "sentence"),
    [
        (CheckAvailabilityArgs, {}, "Please correct the arguments: give date, or startDate and endDate."),
        (
            SearchPatientsArgs,
            {"dateOfBirth": "12/10/1984"},
            "Please correct the arguments: dateOfBirth must be a date written YYYY-MM-DD.",
        ),
        (
            SearchPatientsArgs,
            {"phone": "call me"},
            "Please correct the arguments: phone must be a phone number, like 408-555-0101.",
        ),
        (
            SearchPatientsArgs,
            {"name": "x", "shoeSize": 9},
            "Please correct the arguments: only these arguments are taken: phone, name, dateOfBirth.",
        ),
        (NoArgs, {"anything": 1}, "Please correct the arguments: this tool takes no arguments."),
        (
            TakeMessageArgs,
            {"callerName": "Jo", "callbackNumber": "212-555-0100", "reason": "call", "urgency": "asap"},
            "Please correct the arguments: urgency must be one of 'routine', 'soon' or 'urgent'.",
        ),
        (
            CreatePatientArgs,
            {"firstName": "Ann"},
            "Please correct the arguments: lastName is required; dateOfBirth is required; phone is required.",
        ),
        (
            CheckAvailabilityArgs,
            {"date": "2026-12-01", "durationMinutes": 5},
            "Please correct the arguments: durationMinutes must be at least 10.",
        ),
        (CheckAvailabilityArgs, {"date": "2026-12-01", "partOfDay": "night"}, None),
        (
            CheckAvailabilityArgs,
            {"startDate": "2026-12-01", "endDate": "2026-12-30"},
            "Please correct the arguments: a range can cover at most 14 days.",
        ),
    ],
)
def test_validation_errors_are_speakable_and_never_echo_values(
    model: type, raw: dict[str, object], sentence: str | None
) -> None:
    said = error_sentence(model, raw)
    if sentence is not None:
        assert said == sentence
    else:
        assert said.startswith("Please correct the arguments: partOfDay must be one of")
    for value in raw.values():
        if isinstance(value, str) and len(value) > 4:
            assert value not in said
