"""Phone numbers: anything a caller or a PMS writes, normalised to E.164 with `phonenumbers`."""

from __future__ import annotations

import phonenumbers

DEFAULT_REGION = "US"


def to_e164(raw: str, region: str = DEFAULT_REGION) -> str | None:
    """Normalise "(408) 555-0101", "408.555.0101", "+1 408 555 0101" to "+14085550101"; None if invalid."""
    if not raw or not raw.strip():
        return None
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def national_digits(e164: str) -> str:
    """The national significant number: "+14085550101" -> "4085550101"."""
    number = phonenumbers.parse(e164, None)
    return phonenumbers.national_significant_number(number)


def like_pattern(e164: str) -> str:
    """An RQL `like_` pattern that matches the number however the PMS formatted it.

    NANP numbers become "%408%555%0101" (matches "408-555-0101", "(408) 555-0101", "4085550101");
    other numbers keep their digits together. Matches are re-checked exactly after the search.
    """
    digits = national_digits(e164)
    if e164.startswith("+1") and len(digits) == 10:
        return f"%{digits[:3]}%{digits[3:6]}%{digits[6:]}"
    return f"%{digits}"


def pms_format(e164: str) -> str:
    """How practice systems store phones: "408-555-0101" for NANP numbers, E.164 otherwise."""
    digits = national_digits(e164)
    if e164.startswith("+1") and len(digits) == 10:
        return f"{digits[:3]}-{digits[3:6]}-{digits[6:]}"
    return e164


def last_digits(raw: str, count: int = 4) -> str:
    digits = "".join(ch for ch in raw if ch.isdigit())
    return digits[-count:] if len(digits) >= count else ""
