"""Practice time zones (server/sikka/zones.py): Windows names through CLDR's mapping, IANA names as they are, a
state for no name at all, and an error, never a guess, for anything else."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from tzlocal.windows_tz import win_tz

from server.sikka.zones import UnknownZone, resolve_zone_name, zone


@pytest.mark.parametrize(
    ("reported", "iana"),
    [
        ("Eastern Standard Time", "America/New_York"),
        ("SA Western Standard Time", "America/La_Paz"),  # Puerto Rico's Windows zone (UTC-4 all year)
        ("Aleutian Standard Time", "America/Adak"),
        ("Mountain Standard Time (Mexico)", "America/Mazatlan"),
        ("US Eastern Standard Time", "America/Indianapolis"),
        ("UTC", "Etc/UTC"),
        ("  pacific standard time ", "America/Los_Angeles"),  # as a PMS may write it
        ("Central Daylight Time", "America/Chicago"),  # Windows' daylight name of the zone
        ("America/Puerto_Rico", "America/Puerto_Rico"),  # already IANA
    ],
)
def test_windows_and_iana_names(reported: str, iana: str) -> None:
    assert resolve_zone_name(reported) == iana


@pytest.mark.parametrize(
    ("reported", "state", "iana"),
    [
        ("SA Western Standard Time", "PR", "America/Puerto_Rico"),  # CLDR lists it under that Windows zone
        ("Eastern Standard Time", "NY", "America/New_York"),
        ("Pacific Standard Time", "NY", "America/Los_Angeles"),  # the state's zone is not that Windows zone's
        ("SA Western Standard Time", "", "America/La_Paz"),
    ],
)
def test_the_states_zone_when_cldr_lists_it_under_the_windows_zone(reported: str, state: str, iana: str) -> None:
    assert resolve_zone_name(reported, state) == iana


def test_every_windows_zone_cldr_maps_is_known_here() -> None:
    for name in win_tz:
        ZoneInfo(resolve_zone_name(name))


def test_a_zone_outside_the_old_table_puts_slots_at_the_right_hour() -> None:
    """9:00 in Puerto Rico is 13:00 UTC all year (America/New_York, the old fallback, said 14:00 in winter)."""
    for month in (1, 7):
        nine = datetime(2027, month, 4, 9, 0, tzinfo=zone(resolve_zone_name("SA Western Standard Time")))
        assert nine.utcoffset() == timedelta(hours=-4)


@pytest.mark.parametrize(("state", "iana"), [("NY", "America/New_York"), ("az", "America/Phoenix")])
def test_without_a_name_a_state_in_one_zone_gives_it(state: str, iana: str) -> None:
    assert resolve_zone_name("", state) == iana


@pytest.mark.parametrize(
    ("reported", "state"),
    [
        ("Hora estándar del Pacífico", "CA"),  # a localised Windows name: not guessed, even with a state
        ("Eastern Standard Tme", "NY"),
        ("Mars/Olympus_Mons", ""),
        ("../../etc/passwd", ""),
        ("", "TX"),  # no name, and Texas spans two zones
        ("", ""),
    ],
)
def test_an_unknown_zone_is_an_error_not_a_guess(reported: str, state: str) -> None:
    with pytest.raises(UnknownZone) as raised:
        resolve_zone_name(reported, state)
    assert raised.value.reported == reported.strip()
