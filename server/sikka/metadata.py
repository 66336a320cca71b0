"""Practice metadata (providers, operatories, schedule, statuses, appointment types, capabilities, zone),
loaded concurrently and cached per practice, so a warm tool call makes only the requests it must."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from server.sikka.records import Operatory, Provider, as_bool, is_cancel_status, text
from server.sikka.schedule import PracticeSchedule

SLOT_ENDPOINT_PMSES = frozenset({"orthotrac", "dolphin"})
PATIENT_UPDATE_PMSES = frozenset({"orthotrac", "dolphin"})


@dataclass(frozen=True, slots=True)
class Capabilities:
    """Writebacks the practice's PMS supports (from `supported_pmses`; defaults follow Sikka's docs)."""

    new_patient: bool = True
    new_appointment: bool = True
    appointment_status: bool = True
    reschedule: bool = True
    patient_update: bool = False

    @classmethod
    def for_pms(cls, pms: str, items: list[dict[str, str]]) -> Capabilities:
        name = pms.strip().lower()
        default = cls(patient_update=name in PATIENT_UPDATE_PMSES)
        row = next((i for i in items if text(i, "practice_management_system").lower() == name), None)
        if row is None:
            return default

        def flag(key: str, fallback: bool) -> bool:
            return as_bool(row[key]) if key in row else fallback

        return cls(
            new_patient=flag("new_patient_writeback", default.new_patient),
            new_appointment=flag("new_appointment_writeback", default.new_appointment),
            appointment_status=flag("appointment_status_writeback", default.appointment_status),
            reschedule=flag("appointment_reschedule_writeback", default.reschedule),
            patient_update=flag("patient_update_writeback", default.patient_update),
        )


@dataclass(frozen=True)
class PracticeMetadata:
    practice_id: str
    pms: str
    zone: ZoneInfo
    providers: tuple[Provider, ...]
    operatories: tuple[Operatory, ...]
    schedule: PracticeSchedule
    statuses: tuple[str, ...]
    appointment_types: tuple[str, ...]
    capabilities: Capabilities
    _providers_by_id: dict[str, Provider] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._providers_by_id.update({p.provider_id: p for p in self.providers})

    @property
    def has_slot_endpoint(self) -> bool:
        """Only OrthoTrac and Dolphin fill `appointments_available_slots`."""
        return self.pms.strip().lower() in SLOT_ENDPOINT_PMSES

    @property
    def bookable_providers(self) -> tuple[Provider, ...]:
        return tuple(p for p in self.providers if p.active and p.provider_type.lower() != "staff")

    @property
    def open_operatories(self) -> tuple[Operatory, ...]:
        return tuple(o for o in self.operatories if not o.hidden and o.operatory)

    def provider(self, provider_id: str) -> Provider | None:
        return self._providers_by_id.get(provider_id)

    def cancel_status(self) -> str | None:
        """The practice's own status for a cancellation ("Canceled", "Cancelled", else "Broken")."""
        cancels = [s for s in self.statuses if is_cancel_status(s)]
        preferred = [s for s in cancels if "cancel" in s.lower()]
        candidates = preferred or cancels
        return candidates[0] if candidates else None


class MetadataCache:
    """TTL cache with single-flight loading per practice."""

    def __init__(
        self,
        load: Callable[[str], Awaitable[PracticeMetadata]],
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self.ttl = ttl_seconds
        self.clock = clock
        self._entries: dict[str, tuple[PracticeMetadata, float]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, account_id: str) -> PracticeMetadata:
        entry = self._entries.get(account_id)
        if entry is not None and self.clock() - entry[1] < self.ttl:
            return entry[0]
        async with self._locks.setdefault(account_id, asyncio.Lock()):
            entry = self._entries.get(account_id)
            if entry is not None and self.clock() - entry[1] < self.ttl:
                return entry[0]
            metadata = await self._load(account_id)
            self._entries[account_id] = (metadata, self.clock())
            return metadata

    def invalidate(self, account_id: str) -> None:
        self._entries.pop(account_id, None)
