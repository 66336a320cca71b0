"""A practice's notify URL: inbox items are posted there as Standard Webhooks signed JSON (server/delivery.py
sends them; `parlae-mcp practices notify-url` sets the URL).

- Each practice has its own signing secret (`whsec_` and 32 random bytes), generated when the URL is set,
  stored encrypted and shown once. `webhook-id` is the item id (the receiver dedupes retries with it);
  `webhook-timestamp` is the attempt's time, so a retry is never stale.
- The URL is https:// (http:// only to a loopback host, for tests) and used as configured: nothing is added to
  it (no PHI in URLs); redirects are not followed, so the body goes only where the practice said; the body's
  PHI travels only inside TLS. The body is never logged.
- Setting a URL queues the practice's open items that have not been posted anywhere yet, so nothing a caller
  said waits unseen for a URL that came later.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import httpx
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from standardwebhooks import Webhook

from server.db.models import DeliveryChannel, MessageEndpoint, utcnow
from server.inbox import Item, queue_open_items
from server.phi.cipher import Binding, PhiCipher
from server.settings import is_secure_url

EVENT = "staff_message.created"
ATTEMPT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
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
    queued: int  # open items not posted anywhere yet, now queued for this URL


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
            queued = await queue_open_items(session, account_id, DeliveryChannel.WEBHOOK)
        return EndpointSet(secret, queued)

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


def payload(item: Item) -> dict[str, object]:
    """The delivered body's `data`: the item as stored (what `messages list --json` shows, without deliveries)."""
    return {
        "messageId": item.id,
        "accountId": item.account_id,
        "kind": item.kind,
        "createdAt": item.created_at.isoformat(),
        "urgency": item.urgency,
        "callId": item.vapi_call_id,
        **item.note.as_json(),
    }


def signed_request(endpoint: Endpoint, item: Item, at: datetime) -> tuple[bytes, dict[str, str]]:
    """The JSON body and its Standard Webhooks headers for one attempt at `at`."""
    body = json.dumps({"type": EVENT, "timestamp": at.isoformat(), "data": payload(item)}, separators=(",", ":"))
    return body.encode(), {
        "content-type": "application/json",
        "webhook-id": item.id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(endpoint.secret).sign(item.id, at, body),
    }
