"""The typed facade tools and the webhook use. `SikkaGateway` is built once per process;
`gateway.practice(account_id, deadline)` gives a cheap per-call view bound to one practice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import anyio

from server.phones import like_pattern, to_e164
from server.sikka.client import Deadline, Item, Params, SikkaClient
from server.sikka.metadata import Capabilities, MetadataCache, PracticeMetadata
from server.sikka.records import Appointment, Operatory, Patient, Provider, text
from server.sikka.schedule import PracticeSchedule
from server.sikka.session import PracticeSessions
from server.sikka.writeback import WritebackOutcome, Writebacks
from server.sikka.zones import zone

PHONE_FIELDS = ("cell", "homephone", "workphone")
METADATA_DEADLINE_SECONDS = 8.0
WORD_SEARCH_PAGE = 50  # free-text search also matches e.g. "Smithson"; exact names are kept afterwards


def rql(*clauses: str, joiner: str = "::AND::") -> str:
    return joiner.join(clause for clause in clauses if clause)


def phone_clause(e164: str) -> str:
    """`cell=like_%408%555%0101::OR::homephone=like_...::OR::workphone=like_...`."""
    pattern = like_pattern(e164)
    return rql(*(f"{name}=like_{pattern}" for name in PHONE_FIELDS), joiner="::OR::")


def phone_matches(patient: Patient, e164: str) -> bool:
    return any(to_e164(number) == e164 for number in patient.phones.values())


@dataclass
class SikkaGateway:
    client: SikkaClient
    sessions: PracticeSessions
    writebacks: Writebacks
    metadata_ttl_seconds: float

    def __post_init__(self) -> None:
        self.metadata_cache = MetadataCache(self._load_metadata, self.metadata_ttl_seconds)
        self._supported_pmses: list[Item] | None = None

    def practice(self, account_id: str, deadline: Deadline) -> PracticeGateway:
        return PracticeGateway(self, account_id, deadline)

    async def authorized_practices(self, deadline: Deadline) -> list[Item]:
        """Every practice location that authorised our app (`show=all`: not only practice_id 1)."""
        return await self.client.get_items(
            "authorized_practices",
            headers=self.client.app_headers(),
            deadline=deadline,
            params={"show": "all"},
        )

    async def supported_pmses(self, deadline: Deadline) -> list[Item]:
        if self._supported_pmses is None:
            self._supported_pmses = await self.client.get_items(
                "supported_pmses", headers=self.client.app_headers(), deadline=deadline
            )
        return self._supported_pmses

    async def _load_metadata(self, account_id: str) -> PracticeMetadata:
        view = self.practice(account_id, Deadline.after(METADATA_DEADLINE_SECONDS))
        credentials = await self.sessions.credentials(account_id)
        results: dict[str, list[Item]] = {}

        async def fetch(name: str, endpoint: str, params: Params | None = None) -> None:
            results[name] = await view.items(endpoint, params, all_pages=True)

        async def fetch_pmses() -> None:
            results["pmses"] = await self.supported_pmses(view.deadline)

        async with anyio.create_task_group() as group:
            group.start_soon(fetch, "providers", "providers")
            group.start_soon(fetch, "operatories", "operatories")
            group.start_soon(fetch, "schedule", "practice_schedule", {"fields": "get_all"})
            group.start_soon(fetch, "statuses", "appointment_statuses")
            group.start_soon(
                fetch,
                "types",
                "writeback_details",
                {"writeback_type": "new_appointment", "category": "appttype"},
            )
            group.start_soon(fetch_pmses)
        statuses = tuple(dict.fromkeys(s for s in (text(i, "status") for i in results["statuses"]) if s))
        types = tuple(
            dict.fromkeys(v for v in (text(i, "value") or text(i, "description") for i in results["types"]) if v)
        )
        return PracticeMetadata(
            practice_id=credentials.practice_id,
            pms=credentials.pms_type,
            zone=zone(credentials.time_zone),
            providers=tuple(Provider.from_item(i) for i in results["providers"]),
            operatories=tuple(Operatory.from_item(i) for i in results["operatories"]),
            schedule=PracticeSchedule.from_items(results["schedule"]),
            statuses=statuses,
            appointment_types=types,
            capabilities=Capabilities.for_pms(credentials.pms_type, results["pmses"]),
        )


@dataclass
class PracticeGateway:
    """Everything a tool can do for one practice, inside one deadline."""

    gateway: SikkaGateway
    account_id: str
    deadline: Deadline

    async def items(self, endpoint: str, params: Params | None = None, *, all_pages: bool = False) -> list[Item]:
        client = self.gateway.client
        return await self.gateway.sessions.call(
            self.account_id,
            self.deadline,
            lambda key: client.get_items(
                endpoint,
                headers=client.key_headers(key),
                deadline=self.deadline,
                params=params,
                all_pages=all_pages,
            ),
        )

    async def metadata(self) -> PracticeMetadata:
        return await self.gateway.metadata_cache.get(self.account_id)

    async def find_patients(
        self,
        *,
        phone: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        word: str | None = None,
        birthdate: date | None = None,
        limit: int = 6,
    ) -> list[Patient]:
        """One `GET /patients`: names as filters, a single name word as free-text `search` (then matched
        exactly against first, last or preferred name), phone (any phone field) and birthdate as RQL."""
        params: dict[str, str | int] = {}
        if first_name:
            params["firstname"] = first_name
        if last_name:
            params["lastname"] = last_name
        if word:
            params["search"] = word
        dob = f"birthdate=eq_{birthdate.isoformat()}" if birthdate else ""
        if phone:
            # AND binds tighter than OR in RQL: repeat the birthdate clause inside each phone alternative.
            clauses = [rql(clause, dob) for clause in phone_clause(phone).split("::OR::")]
            params["find"] = "::OR::".join(clauses)
            params["fields"] = ",".join(PHONE_FIELDS)
        elif dob:
            params["find"] = dob
        client = self.gateway.client
        items = await self.gateway.sessions.call(
            self.account_id,
            self.deadline,
            lambda key: client.get_items(
                "patients",
                headers=client.key_headers(key),
                deadline=self.deadline,
                params=params,
                all_pages=False,
                page_size=WORD_SEARCH_PAGE if word else limit,
            ),
        )
        patients = [Patient.from_item(item) for item in items]
        if phone:
            patients = [p for p in patients if phone_matches(p, phone)]
        if word:
            lowered = word.lower()
            patients = [
                p for p in patients if lowered in (p.first_name.lower(), p.last_name.lower(), p.preferred_name.lower())
            ]
        return patients

    async def patient(self, patient_id: str) -> Patient | None:
        items = await self.items("patients", {"patient_id": patient_id})
        matches = [Patient.from_item(i) for i in items if text(i, "patient_id") == patient_id]
        return matches[0] if matches else None

    async def appointments(
        self, start: date, end: date, *, patient_id: str | None = None, appointment_id: str | None = None
    ) -> list[Appointment]:
        """Appointments with dates in [start, end] (practice-local), cancelled ones included."""
        params: dict[str, str | int] = {
            "startdate": start.isoformat(),
            "enddate": end.isoformat(),
            "fields": "get_all",
        }
        if patient_id:
            params["patient_id"] = patient_id
        if appointment_id:
            params["appointment_sr_no"] = appointment_id
        items = await self.items("appointments", params, all_pages=True)
        return [a for a in (Appointment.from_item(i) for i in items) if a is not None]

    async def appointment(self, appointment_id: str) -> Appointment | None:
        items = await self.items("appointments", {"appointment_sr_no": appointment_id, "fields": "get_all"})
        parsed = [Appointment.from_item(i) for i in items if text(i, "appointment_sr_no") == appointment_id]
        return next((a for a in parsed if a is not None), None)

    async def available_slots(self, start: date, end: date) -> list[Item]:
        """Sikka's own open slots (OrthoTrac/Dolphin only; other PMSs answer 204)."""
        return await self.items(
            "appointments_available_slots",
            {"startdate": start.isoformat(), "enddate": end.isoformat(), "fields": "get_all"},
            all_pages=True,
        )

    async def _write(
        self, kind: str, method: str, endpoint: str, body: dict[str, Any], target_id: str | None = None
    ) -> WritebackOutcome:
        return await self.gateway.writebacks.write(
            self.account_id, kind, method, endpoint, body, deadline=self.deadline, target_id=target_id
        )

    async def create_patient(self, body: dict[str, Any]) -> WritebackOutcome:
        metadata = await self.metadata()
        return await self._write("create_patient", "POST", "patient", {"practice_id": metadata.practice_id, **body})

    async def update_patient(self, patient_id: str, body: dict[str, Any]) -> WritebackOutcome:
        metadata = await self.metadata()
        payload = {"practice_id": metadata.practice_id, **body}
        return await self._write("update_patient", "PATCH", f"patient/{patient_id}", payload, patient_id)

    async def book(
        self,
        *,
        patient_id: str,
        start: datetime,
        length_minutes: int,
        provider: Provider,
        operatory: Operatory,
        description: str,
        appointment_type: str | None,
        note: str | None,
    ) -> WritebackOutcome:
        metadata = await self.metadata()
        body: dict[str, Any] = {
            "patient_id": patient_id,
            "date": start.date().isoformat(),
            "time": start.strftime("%H:%M"),
            "length": str(length_minutes),
            "provider_id": provider.provider_id,
            "operatory": operatory.operatory,
            "practice_id": metadata.practice_id,
            "description": description,
        }
        if appointment_type:
            body["type"] = appointment_type
        if note:
            body["note"] = note
        return await self._write("book_appointment", "POST", "appointment", body)

    async def reschedule(
        self,
        appointment_id: str,
        *,
        start: datetime,
        length_minutes: int,
        provider: Provider,
        operatory: Operatory,
    ) -> WritebackOutcome:
        metadata = await self.metadata()
        body = {
            "practice_id": metadata.practice_id,
            "provider_id": provider.provider_id,
            "date": start.date().isoformat(),
            "time": start.strftime("%H:%M"),
            "length": str(length_minutes),
            "operatory": operatory.operatory,
        }
        return await self._write(
            "reschedule_appointment", "PUT", f"appointments/{appointment_id}", body, appointment_id
        )

    async def set_status(self, appointment_id: str, status: str) -> WritebackOutcome:
        metadata = await self.metadata()
        body = {
            "op": "replace",
            "path": "/appointment_status",
            "value": status,
            "practice_id": metadata.practice_id,
        }
        return await self._write("appointment_status", "PATCH", f"appointments/{appointment_id}", body, appointment_id)
