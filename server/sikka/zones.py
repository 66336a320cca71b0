"""Practice time zones. Sikka reports the PMS server's zone, usually as a Windows name ("Eastern Standard Time",
"SA Western Standard Time"); tools need an IANA zone to turn wall times into instants.

Windows names map through the Unicode CLDR table windowsZones.xml (each Windows zone's territory-"001" IANA
zone), as the `tzlocal` package ships it (`tzlocal.windows_tz.win_tz`); Windows' daylight names ("Eastern
Daylight Time") are read as their standard zone, and an IANA name is taken as it is. With no zone reported, a US
state that lies wholly in one zone gives it. Anything else is an `UnknownZone`: never a guess, since a practice
served in the wrong zone offers and books every slot hours off (server/onboarding.py keeps such a location from
serving and says why).
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tzlocal.windows_tz import win_tz

WINDOWS_TO_IANA = {name.casefold(): zone for name, zone in win_tz.items()}
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
    folded = candidate.casefold()
    standard = folded.replace(" daylight time", " standard time")
    mapped = WINDOWS_TO_IANA.get(folded) or WINDOWS_TO_IANA.get(standard) or candidate
    try:
        ZoneInfo(mapped)
    except (ZoneInfoNotFoundError, ValueError):
        raise UnknownZone(candidate) from None
    return mapped


def zone(name: str) -> ZoneInfo:
    """The ZoneInfo of a stored (resolved) zone name."""
    return ZoneInfo(resolve_zone_name(name))
