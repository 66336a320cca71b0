"""One tool call: who is calling (the account from the credential, never from arguments), for which voice
call, with which services, inside which deadline, recorded in which audit entry, and when.

Time is read once per call: `now` comes from the injected clock (`Services.clock`, aware UTC) when the call
starts; the practice's `today` and the earliest bookable start are derived from it, never from the host's clock.
The gateway gives appointments as aware datetimes in the practice's zone, so tools compare instants and never
set or strip a zone (server/sikka/writes.py writes Sikka's wall times)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

from server.audit import AuditEntry
from server.caller import Caller
from server.intents import Asked, Intent, Write
from server.services import Services
from server.sikka import Deadline, PracticeGateway, WritebackOutcome, today_in


@dataclass
class ToolCall:
    services: Services
    entry: AuditEntry  # the audit record opened for this call (`audit.record`)
    deadline: Deadline
    now: datetime  # aware UTC, from the injected clock when the call started
    idempotency_key: str | None = None  # a write tool's key (tools/idempotency.py): its intents are found by it
    _today: date | None = field(default=None, repr=False)

    @classmethod
    def start(cls, services: Services, entry: AuditEntry) -> ToolCall:
        """Begin a call at the clock's now; its Sikka deadline starts now."""
        return cls(services, entry, Deadline.after(services.settings.sikka_deadline_seconds), services.clock())

    @property
    def earliest(self) -> datetime:
        """The earliest start that may be booked by phone (aware UTC): now plus the practice's minimum notice."""
        return self.now + timedelta(minutes=self.services.settings.booking_min_notice_minutes)

    def today_at(self, zone: ZoneInfo) -> date:
        """The call's today where `zone` is (the practice's, from its metadata)."""
        return today_in(zone, self.now)

    @property
    def caller(self) -> Caller:
        return self.entry.caller

    @property
    def account_id(self) -> str:
        return self.caller.account_id

    @property
    def actor(self) -> str:
        return self.caller.actor

    @property
    def vapi_call_id(self) -> str | None:
        return self.caller.call_id

    @property
    def caller_number(self) -> str | None:
        return self.caller.caller_number

    @cached_property
    def practice(self) -> PracticeGateway:
        """The practice, for a read tool through the call's prefetch (server/prefetch.py), else straight."""
        memo = self.services.prefetcher.view(self.caller) if self.entry.crud == "R" else None
        return self.services.gateway.practice(self.account_id, self.deadline, memo)

    async def today(self) -> date:
        """The call's today where the practice is, from its time zone on file (read with its credentials, once
        per call); raises UnknownZone when the zone on file cannot be read (such a location does not serve)."""
        if self._today is None:
            self._today = self.today_at(await self.practice.time_zone())
        return self._today

    async def record(self, write: Write, asked: Asked) -> Intent:
        """Record what is about to be written (intent before effect: server/intents.py)."""
        return await self.services.intents.record(self.account_id, write, asked, self.caller, self.idempotency_key)

    async def send(self, intent: Intent) -> WritebackOutcome:
        """Send a recorded intent to the practice system and wait for it within the voice budget."""
        return await self.practice.send(intent, self.caller)
