"""Audit records made safe to insert before they join a group-committed batch.

A client IP is one valid address (normalised) or null with `ip_invalid` set; text fits its column, with NULs and
characters UTF-8 cannot encode replaced. So no value a caller controls (`X-Forwarded-For`, `X-Call-Id`, webhook
fields in a summary) can fail the transaction that carries other callers' records.
"""

from __future__ import annotations

import ipaddress
from typing import Any, cast

from sqlalchemy import String, Table

from server.db.models import IP_ADDRESS_LENGTH, AuditLog

LOGS = cast(Table, AuditLog.__table__)
# Column name -> its length limit (None: unlimited text), for every text column of the audit table.
TEXT_LIMITS: dict[str, int | None] = {
    column.name: column.type.length for column in LOGS.columns if isinstance(column.type, String)
}


def client_ip(value: str | None) -> tuple[str | None, bool]:
    """(address, invalid): an IPv4 or IPv6 address in its normal form; anything else is (None, True)."""
    if value is None:
        return None, False
    if len(value) > 2 * IP_ADDRESS_LENGTH:  # no address is this long; do not parse arbitrary input
        return None, True
    try:
        address = str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None, True
    if len(address) > IP_ADDRESS_LENGTH:  # an IPv6 zone id can make a valid address arbitrarily long
        return None, True
    return address, False


def clean_text(value: str, limit: int | None) -> str:
    """`value` without NULs or unencodable characters (PostgreSQL refuses both), cut to `limit` characters."""
    cleaned = value.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")
    return cleaned if limit is None else cleaned[:limit]


def normalised(record: dict[str, Any]) -> dict[str, Any]:
    """A copy of `record` whose values the insert cannot refuse (idempotent)."""
    clean = {
        name: clean_text(value, TEXT_LIMITS[name]) if name in TEXT_LIMITS and isinstance(value, str) else value
        for name, value in record.items()
    }
    address, invalid = client_ip(record.get("ip_address"))
    clean["ip_address"], clean["ip_invalid"] = address, invalid or bool(record.get("ip_invalid"))
    return clean
