"""The `webhook_events` rows behind the authorization webhook's once-per-delivery (webhook/routes.py): the
claim, then the answer kept for redeliveries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.db.engine import insert_new
from server.db.models import WebhookEvent


@dataclass(frozen=True)
class StoredAnswer:
    status: int  # 0 while the delivery is being processed
    body: dict[str, Any]
    outcome: str  # "processing", "processed" or the error code


@dataclass(frozen=True)
class DeliveryRows:
    """The row of one delivery id."""

    sessions: async_sessionmaker[AsyncSession]
    webhook_id: str

    async def claim(self, event: str, office_id: str, practice_id: str) -> bool:
        """Insert the claim; False when the delivery's row exists."""
        row = WebhookEvent(
            webhook_id=self.webhook_id,
            event=event,
            office_id=office_id,
            practice_id=practice_id,
            status_code=0,
            outcome="processing",
        )
        return await insert_new(self.sessions, row)

    async def read(self) -> StoredAnswer | None:
        async with self.sessions() as session:
            row = await session.scalar(select(WebhookEvent).where(WebhookEvent.webhook_id == self.webhook_id))
        return None if row is None else StoredAnswer(row.status_code, dict(row.response), row.outcome)

    async def settle(self, status: int, body: dict[str, Any], outcome: str) -> None:
        async with self.sessions.begin() as session:
            await session.execute(
                update(WebhookEvent)
                .where(WebhookEvent.webhook_id == self.webhook_id)
                .values(status_code=status, outcome=outcome, response=body, account_id=body.get("accountId"))
            )

    async def release(self) -> None:
        async with self.sessions.begin() as session:
            await session.execute(delete(WebhookEvent).where(WebhookEvent.webhook_id == self.webhook_id))
