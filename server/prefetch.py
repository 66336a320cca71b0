"""Prefetch at call start: read from Sikka what a call will most likely need before its first tool asks, so
searchPatients by the calling number, checkAvailability for the next days and getPatientInfo answer without a
round trip.

When a call starts (Vapi's `status-update` in-progress, or the first tool request of a call that carries the
calling number) `Prefetcher.start` queues it, and `run_forever` (owned by the app's lifespan task group) reads,
audited as `vapi.callPrefetched` (nothing is stored when its record cannot be written):
- the practice's metadata (through the process's metadata cache: only when it is cold are its listings read,
  and then kept with the call's, so another replica of the same call need not read them);
- the patients on the calling number, as searchPatients searches it, and for at most `MAX_PATIENTS` of them
  their record and their upcoming appointments, as getPatientInfo reads them;
- the appointments (or Sikka's own open slots) of today and the next `PREFETCH_DAYS` days, one listing per day,
  as checkAvailability reads one day.
The listings are kept by their exact request (server/sikka/gateway.py `listing_key`) in the shared store
(server/prefetch_store.py). A read tool of the call (`crud` R) looks every listing up there before it asks
Sikka, so it runs its checks and its answer on the same data, unchanged: nothing is disclosed that the same tool
would not disclose on a fresh read (the identity check of getPatientInfo runs as ever, on the prefetched record).
Write tools never read from it (a booking re-checks its slot at Sikka), and their start drops the call's
prefetch; so does the end of the call. A prefetch that would take the practice over
`PREFETCH_REQUESTS_PER_MINUTE` is skipped.

What it costs: the practice's edits made after the prefetch (at the desk, or by another caller) are not seen by
the call's reads for up to `PREFETCH_TTL_SECONDS`; a booking still re-checks its slot, so it cannot double-book.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, timedelta

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from server.audit import AuditWriter
from server.caller import Caller
from server.logs import get_logger
from server.metrics import Metrics
from server.phones import stored_forms
from server.prefetch_store import Claim, Listings, PrefetchStore
from server.settings import Settings
from server.sikka import DayHours, Deadline, Listing, PracticeGateway, SikkaGateway, UnknownZone, today_in
from server.sikka.gateway import METADATA_DEADLINE_SECONDS, concurrently

log = get_logger(__name__)

MAX_PATIENTS = 5  # searchPatients lists at most 5 matches; with more it asks for a date of birth first
METADATA_REQUESTS = 8  # the metadata's listings at most (server/sikka/gateway.py `load_metadata`)
QUEUE_SIZE = 256  # call starts waiting for a prefetch; past it a start is dropped (counted), never waited for
PREFETCHED_PHI = ("name", "phone", "dateOfBirth", "email", "appointments")
REMEMBERED_CALLS = 10_000  # calls this process queued, so later tool requests of the call do not queue them again


@dataclass(frozen=True)
class Fetched:
    """What a prefetch read: its listings, by request."""

    listings: Listings

    def audit_outcome(self) -> tuple[str, int, str | None]:
        return "success", 200, None


class Recorder:
    """A `ListingMemo` that keeps what Sikka answers (and answers a repeated request from it)."""

    def __init__(self) -> None:
        self.listings: Listings = {}

    async def lookup(self, key: str) -> Listing | None:
        return self.listings.get(key)

    def keep(self, key: str, listing: Listing) -> None:
        if not listing.reloading:  # possibly incomplete: served to no one else
            self.listings[key] = listing


class Prefetched:
    """A `ListingMemo` over one call's stored prefetch, read once, on the first lookup."""

    def __init__(self, store: PrefetchStore, account_id: str, call_id: str, metrics: Metrics) -> None:
        self.store = store
        self.account_id = account_id
        self.call_id = call_id
        self.metrics = metrics
        self._held: Listings | None = None
        self._lock = anyio.Lock()

    async def _listings(self) -> Listings:
        async with self._lock:
            if self._held is None:
                key = await self.store.call_key(self.account_id, self.call_id)
                self._held = await self.store.listings(self.account_id, key)
        return self._held

    async def lookup(self, key: str) -> Listing | None:
        found = (await self._listings()).get(key)
        self.metrics.prefetch_reads.labels("hit" if found is not None else "miss").inc()
        return found

    def keep(self, key: str, listing: Listing) -> None:
        """A read tool's own Sikka reads are not added to the call's prefetch."""


class Prefetcher:
    def __init__(
        self, store: PrefetchStore, gateway: SikkaGateway, audit: AuditWriter, settings: Settings, metrics: Metrics
    ) -> None:
        self.store = store
        self.gateway = gateway
        self.audit = audit
        self.settings = settings
        self.metrics = metrics
        self._queued: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._send: MemoryObjectSendStream[Caller]
        self._receive: MemoryObjectReceiveStream[Caller]
        self._send, self._receive = anyio.create_memory_object_stream[Caller](QUEUE_SIZE)

    @property
    def enabled(self) -> bool:
        return self.settings.prefetch_ttl_seconds > 0 and self.settings.prefetch_requests_per_minute > 0

    def planned_requests(self, number: str) -> int:
        """What one prefetch may send at most: reserved from the budget, then replaced by what it sent."""
        per_patient = 2  # the record and the upcoming appointments
        days = self.settings.prefetch_days + 1
        return METADATA_REQUESTS + len(stored_forms(number)) + per_patient * MAX_PATIENTS + days

    def start(self, caller: Caller) -> None:
        """Queue a prefetch for the caller's call, once per call and process; never waits."""
        if not (self.enabled and caller.call_id and caller.caller_number):
            return
        call = (caller.account_id, caller.call_id)
        if call in self._queued:
            return
        self._queued[call] = None
        if len(self._queued) > REMEMBERED_CALLS:
            self._queued.popitem(last=False)
        try:
            self._send.send_nowait(caller)
        except anyio.WouldBlock:
            self.metrics.prefetches.labels("dropped").inc()

    async def run_forever(self) -> None:
        """Run the queued prefetches, each in its own task of this task group (the app's lifespan owns it); a
        prefetch's failure is counted and logged, never the group's end."""
        async with anyio.create_task_group() as group:
            async for caller in self._receive:
                group.start_soon(self.prefetch, caller)

    def close(self) -> None:
        """Release the queue (after `run_forever` has ended, with the app)."""
        self._send.close()
        self._receive.close()

    async def prefetch(self, caller: Caller) -> str:
        """Claim, read and store the call's prefetch; the outcome, as counted in `parlae_prefetches_total`."""
        outcome = await self._prefetch(caller)
        self.metrics.prefetches.labels(outcome).inc()
        return outcome

    async def _prefetch(self, caller: Caller) -> str:
        account_id, call_id, number = caller.account_id, caller.call_id, caller.caller_number
        if not (self.enabled and call_id and number):
            return "off"
        try:
            key = await self.store.call_key(account_id, call_id)
            claim: Claim = await self.store.claim(
                account_id,
                key,
                requests=self.planned_requests(number),
                ttl=timedelta(seconds=self.settings.prefetch_ttl_seconds),
                budget=self.settings.prefetch_requests_per_minute,
            )
        except Exception as exc:  # a prefetch is an optimisation: its failure only costs the round trips
            log.warning("prefetch not claimed", error=type(exc).__name__)
            return "failed"
        if claim != "claimed":
            return claim
        try:
            fetched = await fetch_ahead(self.audit, caller, self.gateway, number, self.settings.prefetch_days)
            stored = await self.store.fill(account_id, key, fetched.listings, requests=len(fetched.listings))
        except Exception as exc:  # Sikka, the database, or the audit record (then nothing is stored: fail closed)
            log.warning("prefetch failed", error=type(exc).__name__)
            with contextlib.suppress(Exception):  # else the claim stays `running`: never served, expires
                await self.store.clear(account_id, key)
            return "failed"
        return "stored" if stored else "superseded"

    def view(self, caller: Caller) -> Prefetched | None:
        """The call's prefetch for a read tool (None without a call id, or with prefetch off)."""
        if not (self.enabled and caller.call_id):
            return None
        return Prefetched(self.store, caller.account_id, caller.call_id, self.metrics)

    async def forget(self, caller: Caller) -> int:
        """Drop the call's prefetched listings (the call ended, or is writing): 1 when it had a prefetch. With
        prefetch off nothing is served (`view`), so a write pays no database statement for it."""
        if not (self.enabled and caller.call_id):
            return 0
        key = await self.store.call_key(caller.account_id, caller.call_id)
        return await self.store.clear(caller.account_id, key)


def closed(hours: DayHours) -> bool:
    """A day checkAvailability reads nothing for (tools/availability.py `closure`)."""
    return hours.closed or hours.holiday is not None


async def fetch_ahead(audit: AuditWriter, caller: Caller, gateway: SikkaGateway, number: str, days: int) -> Fetched:
    """The call's likely reads, audited like any read of PHI: the patients on the number are recorded as read
    (read into the store, not disclosed to anyone)."""
    async with audit.record("vapi.callPrefetched", caller, crud="R", phi_fields=PREFETCHED_PHI) as entry:
        recorder = Recorder()
        view = gateway.practice(entry.account_id, Deadline.after(METADATA_DEADLINE_SECONDS), recorder)
        entry.touched(*await read_ahead(view, number, days))
        entry.summary = f"call-start prefetch: {len(recorder.listings)} listings"
        return entry.answered(Fetched(recorder.listings))


async def read_ahead(view: PracticeGateway, number: str, days: int) -> list[str]:
    """Read, through `view`, what the call's read tools will most likely ask (see the module's docstring); the
    ids of the patients on the number whose records were read."""
    found: list[str] = []

    async def openings() -> None:
        metadata = await view.metadata()
        today = metadata.today()
        async with concurrently() as group:
            for day in (today + timedelta(days=n) for n in range(days + 1)):
                if metadata.has_slot_endpoint:
                    group.start_soon(view.available_slots, day, day)
                elif not closed(metadata.schedule.practice_day(day)):
                    group.start_soon(view.appointments, day, day)

    async def patients() -> None:
        matches = await view.find_patients(phone=number)
        if not 0 < len(matches) <= MAX_PATIENTS:
            return
        try:
            today: date | None = today_in(await view.time_zone())  # the practice's today, as the call's tools see it
        except UnknownZone:
            today = None
        found.extend(patient.patient_id for patient in matches)
        async with concurrently() as group:
            for patient_id in found:
                group.start_soon(view.patient, patient_id)
                if today is not None:
                    group.start_soon(view.upcoming_appointments, patient_id, today)

    async with concurrently() as group:
        group.start_soon(openings)
        group.start_soon(patients)
    return found
