"""The practice sync: reconcile our integrations with Sikka's `authorized_practices` (show=all, every page).

A listed location without an account becomes one (ACTIVE once its data is uploaded, PENDING before; see
server/onboarding.py), a PENDING one whose data arrived and an INACTIVE or REVOKED one listed again are
activated, an ACTIVE one that Sikka now lists with another secret key has its keys exchanged again with that
key, and API access is turned on for every listed location not known to have it. A location missing from
two syncs in a row is retired as INACTIVE. When Sikka cannot be read, nothing changes.

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

from server.audit import AuditEntry, audited
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
        report = await _audited_sync(services.audit, Caller.system(actor), services, lease, office_id)
    except Exception:
        if full:
            services.metrics.practice_sync_runs.labels("failure").inc()
        raise
    finally:
        await lease.release()
    metrics = services.metrics
    metrics.practice_sync_locations.labels("added").inc(report.count(Change.ACTIVATED))
    metrics.practice_sync_locations.labels("removed").inc(report.count(Change.DEACTIVATED))
    if full:
        metrics.practice_sync_runs.labels("success").inc()
        metrics.practice_sync_last_success.set_to_current_time()
    return report


@audited("practices.sync", crud="U", phi_fields=())
async def _audited_sync(entry: AuditEntry, services: Services, lease: Lease, office_id: str | None) -> SyncReport:
    entry.summary = f"{scope(office_id)}: authorized_practices not read"
    listed = await services.gateway.authorized_practices(Onboarding.deadline())
    report = await reconcile(services, listed, lease, office_id)
    entry.summary = report.summary()
    return report


async def reconcile(services: Services, listed: list[Item], lease: Lease, office_id: str | None) -> SyncReport:
    """Bring our integrations in line with `listed` (for one office, or all); `lease` is kept before each write."""
    onboarding = Onboarding(services)
    items = {location(item): item for item in listed if covers(item, office_id)}
    offices = None if office_id is None else {office_id, *(office for office, _ in items)}
    known = await integrations(services, offices)
    report = SyncReport(office_id)
    for key, item in items.items():
        await lease.keep()
        if change := await bring_in(onboarding, item, known.get(key)):
            report.changes.append(change)
    await lease.keep()
    await confirm(services, [known[key].id for key in items if key in known])
    for key, integration in known.items():
        if key not in items and integration.status in WATCHED:
            await lease.keep()
            if change := await miss(services, onboarding, integration):
                report.changes.append(change)
    await lease.keep()
    report.changes.extend(await turn_on_access(onboarding, await integrations(services, offices), set(items)))
    touched = {(c.office_id, c.practice_id) for c in report.changes}
    report.unchanged = len(set(items) - touched)
    return report


async def integrations(services: Services, offices: set[str] | None) -> dict[Location, PmsIntegration]:
    query = select(PmsIntegration)
    if offices is not None:
        query = query.where(PmsIntegration.office_id.in_(offices))
    async with services.sessions() as session:
        return {(i.office_id, i.practice_id): i for i in await session.scalars(query)}


async def bring_in(onboarding: Onboarding, item: Item, current: PmsIntegration | None) -> LocationChange | None:
    """A listed location: activated (or stored PENDING) unless already ACTIVE with the secret key Sikka lists, or
    PENDING with no data yet."""
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
        result = await onboarding.activate(item, Onboarding.deadline())
    except (NotConfirmed, SikkaError, VaultError) as exc:
        account_id = current.account_id if current else None
        return LocationChange(office, practice, Change.FAILED, account_id, f"activate: {type(exc).__name__}")
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


async def turn_on_access(
    onboarding: Onboarding, current: dict[Location, PmsIntegration], listed: set[Location]
) -> list[LocationChange]:
    """API access for listed, watched locations not known to have it: one read (and at most one write) per office."""
    wanted: dict[str, list[PmsIntegration]] = defaultdict(list)
    for key, integration in current.items():
        if key in listed and integration.status in WATCHED and integration.api_access != "on":
            wanted[integration.office_id].append(integration)
    changes: list[LocationChange] = []
    for office, waiting in wanted.items():
        practice_ids = [i.practice_id for i in waiting]
        try:
            turned_on = set(await onboarding.ensure_access(office, practice_ids, Onboarding.deadline()))
        except SikkaError as exc:
            reason = f"access: {type(exc).__name__}"
            changes += [LocationChange(office, i.practice_id, Change.FAILED, i.account_id, reason) for i in waiting]
            continue
        changes += [
            LocationChange(office, i.practice_id, Change.ACCESS_ON, i.account_id)
            for i in waiting
            if i.practice_id in turned_on
        ]
    return changes


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
