"""The practice sync: reconcile our integrations with Sikka's `authorized_practices` (show=all, every page).

API access comes first: for each office, the listed locations not known to have it are read in one
`GET /practice_location` and turned on in at most one `POST` (Sikka refuses key grants meanwhile). Then a listed
location without an account becomes one (ACTIVE once its data is uploaded, PENDING before; see
server/onboarding.py), a PENDING one whose data arrived and an INACTIVE or REVOKED one listed again are
activated, and an ACTIVE one that Sikka now lists with another secret key has its keys exchanged again with that
key. A location missing from two syncs in a row is retired as INACTIVE, but only on a listing that is plausible
(`plausible_absence`): an empty listing, or one that names no other office and is not confirmed by a second read,
counts no miss (the locations are `held`). When Sikka cannot be read, nothing changes.

One sync at a time across replicas (the lease SYNC_LEASE, renewed before each write), whoever starts it: the
scheduler (`sync_on_schedule`: one replica per interval, by the marker SCHEDULE_MARKER), `practices sync`, or a
registration handshake (one office only; webhook/handshake.py). Each run is one audit record (`practices.sync`,
counts only) and, for full syncs, the metrics of server/metrics.py.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

import anyio
from sqlalchemy import select, update

from server.audit import AuditEntry
from server.caller import Caller
from server.db.models import IntegrationStatus, PmsIntegration, utcnow
from server.leases import Lease
from server.logs import get_logger
from server.onboarding import NotConfirmed, Onboarding, data_ready
from server.services import Services
from server.sikka.client import Item
from server.sikka.errors import SikkaError
from server.sikka.records import text
from server.vault.base import VaultError

log = get_logger(__name__)

SYNC_LEASE = "practices-sync"
SCHEDULE_MARKER = "practices-sync:schedule"
LEASE_TTL = timedelta(seconds=90)  # a step between two renewals (one location) is bounded by a 15 s deadline
SCHEDULED_WAIT_SECONDS = 30.0  # how long the scheduler waits for a sync started elsewhere (CLI, handshake)
MISSES_BEFORE_INACTIVE = 2
WATCHED = (IntegrationStatus.ACTIVE, IntegrationStatus.PENDING)  # what a missing listing takes out of service

Location = tuple[str, str]  # (office_id, practice_id)


class Change(StrEnum):
    ACTIVATED = "activated"  # now ACTIVE: new, its data just uploaded, or listed again
    PENDING = "pending"  # listed, its data not uploaded yet: stored, not serving
    MISSED = "missed"  # not listed this time (one more miss in a row deactivates it)
    DEACTIVATED = "deactivated"  # not listed twice in a row: INACTIVE
    ACCESS_ON = "access_on"  # API access turned on (`POST /practice_location`)
    HELD = "held"  # not listed, but the listing is not plausible evidence (empty, unconfirmed): nothing changed
    REKEYED = "rekeyed"  # ACTIVE, and Sikka lists a new secret key for it: keys exchanged again with that one
    FAILED = "failed"  # a step failed; the next sync retries it


@dataclass(frozen=True)
class LocationChange:
    office_id: str
    practice_id: str
    change: Change
    account_id: str | None = None
    reason: str = ""  # for FAILED: the step and the error's class name

    def as_json(self) -> dict[str, str | None]:
        return {
            "officeId": self.office_id,
            "practiceId": self.practice_id,
            "accountId": self.account_id,
            "change": str(self.change),
            "reason": self.reason or None,
        }


@dataclass
class SyncReport:
    office_id: str | None  # the one office a handshake asked for; None: every office
    changes: list[LocationChange] = field(default_factory=list)
    unchanged: int = 0  # listed locations that needed nothing

    def count(self, change: Change) -> int:
        return sum(1 for c in self.changes if c.change == change)

    def counts(self) -> dict[str, int]:
        return {**{str(change): self.count(change) for change in Change}, "unchanged": self.unchanged}

    def summary(self) -> str:
        """For the audit record: counts only."""
        counted = ", ".join(f"{n} {name}" for name, n in self.counts().items())
        return f"{scope(self.office_id)}: {counted}"

    def audit_outcome(self) -> tuple[str, int, str | None]:
        return "success", 200, None


def scope(office_id: str | None) -> str:
    return f"office {office_id}" if office_id else "every office"


def location(item: Item) -> Location:
    return text(item, "office_id"), text(item, "practice_id")


def covers(item: Item, office_id: str | None) -> bool:
    """Whether a listing belongs to the office a handshake names (`office_id`, or `customer_id` when listed)."""
    return office_id is None or office_id in {text(item, "office_id"), text(item, "customer_id")} - {""}


async def claim(services: Services, *, wait_seconds: float = 0.0) -> Lease | None:
    """The sync lease, or None while another sync runs."""
    return await services.leases.hold(SYNC_LEASE, LEASE_TTL, wait_seconds=wait_seconds)


async def run_sync(services: Services, lease: Lease, *, actor: str, office_id: str | None = None) -> SyncReport:
    """One reconcile under `lease` (released at the end), audited and counted. Raises SikkaError when Sikka
    cannot be read (nothing changed then), LeaseLost or a database error (the steps done so far stand)."""
    full = office_id is None
    try:
        async with services.audit.record("practices.sync", Caller.system(actor), crud="U", phi_fields=()) as entry:
            report = entry.answered(await _sync(entry, services, lease, office_id))
    except Exception:
        if full:
            services.metrics.practice_sync_runs.labels("failure").inc()
        raise
    finally:
        await lease.release()
    metrics = services.metrics
    metrics.practice_sync_locations.labels("added").inc(report.count(Change.ACTIVATED))
    metrics.practice_sync_locations.labels("removed").inc(report.count(Change.DEACTIVATED))
    metrics.practice_sync_locations.labels("held").inc(report.count(Change.HELD))
    metrics.practice_sync_locations.labels("failed").inc(report.count(Change.FAILED))
    if full:
        metrics.practice_sync_runs.labels("success").inc()
        metrics.practice_sync_last_success.set_to_current_time()
    return report


async def _sync(entry: AuditEntry, services: Services, lease: Lease, office_id: str | None) -> SyncReport:
    entry.summary = f"{scope(office_id)}: authorized_practices not read"
    listed = await read_listing(services)
    report = await reconcile(services, listed, lease, office_id)
    entry.summary = report.summary()
    return report


async def read_listing(services: Services) -> list[Item]:
    return await services.gateway.authorized_practices(Onboarding.deadline())


async def reconcile(services: Services, listed: list[Item], lease: Lease, office_id: str | None) -> SyncReport:
    """Bring our integrations in line with `listed` (for one office, or all); `lease` is kept before each write."""
    onboarding = Onboarding(services)
    items = {location(item): item for item in listed if covers(item, office_id)}
    offices = None if office_id is None else {office_id, *(office for office, _ in items)}
    known = await integrations(services, offices)
    report = SyncReport(office_id)
    await lease.keep()
    access = await open_access(onboarding, items, known)
    report.changes.extend(access.changes)
    for key, item in items.items():
        await lease.keep()
        if key in access.blocked:
            continue
        if change := await bring_in(onboarding, item, known.get(key), access.confirmed.get(key)):
            report.changes.append(change)
    await lease.keep()
    await confirm(services, [known[key].id for key in items if key in known])
    missing = [integration for key, integration in known.items() if key not in items and integration.status in WATCHED]
    if missing and not await plausible_absence(services, listed, missing):
        log.warning("authorized_practices not plausible: missing locations held", held=len(missing), listed=len(listed))
        report.changes += [LocationChange(i.office_id, i.practice_id, Change.HELD, i.account_id) for i in missing]
        missing = []
    for integration in missing:
        await lease.keep()
        if change := await miss(services, onboarding, integration):
            report.changes.append(change)
    touched = {(c.office_id, c.practice_id) for c in report.changes}
    report.unchanged = len(set(items) - touched)
    return report


async def integrations(services: Services, offices: set[str] | None) -> dict[Location, PmsIntegration]:
    query = select(PmsIntegration)
    if offices is not None:
        query = query.where(PmsIntegration.office_id.in_(offices))
    async with services.sessions() as session:
        return {(i.office_id, i.practice_id): i for i in await session.scalars(query)}


async def bring_in(
    onboarding: Onboarding, item: Item, current: PmsIntegration | None, access: str | None = None
) -> LocationChange | None:
    """A listed location: activated (or stored PENDING) unless already ACTIVE with the secret key Sikka lists, or
    PENDING with no data yet. `access`: what the access step confirmed for it ("on"), stored with it."""
    office, practice = location(item)
    rekey = current is not None and current.status == IntegrationStatus.ACTIVE
    if current is not None and rekey:
        try:
            if not await onboarding.secret_changed(current.account_id, item):
                return None
        except VaultError as exc:
            return LocationChange(office, practice, Change.FAILED, current.account_id, f"secret: {type(exc).__name__}")
    if current is not None and current.status == IntegrationStatus.PENDING and not data_ready(item):
        return LocationChange(office, practice, Change.PENDING, current.account_id)
    try:
        result = await onboarding.activate(item, Onboarding.deadline(), access=access)
    except (NotConfirmed, SikkaError, VaultError) as exc:
        account_id = current.account_id if current else None
        return LocationChange(office, practice, Change.FAILED, account_id, f"activate: {type(exc).__name__}")
    if result.problem is not None:  # stored, kept from serving (its time zone is unknown)
        reason = f"zone: {type(result.problem).__name__}"
        return LocationChange(office, practice, Change.FAILED, result.account_id, reason)
    if result.status != IntegrationStatus.ACTIVE:
        return LocationChange(office, practice, Change.PENDING, result.account_id)
    return LocationChange(office, practice, Change.REKEYED if rekey else Change.ACTIVATED, result.account_id)


async def confirm(services: Services, integration_ids: list[str]) -> None:
    """Sikka listed these: confirmed now, no misses."""
    if integration_ids:
        async with services.sessions.begin() as session:
            await session.execute(
                update(PmsIntegration)
                .where(PmsIntegration.id.in_(integration_ids))
                .values(last_sync_at=utcnow(), missed_syncs=0)
            )


async def miss(services: Services, onboarding: Onboarding, integration: PmsIntegration) -> LocationChange | None:
    """A watched location Sikka did not list: one more miss; the second in a row retires it as INACTIVE."""
    async with services.sessions.begin() as session:
        missed = await session.scalar(
            update(PmsIntegration)
            .where(PmsIntegration.id == integration.id, PmsIntegration.status.in_(WATCHED))
            .values(missed_syncs=PmsIntegration.missed_syncs + 1)
            .returning(PmsIntegration.missed_syncs)
        )
    if missed is None:  # activated or retired meanwhile (a webhook)
        return None
    office, practice, account_id = integration.office_id, integration.practice_id, integration.account_id
    if missed < MISSES_BEFORE_INACTIVE:
        return LocationChange(office, practice, Change.MISSED, account_id)
    try:
        await onboarding.retire(account_id, IntegrationStatus.INACTIVE, Onboarding.deadline())
    except VaultError as exc:  # still watched, missed once more: the next sync retries
        return LocationChange(office, practice, Change.FAILED, account_id, f"deactivate: {type(exc).__name__}")
    return LocationChange(office, practice, Change.DEACTIVATED, account_id)


@dataclass
class AccessStep:
    """What the access step did: access confirmed on (by location), the locations whose access could not be
    confirmed (their keys are not exchanged this time), and the changes to report."""

    confirmed: dict[Location, str] = field(default_factory=dict)
    blocked: set[Location] = field(default_factory=set)
    changes: list[LocationChange] = field(default_factory=list)


async def open_access(
    onboarding: Onboarding, items: dict[Location, Item], known: dict[Location, PmsIntegration]
) -> AccessStep:
    """API access for every listed location not known to have it, before any key exchange (Sikka refuses a grant
    while a location it covers has access off): one read and at most one write per office."""
    wanted: dict[str, list[Location]] = defaultdict(list)
    for key in items:
        current = known.get(key)
        if current is None or current.api_access != "on":
            wanted[key[0]].append(key)
    step = AccessStep()
    for office, waiting in wanted.items():
        try:
            turned_on = set(await onboarding.ensure_access(office, [p for _, p in waiting], Onboarding.deadline()))
        except SikkaError as exc:
            step.blocked.update(waiting)
            reason = f"access: {type(exc).__name__}"
            step.changes += [LocationChange(*key, Change.FAILED, _account(known, key), reason) for key in waiting]
            continue
        step.confirmed.update(dict.fromkeys(waiting, "on"))
        step.changes += [
            LocationChange(*key, Change.ACCESS_ON, _account(known, key)) for key in waiting if key[1] in turned_on
        ]
    return step


def _account(known: dict[Location, PmsIntegration], key: Location) -> str | None:
    current = known.get(key)
    return current.account_id if current else None


async def plausible_absence(services: Services, listed: list[Item], missing: list[PmsIntegration]) -> bool:
    """Whether `listed` may count a miss for the watched locations it omits. An empty listing never may (Sikka
    answering 204, or a mistake of ours, must not take practices off the air); one that names an office other than
    theirs may; otherwise a second read must omit them too (a failed or empty second read: no)."""
    if not listed:
        return False
    offices = {integration.office_id for integration in missing}
    if any(text(item, "office_id") not in offices for item in listed):
        return True
    try:
        again = await read_listing(services)
    except SikkaError as exc:
        log.warning("authorized_practices second read failed", error=type(exc).__name__)
        return False
    listed_again = {location(item) for item in again}
    return bool(again) and not any((i.office_id, i.practice_id) in listed_again for i in missing)


async def scheduled_sync(services: Services, interval: timedelta) -> SyncReport | None:
    """A full sync when it is this replica's turn (at most one per interval across replicas), else None."""
    if not await services.leases.once_per(SCHEDULE_MARKER, interval):
        return None
    await services.leases.purge_expired()
    lease = await claim(services, wait_seconds=SCHEDULED_WAIT_SECONDS)
    if lease is None:
        log.info("practice sync skipped: another sync is running")
        return None
    return await run_sync(services, lease, actor="scheduler")


async def sync_on_schedule(services: Services, interval_seconds: int) -> None:
    """Every replica runs this (cancelled at shutdown); a failed sync logs a PHI-free warning and the loop goes on.
    Replicas look for their turn five times per interval, so a sync starts at most a fifth of one late."""
    interval = timedelta(seconds=interval_seconds)
    poll = min(float(interval_seconds), max(1.0, interval_seconds / 5))
    while True:
        try:
            report = await scheduled_sync(services, interval)
        except Exception as exc:  # Sikka, the vault, the database or the audit log: try again at the next turn
            log.warning("practice sync failed", error=type(exc).__name__)
        else:
            if report is not None:
                log.info("practice sync done", **report.counts())
        await anyio.sleep(poll)
