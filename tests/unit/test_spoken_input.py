"""Spoken input, without a clock: dates as callers say them resolved against a given practice `today`, the
practice's today at a frozen instant, a preferred time's nearest options, providers by name, the arguments'
schema and errors, and the system-prompt lines `vapi-config --system-prompt` prints."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from app.vapi import system_prompt
from server.sikka import today_in
from server.sikka.records import Provider
from tests.unit.availability_builders import ABLE, BRIEF
from tests.unit.test_availability import MONDAY, TUESDAY, clocks, slots
from tools.appointments import CheckAvailabilityArgs
from tools.arguments import flat_schema
from tools.availability import nearest, spread
from tools.base import describe_errors
from tools.dates import SpokenDate
from tools.names import providers_named
from tools.patients import surnames

NEW_YORK = ZoneInfo("America/New_York")
MONDAY_7TH = date(2026, 12, 7)  # a Monday


@pytest.mark.parametrize(
    ("said", "resolved"),
    [
        ("2026-12-10", date(2026, 12, 10)),
        ("today", MONDAY_7TH),
        ("Today", MONDAY_7TH),
        ("tomorrow", date(2026, 12, 8)),
        ("TOMORROW", date(2026, 12, 8)),
        ("tuesday", date(2026, 12, 8)),
        ("next tuesday", date(2026, 12, 8)),  # the same day: the coming Tuesday
        ("Next  Tuesday", date(2026, 12, 8)),
        ("sunday", date(2026, 12, 13)),
        ("monday", date(2026, 12, 14)),  # never today
        ("next monday", date(2026, 12, 14)),
        (" Friday ", date(2026, 12, 11)),
    ],
)
def test_dates_as_callers_say_them(said: str, resolved: date) -> None:
    assert SpokenDate.parse(said).on(MONDAY_7TH) == resolved


@pytest.mark.parametrize("today", [MONDAY_7TH + timedelta(days=n) for n in range(7)])
def test_a_weekday_is_always_one_to_seven_days_ahead(today: date) -> None:
    for name in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"):
        day = SpokenDate.parse(name).on(today)
        assert 1 <= (day - today).days <= 7
        assert f"{day:%A}".lower() == name


@pytest.mark.parametrize("said", ["someday", "next", "next week", "2026-13-01", "12/08/2026", "", 20261208, None])
def test_other_words_are_refused_without_being_repeated(said: object) -> None:
    with pytest.raises(ValueError, match="YYYY-MM-DD") as refused:
        SpokenDate.parse(said)
    assert "someday" not in str(refused.value)


def test_the_practices_today_is_its_own_not_utcs() -> None:
    late_evening_in_new_york = datetime(2026, 12, 8, 3, 30, tzinfo=UTC)  # already the 8th in UTC
    assert today_in(NEW_YORK, late_evening_in_new_york) == MONDAY_7TH
    assert SpokenDate.parse("tomorrow").on(today_in(NEW_YORK, late_evening_in_new_york)) == TUESDAY
    assert today_in(ZoneInfo("Asia/Tokyo"), late_evening_in_new_york) == date(2026, 12, 8)


def test_check_availability_takes_spoken_dates_and_a_preferred_time() -> None:
    args = CheckAvailabilityArgs.model_validate({"date": "Next Tuesday", "preferredTime": "15:30"})
    assert args.days(MONDAY_7TH) == (TUESDAY, TUESDAY)
    assert args.preferred_time == time(15, 30)
    ranged = CheckAvailabilityArgs.model_validate({"startDate": "tomorrow", "endDate": "friday"})
    assert ranged.days(MONDAY_7TH) == (TUESDAY, date(2026, 12, 11))
    backwards = CheckAvailabilityArgs.model_validate({"startDate": "friday", "endDate": "tomorrow"})
    with pytest.raises(ValueError, match="endDate must not be before startDate"):
        backwards.days(MONDAY_7TH)


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        ({"date": "the day after"}, 'dates must be YYYY-MM-DD, "today", "tomorrow", or a weekday'),
        ({"date": "today", "preferredTime": "3:30 PM"}, "preferredTime must be a time written HH:MM"),
        ({"date": "today", "preferredTime": "25:00"}, "preferredTime must be a time written HH:MM"),
        ({"date": "today", "providerId": "1", "providerName": "Dr. Able"}, "give providerId or providerName"),
        ({"startDate": "today"}, "give date, or startDate and endDate"),
    ],
)
def test_unreadable_arguments_say_what_to_send(arguments: dict[str, str], said: str) -> None:
    with pytest.raises(ValidationError) as refused:
        CheckAvailabilityArgs.model_validate(arguments)
    assert said in describe_errors(refused.value.errors(include_input=False), CheckAvailabilityArgs)


def test_the_schema_tells_the_model_the_words_it_may_pass() -> None:
    properties = flat_schema(CheckAvailabilityArgs)["properties"]
    assert '"next tuesday"' in properties["date"]["description"]
    assert properties["preferredTime"]["pattern"] == "^[0-9]{1,2}:[0-5][0-9]$"
    assert "Dr. Patel" in properties["providerName"]["description"]


def test_a_free_preferred_time_is_offered_with_the_nearest_others() -> None:
    day = slots(MONDAY, provider_id=ABLE.provider_id)
    assert "15:30" not in clocks(spread(day))  # spread over the day, 15:30 is not among the five
    offered = nearest(day, time(15, 30))
    assert clocks(offered) == ["15:00", "15:15", "15:30", "15:45", "16:00"]


def test_without_the_preferred_time_free_the_nearest_are_offered() -> None:
    offered = clocks(nearest(slots(MONDAY, provider_id=ABLE.provider_id), time(12, 15)))
    assert offered == ["11:00", "11:15", "11:30", "13:00", "13:15"]  # lunch is closed: the nearest either side


@pytest.mark.parametrize(
    ("said", "forms"),
    [
        ("Maria De La Cruz", ["De La Cruz", "DeLaCruz", "La Cruz", "LaCruz", "Cruz"]),
        ("J O N Smith", ["O N Smith", "ONSmith", "N Smith", "NSmith", "Smith"]),
        ("Jane S M I T H", ["S M I T H", "SMITH", "M I T H", "MITH", "I T H", "ITH", "T H", "TH", "H"]),
    ],
)
def test_a_full_name_is_looked_up_by_every_last_name_it_may_end_with(said: str, forms: list[str]) -> None:
    assert surnames(said.split()) == forms


def doctor(provider_id: str, first: str, last: str) -> Provider:
    return Provider.from_item({"provider_id": provider_id, "firstname": first, "lastname": last, "status": "Active"})


PATEL = doctor("P7", "Anita", "Patel")
RAJ_PATEL = doctor("P8", "Raj", "Patel")
DE_LA_CRUZ = doctor("P9", "Maria", "De La Cruz")


@pytest.mark.parametrize(
    ("said", "named"),
    [
        ("Dr. Patel", [PATEL]),
        ("patel", [PATEL]),
        ("Doctor Anita Patel", [PATEL]),
        ("Dr Anita", [PATEL]),
        ("Dr. De La Cruz", [DE_LA_CRUZ]),
        ("delacruz", [DE_LA_CRUZ]),
        ("Dr. Able", [ABLE]),
        ("Dr. Smith", []),
        ("Dr.", []),
    ],
)
def test_providers_by_the_name_callers_use(said: str, named: list[Provider]) -> None:
    assert providers_named([ABLE, BRIEF, PATEL, DE_LA_CRUZ], said) == named


def test_a_shared_surname_names_both_until_the_first_name_is_given() -> None:
    team = [PATEL, RAJ_PATEL, ABLE]
    assert providers_named(team, "Dr. Patel") == [PATEL, RAJ_PATEL]
    assert providers_named(team, "Raj Patel") == [RAJ_PATEL]


def test_the_system_prompt_gives_the_practice_local_date_and_time_as_vapi_templates() -> None:
    said = system_prompt("America/Chicago")
    assert '{{"now" | date: "%A, %B %-e, %Y", "America/Chicago"}}' in said
    assert '{{"now" | date: "%-l:%M %p", "America/Chicago"}}' in said
    assert '"next tuesday"' in said
    assert "confirm" in said
