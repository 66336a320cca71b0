"""The registration handshake: the unsigned PascalCase POST integrators report Sikka sending when a practice buys
(`Status` "Active") or cancels ("Cancelled") an app (`Source`, `MasterCustomerID`, `SPUInstallationKey`,
`EmailAddress`, `PracticeName`, ...). Sikka does not document it, so nothing in it is trusted: it only asks for
an immediate sync of the office it names (`MasterCustomerID`), which believes `authorized_practices` alone.
Only the office id and the status are read (webhook/models.py).

Immediate syncs are rate-limited by markers in the database, so the limits hold across replicas: one per
OVERALL in all, then one per office per PER_OFFICE (a flood of made-up offices stays a trickle of Sikka calls).
The overall marker is taken first, so a flood writes at most one office marker per OVERALL; whoever takes it
also deletes the expired markers, so handshakes leave no rows behind (at most one per office of the last
PER_OFFICE, plus the overall one). A handshake over a limit, or while another sync runs, is deferred to the
scheduled sync.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from server.logs import get_logger
from server.practice_sync import claim, run_sync
from server.services import DATABASE_ERRORS, Services

log = get_logger(__name__)

SHAPE_KEYS = frozenset({"MasterCustomerID", "Source"})
OUR_EVENT_KEY = "event"  # our signed events carry it (and lower-case keys only)
PER_OFFICE = timedelta(minutes=1)
OVERALL = timedelta(seconds=10)

Sync = Callable[[], Awaitable[None]]


def handshake_fields(body: bytes) -> dict[str, Any] | None:
    """The body as a JSON object when it has the handshake's shape (PascalCase `MasterCustomerID` or `Source`,
    and not our signed event's `event`)."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or OUR_EVENT_KEY in data or SHAPE_KEYS.isdisjoint(data):
        return None
    return data


async def start_office_sync(services: Services, office_id: str) -> Sync | None:
    """Claim an immediate sync of one office, to run after the answer; None when rate-limited or while another
    sync runs (the scheduled sync picks the office up). The claim itself calls nobody outside the database."""
    leases = services.leases
    try:
        if not await leases.once_per("handshake", OVERALL):
            return None
        await leases.purge_expired()
        if not await leases.once_per(f"handshake:{office_id}", PER_OFFICE):
            return None
        lease = await claim(services)
    except DATABASE_ERRORS as exc:
        log.warning("handshake sync not claimed", error=type(exc).__name__)
        return None
    if lease is None:
        return None

    async def sync() -> None:
        try:
            await run_sync(services, lease, actor="webhook", office_id=office_id)
        except Exception as exc:  # audited already; nobody waits for this answer
            log.warning("handshake sync failed", error=type(exc).__name__)

    return sync
