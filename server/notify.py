"""Delivering staff messages to the practice: a Standard Webhooks signed POST of the message as JSON to the
practice's own URL (`parlae-mcp practices notify-url`), retried with backoff by a background worker.

- Each practice has its own signing secret (`whsec_` and 32 random bytes), generated when the URL is set,
  stored encrypted and shown once. `webhook-id` is the message id (the receiver dedupes retries with it);
  `webhook-timestamp` is the attempt's time, so a retry is never stale.
- The URL is https:// (http:// only to a loopback host, for tests) and used as configured: nothing is added to
  it (no PHI in URLs); redirects are not followed, so the body goes only where the practice said; the body's
  PHI travels only inside TLS. The body is never logged.
- Setting a URL queues the practice's open messages that were left while it had none (or after it was
  cleared), so nothing a caller said waits unseen for a URL that came later.
- A 2xx answer is delivery; anything else, or no answer in time, is retried after each of RETRY_DELAYS, then
  the message is marked failed (`messages list` shows it). The queue is the database, so a message stored
  before a restart is delivered after it.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import anyio
import httpx
from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from standardwebhooks import Webhook

from server.db.engine import DATABASE_ERRORS
from server.db.models import DeliveryStatus, MessageEndpoint, StaffMessage, utcnow
from server.logs import get_logger
from server.messages import Message, StaffMessages
from server.phi.cipher import Binding, DecryptionFailed, PhiCipher
from server.settings import is_secure_url

log = get_logger(__name__)

EVENT = "staff_message.created"
RETRY_DELAYS = (
    timedelta(seconds=10),
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
)
ATTEMPT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
LEASE = timedelta(minutes=2)  # longer than an attempt can take
MAX_URL_LENGTH = 2048


def check_notify_url(url: str) -> str:
    """The URL to store; ValueError (a sentence without the URL) when it is not one to post PHI to."""
    url = url.strip()
    parts = urlsplit(url)
    if len(url) > MAX_URL_LENGTH or not parts.hostname:
        raise ValueError("must be an absolute URL of at most 2048 characters")
    if not is_secure_url(url):
        raise ValueError("must use https:// (http:// only to this machine)")
    if parts.username or parts.password or parts.fragment:
        raise ValueError("must not carry credentials or a #fragment")
    return url


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def endpoint_binding(account_id: str) -> Binding:
    return Binding("message_endpoints", "secret", account_id, account_id)


@dataclass(frozen=True)
class Endpoint:
    url: str
    secret: str


@dataclass(frozen=True)
class EndpointSet:
    secret: str  # shown once
    queued: int  # open messages left without a URL, now queued for delivery to it


class NotifyEndpoints:
    """The `message_endpoints` table: each practice's URL and encrypted signing secret."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], cipher: PhiCipher) -> None:
        self.sessions = sessions
        self.cipher = cipher

    async def set(self, account_id: str, url: str) -> EndpointSet:
        """Store the (checked) URL with a new signing secret and queue the open messages that had nowhere to go."""
        url = check_notify_url(url)
        secret = new_secret()
        sealed = await self.cipher.encrypt(secret.encode(), endpoint_binding(account_id))
        async with self.sessions.begin() as session:
            row = await session.get(MessageEndpoint, account_id)
            if row is None:
                session.add(MessageEndpoint(account_id=account_id, url=url, secret=sealed))
            else:
                row.url, row.secret, row.updated_at = url, sealed, utcnow()
            queued = await session.execute(
                update(StaffMessage)
                .where(
                    StaffMessage.account_id == account_id,
                    StaffMessage.delivery == DeliveryStatus.OFF,
                    StaffMessage.resolved_at.is_(None),
                )
                .values(delivery=DeliveryStatus.PENDING, next_attempt_at=utcnow(), attempts=0, last_error=None)
            )
        return EndpointSet(secret, int(queued.rowcount))  # type: ignore[attr-defined]

    async def clear(self, account_id: str) -> bool:
        async with self.sessions.begin() as session:
            result = await session.execute(delete(MessageEndpoint).where(MessageEndpoint.account_id == account_id))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def get(self, account_id: str) -> Endpoint | None:
        async with self.sessions() as session:
            row = await session.get(MessageEndpoint, account_id)
        if row is None:
            return None
        secret = await self.cipher.decrypt(row.secret, endpoint_binding(account_id))
        return Endpoint(row.url, secret.decode())


def payload(message: Message) -> dict[str, object]:
    """The delivered body's `data`: the message as the caller left it."""
    return {
        "messageId": message.id,
        "accountId": message.account_id,
        "createdAt": message.created_at.isoformat(),
        "urgency": message.urgency,
        "callId": message.vapi_call_id,
        **message.details.as_json(),
    }


def signed_request(endpoint: Endpoint, message: Message, at: datetime) -> tuple[bytes, dict[str, str]]:
    """The JSON body and its Standard Webhooks headers for one attempt at `at`."""
    body = json.dumps({"type": EVENT, "timestamp": at.isoformat(), "data": payload(message)}, separators=(",", ":"))
    return body.encode(), {
        "content-type": "application/json",
        "webhook-id": message.id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(endpoint.secret).sign(message.id, at, body),
    }


class MessageDelivery:
    """Background worker: posts pending messages; retries with backoff; gives up after the last delay."""

    def __init__(
        self,
        messages: StaffMessages,
        endpoints: NotifyEndpoints,
        http: httpx.AsyncClient,
        *,
        retry_delays: tuple[timedelta, ...] = RETRY_DELAYS,
        interval: float = 2.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.messages = messages
        self.endpoints = endpoints
        self.http = http
        self.retry_delays = retry_delays
        self.interval = interval
        self.clock = clock

    async def run_once(self) -> int:
        """One attempt for every due message (concurrently); returns how many were delivered."""
        rows = await self.messages.claim_due(self.clock(), LEASE)
        delivered: list[bool] = []

        async def attempt(row: StaffMessage) -> None:
            try:
                delivered.append(await self._attempt(row))
            except DATABASE_ERRORS as exc:  # the lease expires and the next round tries again
                log.warning("message delivery: database unavailable", message_id=row.id, error=type(exc).__name__)

        async with anyio.create_task_group() as group:
            for row in rows:
                group.start_soon(attempt, row)
        return sum(delivered)

    async def _attempt(self, row: StaffMessage) -> bool:
        try:
            endpoint = await self.endpoints.get(row.account_id)
            if endpoint is None:  # the URL was cleared meanwhile
                await self.messages.settle(row.id, DeliveryStatus.OFF)
                return False
            body, headers = signed_request(endpoint, await self.messages.decrypt(row), self.clock())
            response = await self.http.post(endpoint.url, content=body, headers=headers)
            error = None if response.is_success else f"HTTP {response.status_code}"
        except (httpx.HTTPError, DecryptionFailed) as exc:
            error = type(exc).__name__
        if error is None:
            await self.messages.settle(row.id, DeliveryStatus.DELIVERED)
            log.info("staff message delivered", message_id=row.id, account_id=row.account_id, attempts=row.attempts)
            return True
        await self._failed(row, error)
        return False

    async def _failed(self, row: StaffMessage, error: str) -> None:
        if row.attempts > len(self.retry_delays):
            await self.messages.settle(row.id, DeliveryStatus.FAILED, error=error)
            log.warning("staff message not delivered", message_id=row.id, attempts=row.attempts, error=error)
            return
        retry_at = self.clock() + self.retry_delays[row.attempts - 1]
        await self.messages.settle(row.id, DeliveryStatus.PENDING, error=error, retry_at=retry_at)
        log.info("staff message delivery will be retried", message_id=row.id, attempts=row.attempts, error=error)

    async def run_forever(self) -> None:
        while True:
            try:
                await self.run_once()
            except DATABASE_ERRORS as exc:
                log.warning("message delivery: database unavailable", error=type(exc).__name__)
            await anyio.sleep(self.interval)
