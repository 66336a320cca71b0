"""The typed facade tools and the webhook use. `SikkaGateway` is built once per process;
`gateway.practice(account_id, deadline)` gives a cheap per-call view bound to one practice location.

One `office_id` can hold several locations (reference §2): every read Sikka filters by `practice_id` carries
the account's, and operatories come by the location's `cust_id` (from `GET /practices`), so another location's
chairs, providers and bookings never enter this one's answers.

A view may carry a `ListingMemo` (server/prefetch.py): every listing is looked up there first, by the exact
request (`listing_key`), and what Sikka answers is handed to it. A prefetch records a call's likely reads this
way, and a read tool of that call answers from them: the same listings, so the same answer, without the round trip.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

import anyio
from anyio.abc import TaskGroup

from server.caller import Caller
from server.intents import Intent
from server.phones import stored_forms, to_e164
from server.sikka.billing import Balance, Carriers, CoverageTable
from server.sikka.cache import PracticeCache
from server.sikka.client import EVERY_PAGE, Deadline, Item, Listing, Paging, Params, SikkaClient
from server.sikka.errors import SikkaUnavailable
from server.sikka.keys import RequestKeys
from server.sikka.metadata import Capabilities, PracticeMetadata
from server.sikka.pms import rules_for
from server.sikka.records import Appointment, Choice, Operatory, Patient, PracticeProfile, Provider, text
from server.sikka.schedule import PracticeSchedule
from server.sikka.writeback import WritebackOutcome, Writebacks
from server.sikka.zones import zone

METADATA_DEADLINE_SECONDS = 8.0
UPCOMING_DAYS = 365  # a patient's upcoming visits: from the practice's today to a year ahead
SEARCH_PAGE = 50  # matches are re-checked in code (a family shares a phone; a birthdate narrows it)
SURNAME_PAGE = 500  # everyone with a last name, in one request: a practice's Smiths, the caller then matched
PATIENT_PHONES = "homephone,workphone"  # `cell` is a default field; the other two only on request
# Endpoints Sikka filters by `practice_id` (reference §9–§11): reads always carry the account's location.
PRACTICE_SCOPED = frozenset(
    {
        "patients",
        "appointments",
        "providers",
        "practice_schedule",
        "practice_variables",
        "appointments_available_slots",
        "writeback_details",
        "practices",
        "pms_users",
        "patient_balance",
        "insurance_companies",
        "insurance_plan_coverage",
    }
)


class ListingMemo(Protocol):
    """Listings a call holds beside Sikka, by `listing_key`."""

    async def lookup(self, key: str) -> Listing | None:
        """The listing held for this request, or None (then it goes to Sikka)."""
        ...

    def keep(self, key: str, listing: Listing) -> None:
        """Sikka's answer to a request that was not held."""
        ...


def listing_key(endpoint: str, query: Params, paging: Paging) -> str:
    """One listing request, canonically: the endpoint, its parameters in order, and the paging."""
    return json.dumps([endpoint, sorted(query.items()), paging.every, paging.size], separators=(",", ":"))


async def memoized(memo: ListingMemo | None, key: str, read: Callable[[], Awaitable[Listing]]) -> Listing:
    """The listing `memo` holds for `key`, else `read()`'s, handed to the memo."""
    if memo is None:
        return await read()
    held = await memo.lookup(key)
    if held is not None:
        return held
    listing = await read()
    memo.keep(key, listing)
    return listing


@asynccontextmanager
async def concurrently() -> AsyncIterator[TaskGroup]:
    """A task group whose first failure propagates as itself (a SikkaError the tools can name), not wrapped in
    an ExceptionGroup; the other tasks are cancelled."""
    try:
        async with anyio.create_task_group() as group:
            yield group
    except BaseExceptionGroup as failures:
        raise failures.exceptions[0] from None


def phone_matches(patient: Patient, e164: str) -> bool:
    return any(to_e164(number) == e164 for number in patient.phones.values())


def choices(items: list[Item], value_key: str) -> tuple[Choice, ...]:
    found = (Choice(text(i, value_key), text(i, "description")) for i in items)
    return tuple(dict.fromkeys(c for c in found if c.value))


@dataclass
class SikkaGateway:
    client: SikkaClient
    keys: RequestKeys
    writebacks: Writebacks
    metadata_ttl_seconds: float

    def __post_init__(self) -> None:
        ttl = self.metadata_ttl_seconds
        self.metadata_cache: PracticeCache[PracticeMetadata] = PracticeCache(self.load_metadata, ttl)
        # Loaded on first use, not with the metadata: scheduling calls never wait for them.
        self.carrier_cache: PracticeCache[Carriers] = PracticeCache(self._load_carriers, ttl)
        self.coverage_cache: PracticeCache[CoverageTable] = PracticeCache(self._load_coverage, ttl)
        self._supported_pmses: list[Item] | None = None

    def practice(self, account_id: str, deadline: Deadline, memo: ListingMemo | None = None) -> PracticeGateway:
        return PracticeGateway(self, account_id, deadline, memo)

    async def _app_items(self, endpoint: str, deadline: Deadline, params: Params | None = None) -> list[Item]:
        """Every item of a support endpoint, read with the app's keys."""
        credentials = self.client.app_keys
        return (await self.client.listing(endpoint, credentials=credentials, deadline=deadline, params=params)).items

    async def authorized_practices(self, deadline: Deadline) -> list[Item]:
        """Every practice location that authorised our app (`show=all`: not only practice_id 1)."""
        return await self._app_items("authorized_practices", deadline, {"show": "all"})

    async def practice_locations(self, office_id: str, deadline: Deadline) -> list[Item]:
        """The office's listed locations and their API `access` ("on"/"off"): `GET /practice_location` (§8)."""
        return await self._app_items("practice_location", deadline, {"office_id": office_id})

    async def turn_on_access(self, office_id: str, practice_ids: list[str], deadline: Deadline) -> None:
        """`POST /practice_location` with access "ON" for these locations, named as GET lists them (§8, §23.2)."""
        body = {"office_id": office_id, "practice_id": ",".join(practice_ids), "access": "ON"}
        await self.client.send(
            "POST", "practice_location", credentials=self.client.app_keys, deadline=deadline, json_body=body
        )

    async def supported_pmses(self, deadline: Deadline) -> list[Item]:
        if self._supported_pmses is None:
            self._supported_pmses = await self._app_items("supported_pmses", deadline)
        return self._supported_pmses

    async def load_metadata(self, account_id: str, memo: ListingMemo | None = None) -> PracticeMetadata:
        """Everything in two rounds: `practices` (for `cust_id`) then `operatories`, beside the other reads."""
        view = self.practice(account_id, Deadline.after(METADATA_DEADLINE_SECONDS), memo)
        credentials = await self.keys.credentials(account_id)
        listings: dict[str, Listing] = {}
        profiles: list[PracticeProfile] = []

        async def fetch(name: str, endpoint: str, params: Params | None = None) -> None:
            listings[name] = await view.listing(endpoint, params)

        async def profile_then_operatories() -> None:
            await fetch("practices", "practices", {"fields": "get_all"})
            profiles.append(_profile(listings["practices"].items, credentials.practice_id))
            await fetch("operatories", "operatories", {"cust_id": profiles[0].cust_id, "is_hidden": "F"})

        async def fetch_pmses() -> None:
            async def read() -> Listing:
                return Listing(await self.supported_pmses(view.deadline))

            listings["pmses"] = await memoized(memo, listing_key("supported_pmses", {}, EVERY_PAGE), read)

        async with concurrently() as group:
            group.start_soon(profile_then_operatories)
            group.start_soon(fetch, "providers", "providers", {"fields": "get_all"})
            group.start_soon(fetch, "schedule", "practice_schedule", {"fields": "get_all"})
            group.start_soon(fetch, "statuses", "practice_variables", {"service_name": "Appointment Status"})
            group.start_soon(
                fetch, "types", "writeback_details", {"writeback_type": "new_appointment", "category": "appttype"}
            )
            group.start_soon(fetch_pmses)
            if rules_for(credentials.pms_type).users_from_pms_users:  # ClearDent writes name a PMS user
                group.start_soon(fetch, "users", "pms_users", {"status": "active"})
        return PracticeMetadata(
            practice=profiles[0],
            pms=credentials.pms_type,
            zone=zone(credentials.time_zone),
            providers=tuple(Provider.from_item(i) for i in listings["providers"].items),
            operatories=tuple(Operatory.from_item(i) for i in listings["operatories"].items),
            schedule=PracticeSchedule.from_items(listings["schedule"].items, credentials.practice_id),
            statuses=choices(listings["statuses"].items, "value"),
            appointment_types=choices(listings["types"].items, "item"),
            capabilities=Capabilities.for_pms(credentials.pms_type, listings["pmses"].items),
            users=tuple(text(i, "user_id") for i in listings.get("users", Listing([])).items if text(i, "user_id")),
            cacheable=not any(listing.reloading for listing in listings.values()),
        )

    async def _load_carriers(self, account_id: str) -> Carriers:
        """The practice's insurance companies; their names come only with `fields=get_all` (§11)."""
        view = self.practice(account_id, Deadline.after(METADATA_DEADLINE_SECONDS))
        return Carriers.from_listing(await view.listing("insurance_companies", {"fields": "get_all"}))

    async def _load_coverage(self, account_id: str) -> CoverageTable:
        """Every company's coverage rows, in one listing."""
        view = self.practice(account_id, Deadline.after(METADATA_DEADLINE_SECONDS))
        return CoverageTable.from_listing(await view.listing("insurance_plan_coverage"))


def _profile(items: list[Item], practice_id: str) -> PracticeProfile:
    """This location's row of `GET /practices`; without it there is no `cust_id` for its operatories."""
    rows = [PracticeProfile.from_item(i) for i in items]
    own = next((row for row in rows if row.practice_id == practice_id), None)
    if own is None or not own.cust_id:
        raise SikkaUnavailable("GET /practices does not list this practice location with a cust_id")
    return own


@dataclass
class PracticeGateway:
    """Everything a tool can do for one practice location, inside one deadline."""

    gateway: SikkaGateway
    account_id: str
    deadline: Deadline
    memo: ListingMemo | None = None

    async def _practice_id(self) -> str:
        return (await self.gateway.keys.credentials(self.account_id)).practice_id

    async def listing(self, endpoint: str, params: Params | None = None, paging: Paging = EVERY_PAGE) -> Listing:
        """A list endpoint read with the practice's request key, scoped to its location where Sikka filters."""
        query: dict[str, str | int] = dict(params or {})
        if endpoint in PRACTICE_SCOPED:
            query["practice_id"] = await self._practice_id()
        credentials = self.gateway.keys.practice(self.account_id, self.deadline)
        client = self.gateway.client

        async def read() -> Listing:
            return await client.listing(
                endpoint, credentials=credentials, deadline=self.deadline, params=query, paging=paging
            )

        return await memoized(self.memo, listing_key(endpoint, query, paging), read)

    async def items(self, endpoint: str, params: Params | None = None) -> list[Item]:
        return (await self.listing(endpoint, params)).items

    async def metadata(self) -> PracticeMetadata:
        """The cached metadata; loaded through this view's memo when the cache has none."""
        memo = self.memo
        if memo is None:
            return await self.gateway.metadata_cache.get(self.account_id)
        return await self.gateway.metadata_cache.get(
            self.account_id, lambda: self.gateway.load_metadata(self.account_id, memo)
        )

    async def time_zone(self) -> ZoneInfo:
        """The practice's zone as onboarding stored it with its credentials (no Sikka request); UnknownZone when
        it cannot be read (such a location does not serve)."""
        return zone((await self.gateway.keys.credentials(self.account_id)).time_zone)

    async def _patients(self, params: Params, page_size: int = SEARCH_PAGE) -> list[Patient]:
        first_page = Paging(page_size, every=False)
        listing = await self.listing("patients", {**params, "fields": PATIENT_PHONES}, first_page)
        return [Patient.from_item(item) for item in listing.items]

    async def _by_phone(self, e164: str) -> list[Patient]:
        """`search` covers cell, homephone and workphone, but matching exactly or partially is undocumented and
        Sikka does not normalise numbers: search every common stored form at once, Sikka's documented one
        ("408-555-0101") first (3 requests, one round trip: a caller waits for one whether the number is stored
        in another form or not on file). Matches are re-checked by number."""
        forms = stored_forms(e164)
        results: list[list[Patient]] = [[] for _ in forms]

        async def search(index: int, form: str) -> None:
            results[index] = await self._patients({"search": form})

        async with concurrently() as group:
            for index, form in enumerate(forms):
                group.start_soon(search, index, form)
        unique = {p.patient_id: p for batch in results for p in batch if phone_matches(p, e164)}
        return list(unique.values())

    async def find_patients(
        self,
        *,
        phone: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        surnames: Sequence[str] = (),
        word: str | None = None,
        birthdate: date | None = None,
    ) -> list[Patient]:
        """Patients by documented filters only (reference §11), every match re-checked in code:
        phone: see `_by_phone` (3 requests at once);
        first and last name: `firstname` + `lastname` (1 request); any of several last names: RQL
        `find=lastname=eq_A::OR::lastname=eq_B` (1 request; only `::OR::`, so its undocumented precedence
        does not matter), the caller matching the rest; one word: `search`, kept when it is the first or last
        name (1 request). A birthdate narrows the matches here, not in RQL; it is never a search on its own."""
        if phone:
            patients = await self._by_phone(phone)
        elif surnames:
            clauses = "::OR::".join(f"lastname=eq_{surname}" for surname in dict.fromkeys(surnames))
            patients = await self._patients({"find": clauses}, page_size=SURNAME_PAGE)
        elif first_name or last_name:
            names = {"firstname": first_name or "", "lastname": last_name or ""}
            patients = await self._patients({key: value for key, value in names.items() if value})
        elif word:
            lowered = word.lower()
            patients = [
                p
                for p in await self._patients({"search": word})
                if lowered in (p.first_name.lower(), p.last_name.lower())
            ]
        else:
            return []
        if birthdate:
            patients = [p for p in patients if p.birthdate == birthdate]
        return patients

    async def carriers(self) -> Carriers:
        return await self.gateway.carrier_cache.get(self.account_id)

    async def coverage(self) -> CoverageTable:
        return await self.gateway.coverage_cache.get(self.account_id)

    async def patient(self, patient_id: str, *, insurance: bool = False) -> Patient | None:
        """One patient; `insurance` also reads the plans on file (their names and the secondary plan need
        `fields=get_all`, §11), otherwise only the phones beside the default fields."""
        fields = "get_all" if insurance else PATIENT_PHONES
        items = await self.items("patients", {"patient_id": patient_id, "fields": fields})
        matches = [Patient.from_item(i) for i in items if text(i, "patient_id") == patient_id]
        return matches[0] if matches else None

    async def balance(self, patient_id: str) -> Balance | None:
        """The patient's `patient_balance` row (None without one, or when its amounts are unreadable)."""
        items = await self.items("patient_balance", {"patient_id": patient_id})
        rows = [Balance.from_item(i) for i in items if text(i, "patient_id") == patient_id]
        return next((row for row in rows if row is not None), None)

    async def appointments(
        self, start: date, end: date, *, patient_id: str | None = None, appointment_id: str | None = None
    ) -> list[Appointment]:
        """This location's appointments with dates in [start, end] (practice-local), cancelled ones included; their
        starts are aware, in the practice's zone."""
        params: dict[str, str | int] = {
            "startdate": start.isoformat(),
            "enddate": end.isoformat(),
            "fields": "get_all",
        }
        if patient_id:
            params["patient_id"] = patient_id
        if appointment_id:
            params["appointment_sr_no"] = appointment_id
        items = await self.items("appointments", params)
        practice_zone = await self.time_zone()
        return [a for a in (Appointment.from_item(i, practice_zone) for i in items) if a is not None]

    async def upcoming_appointments(self, patient_id: str, today: date) -> list[Appointment]:
        """The patient's appointments from the practice's `today` to a year ahead."""
        return await self.appointments(today, today + timedelta(days=UPCOMING_DAYS), patient_id=patient_id)

    async def appointment(self, appointment_id: str) -> Appointment | None:
        items = await self.items("appointments", {"appointment_sr_no": appointment_id, "fields": "get_all"})
        practice_zone = await self.time_zone()
        own = (i for i in items if text(i, "appointment_sr_no") == appointment_id)
        parsed = [Appointment.from_item(i, practice_zone) for i in own]
        return next((a for a in parsed if a is not None), None)

    async def available_slots(self, start: date, end: date) -> list[Item]:
        """Sikka's own open slots (OrthoTrac/Dolphin only; other PMSs answer 204)."""
        return await self.items(
            "appointments_available_slots",
            {"startdate": start.isoformat(), "enddate": end.isoformat(), "fields": "get_all"},
        )

    async def send(self, intent: Intent, caller: Caller) -> WritebackOutcome:
        """Send a recorded intent (server/intents.py) and wait for it inside this call's deadline and budget."""
        return await self.gateway.writebacks.send(intent, caller, self.deadline)
