"""One tool call: who is calling (account from the token, never from arguments), for which Vapi call,
with which services, inside which deadline."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from server.audit.decorator import AuditEntry, AuditWriter
from server.mcp import Invocation
from server.services import Services
from server.sikka.client import Deadline
from server.sikka.gateway import PracticeGateway


@dataclass
class ToolCall:
    services: Services
    account_id: str
    actor: str  # the practice token's id, or "stdio"
    integration_id: str | None
    vapi_call_id: str | None
    ip_address: str | None
    deadline: Deadline
    caller_number: str | None = None  # the calling number (E.164): context, never identity
    audit: AuditEntry | None = None

    @classmethod
    def start(cls, invocation: Invocation) -> ToolCall:
        """Begin a call; its Sikka deadline starts now."""
        return cls(
            services=invocation.services,
            account_id=invocation.account_id,
            actor=invocation.actor,
            integration_id=invocation.integration_id,
            vapi_call_id=invocation.vapi_call_id,
            ip_address=invocation.ip_address,
            caller_number=invocation.caller_number,
            deadline=Deadline.after(invocation.services.settings.sikka_deadline_seconds),
        )

    @property
    def audit_writer(self) -> AuditWriter:
        return self.services.audit

    @cached_property
    def practice(self) -> PracticeGateway:
        return self.services.gateway.practice(self.account_id, self.deadline)

    @property
    def entry(self) -> AuditEntry:
        """The audit entry `@audited` opened for this call."""
        if self.audit is None:
            raise RuntimeError("tool bodies run inside @audited")
        return self.audit
