"""Practice time zones. Sikka reports the PMS server's zone, usually as a Windows name ("Eastern Standard Time",
"SA Western Standard Time"); tools need an IANA zone to turn wall times into instants.

Windows names map through the Unicode CLDR table windowsZones.xml, as the `tzlocal` package ships it
(`tzlocal.windows_tz`): the zone of the location's state when CLDR lists it under that Windows zone ("SA Western
Standard Time" in PR: America/Puerto_Rico), else the Windows zone's main IANA zone (CLDR territory "001":
America/La_Paz). Windows' daylight names ("Eastern Daylight Time") are read as their standard zone, and an IANA
name is taken as it is. With no zone reported, a US
state that lies wholly in one zone gives it. Anything else is an `UnknownZone`: never a guess, since a practice
served in the wrong zone offers and books every slot hours off (server/onboarding.py keeps such a location from
serving and says why).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tzlocal.windows_tz import tz_win, win_tz

WINDOWS_TO_IANA = {name.casefold(): zone for name, zone in win_tz.items()}
IANA_TO_WINDOWS = {zone: name.casefold() for zone, name in tz_win.items()}
# US states whose whole area shares one zone: what a location's state says when Sikka gives no zone name.
STATE_TO_IANA = {
    **dict.fromkeys("CT DC DE GA MA MD ME NC NH NJ NY OH PA RI SC VA VT WV".split(), "America/New_York"),
    **dict.fromkeys("AL AR IA IL LA MN MO MS OK WI".split(), "America/Chicago"),
    **dict.fromkeys("CO MT NM UT WY".split(), "America/Denver"),
    **dict.fromkeys("CA NV WA".split(), "America/Los_Angeles"),
    "AZ": "America/Phoenix",
    "HI": "Pacific/Honolulu",
    "AK": "America/Anchorage",
    "PR": "America/Puerto_Rico",
}


class UnknownZone(ValueError):
    """Sikka's zone name is neither a Windows zone CLDR maps nor an IANA zone (or there is none, and the state
    does not say). `reported` is the name as Sikka gave it (a zone name, never PHI)."""

    def __init__(self, reported: str) -> None:
        self.reported = reported
        super().__init__(f"unknown time zone {reported!r}" if reported else "no time zone reported")


def resolve_zone_name(reported: str, state: str = "") -> str:
    """The IANA zone for Sikka's zone text (Windows or IANA), or for the state when there is none; else raise
    UnknownZone."""
    candidate = reported.strip()
    if not candidate:
        by_state = STATE_TO_IANA.get(state.strip().upper())
        if by_state is None:
            raise UnknownZone(candidate)
        return by_state
    windows = next((n for n in (candidate.casefold(), _standard(candidate)) if n in WINDOWS_TO_IANA), None)
    if windows is not None:
        local = STATE_TO_IANA.get(state.strip().upper())
        return local if local and IANA_TO_WINDOWS.get(local) == windows else WINDOWS_TO_IANA[windows]
    try:
        ZoneInfo(candidate)
    except (ZoneInfoNotFoundError, ValueError):
        raise UnknownZone(candidate) from None
    return candidate


def _standard(name: str) -> str:
    """Windows' daylight name of a zone as its standard name: "Eastern Daylight Time" -> "eastern standard time"."""
    return name.casefold().replace(" daylight time", " standard time")


def zone(name: str) -> ZoneInfo:
    """The ZoneInfo of a stored (resolved) zone name."""
    return ZoneInfo(resolve_zone_name(name))


def today_in(zone: ZoneInfo, now: datetime | None = None) -> date:
    """Today where `zone` is (`now` defaults to the current instant): a practice's today, not the host's or UTC's."""
    return (now or datetime.now(UTC)).astimezone(zone).date()
