"""Delivering the staff inbox: a background worker takes due `staff_deliveries` rows (a queue in the database, so
an item stored before a restart is delivered after it) and sends each item by email (SES) or to the practice's
notify URL. A failed attempt is retried after each of RETRY_DELAYS; after the last one the delivery is
dead-lettered: counted (`parlae_staff_deliveries_total{result="dead"}`, which a CloudWatch alarm reads) and
left visible in `messages list`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import anyio
import httpx
from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.db.engine import DATABASE_ERRORS
from server.db.models import DeliveryChannel, DeliveryStatus, StaffDelivery, utcnow
from server.db.queue import claim_due
from server.inbox import Item, StaffInbox
from server.logs import get_logger
from server.mail import Mailer, StaffEmails, body, subject
from server.metrics import Metrics
from server.notify import NotifyEndpoints, signed_request
from server.phi.cipher import DecryptionFailed

log = get_logger(__name__)

RETRY_DELAYS = (
    timedelta(seconds=10),
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
)
LEASE = timedelta(minutes=2)  # longer than an attempt can take


class Gone(Exception):
    """The channel was removed (no notify URL, no staff address): nothing to deliver to."""


class InboxDelivery:
    """Posts and emails due inbox items; retries with backoff; dead-letters after the last delay."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        inbox: StaffInbox,
        endpoints: NotifyEndpoints,
        emails: StaffEmails,
        http: httpx.AsyncClient,
        mailer: Mailer | None,
        *,
        metrics: Metrics | None = None,
        retry_delays: tuple[timedelta, ...] = RETRY_DELAYS,
        interval: float = 2.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.inbox = inbox
        self.endpoints = endpoints
        self.emails = emails
        self.http = http
        self.mailer = mailer
        self.metrics = metrics
        self.retry_delays = retry_delays
        self.interval = interval
        self.clock = clock

    async def run_once(self) -> int:
        """One attempt for every due delivery (concurrently); returns how many were delivered."""
        rows = await claim_due(
            self.sessions,
            StaffDelivery,
            waiting=StaffDelivery.status == DeliveryStatus.PENDING,
            due_at=StaffDelivery.next_attempt_at,
            now=self.clock(),
            lease=LEASE,
            limit=20,
        )
        delivered: list[bool] = []

        async def attempt(row: StaffDelivery) -> None:
            try:
                delivered.append(await self._attempt(row))
            except DATABASE_ERRORS as exc:  # the lease expires and the next round tries again
                log.warning("inbox delivery: database unavailable", delivery_id=row.id, error=type(exc).__name__)

        async with anyio.create_task_group() as group:
            for row in rows:
                group.start_soon(attempt, row)
        return sum(delivered)

    async def _attempt(self, row: StaffDelivery) -> bool:
        item = await self.inbox.get(row.item_id)
        if item is None:  # purged meanwhile
            await self._forget(row)
            return False
        try:
            await self._send(row.channel, item)
        except Gone:
            await self._forget(row)
            return False
        except (httpx.HTTPError, DecryptionFailed, BotoCoreError, ClientError, Failed) as exc:
            await self._failed(row, _describe(exc))
            return False
        await self._settle(row, DeliveryStatus.DELIVERED, delivered_at=self.clock(), last_error=None)
        self._count(row.channel, "delivered")
        log.info("inbox item delivered", delivery_id=row.id, channel=row.channel, attempts=row.attempts)
        return True

    async def _send(self, channel: str, item: Item) -> None:
        if channel == DeliveryChannel.EMAIL:
            address = await self.emails.get(item.account_id)
            if address is None or self.mailer is None:
                raise Gone
            await self.mailer.send(address.address, subject(item), body(item))
            return
        endpoint = await self.endpoints.get(item.account_id)
        if endpoint is None:
            raise Gone
        content, headers = signed_request(endpoint, item, self.clock())
        response = await self.http.post(endpoint.url, content=content, headers=headers)
        if not response.is_success:
            raise Failed(f"HTTP {response.status_code}")

    async def _failed(self, row: StaffDelivery, error: str) -> None:
        if row.attempts > len(self.retry_delays):
            await self._settle(row, DeliveryStatus.DEAD, last_error=error)
            self._count(row.channel, "dead")
            log.warning("inbox item dead-lettered", delivery_id=row.id, channel=row.channel, error=error)
            return
        retry_at = self.clock() + self.retry_delays[row.attempts - 1]
        await self._settle(row, DeliveryStatus.PENDING, last_error=error, next_attempt_at=retry_at)
        self._count(row.channel, "retry")
        log.info("inbox delivery will be retried", delivery_id=row.id, attempts=row.attempts, error=error)

    async def _settle(self, row: StaffDelivery, status: DeliveryStatus, **values: object) -> None:
        async with self.sessions.begin() as session:
            await session.execute(
                update(StaffDelivery).where(StaffDelivery.id == row.id).values(status=status, **values)
            )

    async def _forget(self, row: StaffDelivery) -> None:
        async with self.sessions.begin() as session:
            await session.execute(delete(StaffDelivery).where(StaffDelivery.id == row.id))

    def _count(self, channel: str, result: str) -> None:
        if self.metrics is not None:
            self.metrics.staff_deliveries.labels(channel, result).inc()

    async def run_forever(self) -> None:
        while True:
            try:
                await self.run_once()
            except DATABASE_ERRORS as exc:
                log.warning("inbox delivery: database unavailable", error=type(exc).__name__)
            await anyio.sleep(self.interval)


class Failed(Exception):
    """The receiver answered, but not with success."""


def _describe(exc: Exception) -> str:
    """What went wrong, without any body: "HTTP 503", "ConnectError", SES's error code."""
    if isinstance(exc, Failed):
        return str(exc)
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))[:100]
    return type(exc).__name__
