"""One tool call: who is calling (the account from the credential, never from arguments), for which voice
call, with which services, inside which deadline, recorded in which audit entry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cached_property

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
    idempotency_key: str | None = None  # a write tool's key (tools/idempotency.py): its intents are found by it

    @classmethod
    def start(cls, services: Services, entry: AuditEntry) -> ToolCall:
        """Begin a call; its Sikka deadline starts now."""
        return cls(services, entry, Deadline.after(services.settings.sikka_deadline_seconds))

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

    async def today(self) -> date | None:
        """Today where the practice is, from its time zone on file (read with its credentials, cached)."""
        zone = await self.practice.time_zone()
        return None if zone is None else today_in(zone)

    async def record(self, write: Write, asked: Asked) -> Intent:
        """Record what is about to be written (intent before effect: server/intents.py)."""
        return await self.services.intents.record(self.account_id, write, asked, self.caller, self.idempotency_key)

    async def send(self, intent: Intent) -> WritebackOutcome:
        """Send a recorded intent to the practice system and wait for it within the voice budget."""
        return await self.practice.send(intent, self.caller)
