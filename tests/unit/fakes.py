"""In-memory stand-ins for storage, for unit tests of the Sikka gateway's own logic."""

from __future__ import annotations

from typing import Any

from server.vault.base import PracticeCredentials, SecretRef

ACCOUNT = "acct1"


class MemoryVault:
    """The vault interface over a dict (these tests exercise the gateway, not storage)."""

    prefix = "test"

    def __init__(self, credentials: PracticeCredentials) -> None:
        self.secrets = {ACCOUNT: credentials}
        self.puts = 0

    async def get(self, account_id: str) -> PracticeCredentials:
        return self.secrets[account_id]

    async def put(self, account_id: str, credentials: PracticeCredentials, session: Any = None) -> SecretRef:
        self.secrets[account_id] = credentials
        self.puts += 1
        return SecretRef(name=account_id)

    async def schedule_deletion(self, account_id: str, recovery_days: int = 30, session: Any = None) -> None:
        self.secrets.pop(account_id, None)
