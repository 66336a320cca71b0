"""One tool call: who is calling (the account from the credential, never from arguments), for which voice
call, with which services, inside which deadline, recorded in which audit entry."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from server.audit import AuditEntry
from server.caller import Caller
from server.services import Services
from server.sikka import Deadline, PracticeGateway


@dataclass
class ToolCall:
    services: Services
    entry: AuditEntry  # the record `@audited` opened for this call
    deadline: Deadline

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
        return self.services.gateway.practice(self.account_id, self.deadline)
