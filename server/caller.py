"""Who is calling, as every layer sees it: the tools, the webhook, the CLI and the audit record.

The account always comes from a credential (a verified practice token, the stdio command line, an operator's
command), never from a tool argument. `call_id` is the voice platform's call id (idempotency, limits, audit);
`caller_number` is the number the call comes from, as the phone network gave it to Vapi (E.164): context for a
search, never proof of identity.
"""

from __future__ import annotations

from dataclasses import dataclass

SYSTEM_ACCOUNT = "system"  # operator commands and webhook deliveries before they name a practice


@dataclass(frozen=True)
class Caller:
    account_id: str
    actor: str  # a practice token's id (never the token), or "stdio", "webhook", "cli", "scheduler"
    integration_id: str | None = None
    call_id: str | None = None
    client_ip: str | None = None
    caller_number: str | None = None

    @classmethod
    def system(cls, actor: str, client_ip: str | None = None) -> Caller:
        return cls(SYSTEM_ACCOUNT, actor, client_ip=client_ip)
