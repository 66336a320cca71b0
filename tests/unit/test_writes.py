"""Writeback bodies per PMS (reference §13–§17, §22): what each practice system requires, supplied from the
practice's own settings or refused before anything is sent; capabilities and appointment types as documented."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from typing import Any

import pytest

from server.intents import Write
from server.sikka.metadata import Capabilities, PracticeMetadata
from server.sikka.pms import NeedsStaff, pms_key, rules_for
from server.sikka.records import Choice, Patient, Provider
from server.sikka.visit_types import match_visit
from server.sikka.writes import booking, cancellation, move, new_patient, plain_phrase, preferred_name_change
from tests.unit.availability_builders import ABLE, BRIEF, OP1, STAFF, ZONE, practice

START = datetime(2026, 12, 7, 9, 30, tzinfo=ZONE)  # sent as Sikka's wall time
PATIENT = Patient.from_item({"patient_id": "10001", "guarantor_id": "10000", "firstname": "Ann", "lastname": "Lee"})
TYPES = (
    Choice("11", "Adult prophylaxis"),
    Choice("12", "Periodic exam"),
    Choice("13", "Limited exam pain"),
    Choice("14", "Comprehensive exam and xrays"),
)
USER = Provider.from_item(
    {"provider_id": "U1", "lastname": "Desk", "provider_type": "Provider", "status": "Active", "is_user": "True"}
)


def metadata_for(pms: str, **changes: Any) -> PracticeMetadata:
    return replace(practice(providers=(ABLE, BRIEF, STAFF, USER)), pms=pms, appointment_types=TYPES, **changes)


def book(metadata: PracticeMetadata, visit: str | None = "cleaning", note: str | None = None) -> dict[str, Any]:
    return body_of(
        booking(
            metadata,
            patient=PATIENT,
            start=START,
            length_minutes=60,
            provider=ABLE,
            operatory=OP1,
            visit=visit,
            note=note,
        )
    )


def body_of(write: Write) -> dict[str, Any]:
    return write.body


def register(metadata: PracticeMetadata, first: str = "Ann", last: str = "Lee") -> dict[str, Any]:
    return body_of(
        new_patient(
            metadata,
            first_name=first,
            last_name=last,
            birthdate=date(1990, 1, 2),
            phone="+14085550101",
            email=None,
            address={},
        )
    )


# --- POST /appointment (§13) ------------------------------------------------------------------------------


def test_dentrix_booking_has_no_type_and_a_plain_description() -> None:
    body = book(metadata_for("Dentrix"), "cleaning", note="Tooth #3 hurts; sensitive!")
    assert body == {
        "patient_id": "10001",
        "date": "2026-12-07",
        "time": "09:30",
        "length": "60",
        "provider_id": ABLE.provider_id,
        "operatory": "OP1",
        "practice_id": "1",
        "description": "cleaning Tooth 3 hurts sensitive",
    }


def test_description_is_letters_digits_and_spaces_within_the_limit() -> None:
    assert plain_phrase("Crown: re-cement (urgent!) #14", 60) == "Crown re cement urgent 14"
    assert plain_phrase("word " * 20, 12) == "word word"
    assert book(metadata_for("Dentrix"), None)["description"] == "Appointment"
    assert book(metadata_for("Dentrix"), "!!!")["description"] == "Appointment"


@pytest.mark.parametrize("pms", ["Open Dental", "Eaglesoft"])
def test_optional_types_are_sent_as_the_practices_item_when_the_words_match(pms: str) -> None:
    assert book(metadata_for(pms), "my cleaning")["type"] == "11"
    assert book(metadata_for(pms), "check-up")["type"] == "12"
    assert book(metadata_for(pms), "emergency, broken tooth")["type"] == "13"
    assert book(metadata_for(pms), "new patient exam with x-rays")["type"] == "14"
    unmatched = book(metadata_for(pms), "teeth whitening")
    assert "type" not in unmatched
    assert unmatched["description"] == "teeth whitening"


def test_matched_type_labels_the_description() -> None:
    assert book(metadata_for("Open Dental"), "cleaning")["description"] == "Adult prophylaxis"


def test_dolphin_needs_a_type_and_a_user_and_takes_no_description() -> None:
    body = book(metadata_for("Dolphin Management"), "cleaning", note="likes mornings")
    assert body["type"] == "11"
    assert body["user"] == "U1"
    assert "description" not in body
    assert "note" not in body
    with pytest.raises(NeedsStaff):
        book(metadata_for("Dolphin"), "teeth whitening")
    with pytest.raises(NeedsStaff):
        book(replace(metadata_for("Dolphin"), providers=(ABLE, BRIEF, STAFF)), "cleaning")  # no PMS user


def test_cleardent_needs_type_status_and_a_pms_user() -> None:
    body = book(metadata_for("ClearDent", users=("u7",)), "exam")
    assert (body["type"], body["status"], body["user"]) == ("12", "sched", "u7")
    with pytest.raises(NeedsStaff):
        book(metadata_for("ClearDent", users=()), "exam")
    with pytest.raises(NeedsStaff):
        book(metadata_for("ClearDent", users=("u7",), statuses=(Choice("cancel", "Canceled"),)), "exam")


def test_orthotrac_names_the_first_staff_member_and_may_leave_the_type_blank() -> None:
    body = book(metadata_for("OrthoTrac"), "braces adjustment")
    assert body["staff"] == STAFF.provider_id
    assert "type" not in body  # "blank -> picked from available types"
    with pytest.raises(NeedsStaff):
        book(replace(metadata_for("OrthoTrac"), providers=(ABLE, BRIEF)))


def test_cornerstone_sends_the_guarantor_and_planet_dds_is_left_to_staff() -> None:
    assert book(metadata_for("CornerStone"))["guarantor_id"] == "10000"
    with pytest.raises(NeedsStaff):
        book(metadata_for("Planet DDS"))


# --- PUT / PATCH /appointments (§14, §15) ------------------------------------------------------------------


def test_a_move_always_carries_date_time_and_operatory() -> None:
    write = move(metadata_for("Dentrix"), "70001", start=START, length_minutes=30, provider=BRIEF, operatory=OP1)
    assert (write.kind, write.method, write.endpoint, write.target_id) == (
        "reschedule_appointment",
        "PUT",
        "appointments/70001",
        "70001",
    )
    assert write.body == {
        "practice_id": "1",
        "provider_id": BRIEF.provider_id,
        "date": "2026-12-07",
        "time": "09:30",
        "length": "30",
        "operatory": "OP1",
    }


def test_cancellation_sends_the_practice_variables_value() -> None:
    write = cancellation(metadata_for("Open Dental"), "70001")
    assert (write.kind, write.method, write.endpoint) == ("appointment_status", "PATCH", "appointments/70001")
    assert write.body == {
        "op": "replace",
        "path": "/appointment_status",
        "value": "cancel",
        "practice_id": "1",
    }
    assert cancellation(metadata_for("OrthoTrac"), "70001").body["staff"] == STAFF.provider_id


def test_dentrix_never_writes_a_broken_status() -> None:
    only_broken = (Choice("sched", "Scheduled"), Choice("broken", "Broken"))
    with pytest.raises(NeedsStaff):
        cancellation(metadata_for("Dentrix", statuses=only_broken), "70001")
    assert cancellation(metadata_for("Eaglesoft", statuses=only_broken), "70001").body["value"] == "broken"


# --- POST /patient, PATCH /patient (§16, §17) --------------------------------------------------------------


def test_a_generic_new_patient() -> None:
    assert register(metadata_for("Dentrix")) == {
        "firstname": "Ann",
        "lastname": "Lee",
        "birthdate": "1990-01-02",
        "cell": "408-555-0101",
        "provider_id": ABLE.provider_id,
        "practice_id": "1",
    }


def test_cleardent_takes_ten_digit_phones_and_short_names() -> None:
    assert register(metadata_for("ClearDent"))["cell"] == "4085550101"
    with pytest.raises(NeedsStaff):
        register(metadata_for("ClearDent"), first="Maximilianopolis")  # 16 > 15
    with pytest.raises(NeedsStaff):
        new_patient(
            metadata_for("ClearDent"),
            first_name="Ann",
            last_name="Lee",
            birthdate=date(1990, 1, 2),
            phone="+442079460958",
            email=None,
            address={},
        )


def test_dolphin_registration_names_a_user_and_orthotrac_is_left_to_staff() -> None:
    assert register(metadata_for("Dolphin"))["user"] == "U1"
    with pytest.raises(NeedsStaff):
        register(metadata_for("OrthoTrac"))  # gender, status, type and relationship are required there


def test_preferred_name_updates_only_where_documented_and_within_limits() -> None:
    write = preferred_name_change(metadata_for("Dolphin"), "10001", "Annie")
    assert (write.method, write.endpoint, write.body) == (
        "PATCH",
        "patient/10001",
        {"practice_id": "1", "preferred_name": "Annie"},
    )
    assert preferred_name_change(metadata_for("OrthoTrac"), "10001", "Annie").body["staff"] == STAFF.provider_id
    with pytest.raises(NeedsStaff):
        preferred_name_change(metadata_for("OrthoTrac"), "10001", "A" * 21)
    with pytest.raises(NeedsStaff):
        preferred_name_change(metadata_for("Dentrix"), "10001", "Annie")


# --- names, capabilities, types ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Open Dental", "opendental"),
        ("OpenDental", "opendental"),
        ("Dolphin Management", "dolphin"),
        ("Dentrix Enterprise", "dentrix"),
        ("Curve Dental", "curvedental"),
    ],
)
def test_pms_names_are_compared_without_spaces_or_case(name: str, key: str) -> None:
    assert pms_key(name) == key


def test_slot_endpoint_and_patient_updates_are_orthotrac_and_dolphin_only() -> None:
    assert [p for p in ("Dentrix", "OrthoTrac", "Dolphin", "Open Dental") if rules_for(p).slot_endpoint] == [
        "OrthoTrac",
        "Dolphin",
    ]


def supported(pms: str, **flags: str) -> dict[str, str]:
    """A supported_pmses row with the documented fields (§8); every flag "" unless given."""
    names = (
        "appointment_status payment new_appointment new_patient note claim_notes_status insurance_payment lab_result"
    )
    row = {"specialty": "", "domain": "Dental", "practice_management_system": pms}
    row |= {f"{name}_writeback": "" for name in names.split()}
    return row | {f"{name}_writeback": value for name, value in flags.items()}


def test_capability_flags_are_available_or_empty() -> None:
    rows = [
        supported("Dentrix", new_patient="available", new_appointment="available", appointment_status="available"),
        supported("Curve Dental"),
    ]
    dentrix = Capabilities.for_pms("Dentrix", rows)
    assert (dentrix.new_patient, dentrix.new_appointment, dentrix.appointment_status, dentrix.reschedule) == (
        True,
        True,
        True,
        True,
    )
    curve = Capabilities.for_pms("Curve Dental", rows)
    assert (curve.new_patient, curve.new_appointment, curve.appointment_status, curve.reschedule) == (
        False,
        False,
        False,
        False,
    )
    assert Capabilities.for_pms("Dolphin Management", rows).patient_update  # unlisted: documented defaults


def test_visit_words_match_descriptions_and_never_invent_a_type() -> None:
    assert match_visit("cleanings", TYPES) == TYPES[0]
    assert match_visit("toothache", TYPES) == TYPES[2]
    assert match_visit("", TYPES) is None
    assert match_visit("cleaning", ()) is None
    assert match_visit("consultation about implants", TYPES) is None
