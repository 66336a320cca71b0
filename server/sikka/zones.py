"""Practice time zones. Sikka reports the PMS server's zone, usually as a Windows name
("Eastern Standard Time"); tools need an IANA zone to turn wall times into instants."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WINDOWS_TO_IANA = {
    "eastern standard time": "America/New_York",
    "us eastern standard time": "America/Indiana/Indianapolis",
    "central standard time": "America/Chicago",
    "mountain standard time": "America/Denver",
    "us mountain standard time": "America/Phoenix",
    "pacific standard time": "America/Los_Angeles",
    "alaskan standard time": "America/Anchorage",
    "hawaiian standard time": "Pacific/Honolulu",
    "atlantic standard time": "America/Halifax",
    "newfoundland standard time": "America/St_Johns",
    "canada central standard time": "America/Regina",
    "gmt standard time": "Europe/London",
    "utc": "UTC",
}
# US states whose whole area shares one zone: a fallback when Sikka gives no usable zone name.
STATE_TO_IANA = {
    **dict.fromkeys("CT DC DE GA MA MD ME NC NH NJ NY OH PA RI SC VA VT WV".split(), "America/New_York"),
    **dict.fromkeys("AL AR IA IL LA MN MO MS OK WI".split(), "America/Chicago"),
    **dict.fromkeys("CO MT NM UT WY".split(), "America/Denver"),
    **dict.fromkeys("CA NV WA".split(), "America/Los_Angeles"),
    "AZ": "America/Phoenix",
    "HI": "Pacific/Honolulu",
    "AK": "America/Anchorage",
}
DEFAULT_ZONE = "America/New_York"


def resolve_zone_name(reported: str, state: str = "") -> str:
    """An IANA zone name from Sikka's zone text (IANA or Windows), else from the state, else the default."""
    candidate = reported.strip()
    if candidate:
        mapped = WINDOWS_TO_IANA.get(candidate.lower(), candidate)
        try:
            ZoneInfo(mapped)
        except (ZoneInfoNotFoundError, ValueError):
            pass
        else:
            return mapped
    return STATE_TO_IANA.get(state.strip().upper(), DEFAULT_ZONE)


def zone(name: str) -> ZoneInfo:
    return ZoneInfo(resolve_zone_name(name))
