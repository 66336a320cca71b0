"""The identity rule (tools/identity.py): patient id, date of birth and a second identifier on file."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import ValidationError

from server.sikka.records import Patient
from tools.identity import (
    PER_CALL,
    PER_NUMBER,
    PER_PATIENT,
    PER_TOKEN,
    VerifyArgs,
    identifies,
    name_matches,
    on_record,
    scopes,
)

PATIENT = Patient.from_item(
    {
        "patient_id": "10001",
        "firstname": "Mary Ann",
        "lastname": "O'Brien",
        "preferred_name": "Molly",
        "birthdate": "1984-12-10T00:00:00",
        "cell": "(408) 555-0101",
        "homephone": "212-555-0199",
    }
)


@pytest.mark.parametrize(
    "said",
    [
        "Mary Ann O'Brien",
        "mary ann obrien",
        "MOLLY O BRIEN",
        "Molly Kate O'Brien",
        "Mary-Ann O’Brien",
        "Maryann Obrien",
    ],
)
def test_the_first_or_preferred_name_and_the_last_name_match(said: str) -> None:
    assert name_matches(PATIENT, said)


@pytest.mark.parametrize("said", ["O'Brien", "Mary", "Mary Ann", "Mary Smith", "Brien Mary Ann O", "Ann O'Brien", ""])
def test_anything_less_does_not(said: str) -> None:
    assert not name_matches(PATIENT, said)


def args(**given: Any) -> VerifyArgs:
    return VerifyArgs.model_validate({"patientId": "10001", "dateOfBirth": "1984-12-10", **given})


def test_the_date_of_birth_and_a_name_or_a_phone_on_file_identify() -> None:
    assert identifies(PATIENT, args(name="Mary O'Brien"))
    assert identifies(PATIENT, args(phoneOnFile="408.555.0101"))
    assert identifies(PATIENT, args(phoneOnFile="+1 212 555 0199"))
    assert not identifies(PATIENT, args(phoneOnFile="408-555-0102"))
    assert not identifies(PATIENT, args(name="Mary O'Brien", dateOfBirth="1984-12-11"))
    assert not identifies(PATIENT, args(name="Jane O'Brien", phoneOnFile="408-555-0102"))


def test_the_second_identifier_is_required() -> None:
    with pytest.raises(ValidationError, match="full name"):
        args()


def test_an_attempt_counts_against_the_patients_the_call_the_number_and_the_token_breaker() -> None:
    full = SimpleNamespace(actor="tok_1", vapi_call_id="call-9", caller_number="+14085550101")
    bare = SimpleNamespace(actor="tok_1", vapi_call_id=None, caller_number=None)
    assert scopes(full, ["10001", "10001"]) == [  # type: ignore[arg-type]
        (PER_PATIENT, "10001"),
        (PER_CALL, "call-9"),
        (PER_NUMBER, "+14085550101"),
        (PER_TOKEN, "tok_1"),
    ]
    # a call without a call id or a number is not held to other calls' failures; the token never refuses
    assert scopes(bare, ["10001"]) == [(PER_PATIENT, "10001"), (PER_TOKEN, "tok_1")]  # type: ignore[arg-type]
    assert [limit.refuses for limit in (PER_PATIENT, PER_CALL, PER_NUMBER, PER_TOKEN)] == [True, True, True, False]
    assert date(1984, 12, 10) == PATIENT.birthdate


def test_a_number_is_on_record_in_any_of_the_patients_phones() -> None:
    assert on_record(PATIENT, "+14085550101")
    assert on_record(PATIENT, "+12125550199")
    assert not on_record(PATIENT, "+14085550102")
    assert not on_record(PATIENT, None)
