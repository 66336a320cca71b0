"""Phone numbers: anything a caller or a PMS writes, normalised to E.164 with `phonenumbers`."""

from __future__ import annotations

import phonenumbers

DEFAULT_REGION = "US"


def to_e164(raw: str, region: str = DEFAULT_REGION) -> str | None:
    """Normalise "(408) 555-0101", "408.555.0101", "+1 408 555 0101" to "+14085550101"; None unless the number is
    valid (a number someone can dial back), not merely possible: "555-0101" (seven digits, no area code) is a
    possible local number, but "+15550101" reaches no one, and neither does "123-456-7890"."""
    if not raw or not raw.strip():
        return None
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def national_digits(e164: str) -> str:
    """The national significant number: "+14085550101" -> "4085550101"."""
    number = phonenumbers.parse(e164, None)
    return phonenumbers.national_significant_number(number)


def is_nanp(e164: str) -> bool:
    """A North American number: +1 and ten national digits."""
    return e164.startswith("+1") and len(national_digits(e164)) == 10


def stored_forms(e164: str) -> list[str]:
    """How a PMS may have stored the number, Sikka's documented form ("408-555-0101") first, then
    "(408) 555-0101" and "4085550101"; other countries: the national digits and E.164."""
    digits = national_digits(e164)
    if not is_nanp(e164):
        return [digits, e164]
    return [pms_format(e164), f"({digits[:3]}) {digits[3:6]}-{digits[6:]}", digits]


def pms_format(e164: str) -> str:
    """How practice systems store phones: "408-555-0101" for NANP numbers, E.164 otherwise."""
    digits = national_digits(e164)
    return f"{digits[:3]}-{digits[3:6]}-{digits[6:]}" if is_nanp(e164) else e164


def last_digits(raw: str, count: int = 4) -> str:
    digits = "".join(ch for ch in raw if ch.isdigit())
    return digits[-count:] if len(digits) >= count else ""
