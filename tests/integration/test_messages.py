"""Staff messages on SQLite and PostgreSQL: stored encrypted, listed and resolved, delivered to the practice's
URL signed (Standard Webhooks), retried on its own schedule, given up after the last delay, never logged, and
purged with their own retention."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import anyio
import anyio.to_thread
import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import select, update
from standardwebhooks import Webhook

from app.cli import main
from server.db.models import Account, DeliveryStatus, StaffMessage
from server.messages import MessageDetails
from server.notify import MessageDelivery
from server.retention import purge
from server.services import Services, open_services
from tests.conftest import make_settings
from tests.support import settings_env

pytestmark = pytest.mark.anyio
ACCOUNT = "acct_messages"
URL = "https://practice.test/hooks/parlae"
DETAILS = MessageDetails("Zebediah Quill", "+12125550199", "Zq canary: question about a crown", None)
DELAYS = (timedelta(seconds=10), timedelta(minutes=1))


class Receiver:
    """The practice's endpoint: answers each request with the next status in `statuses` (the last repeats)."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        headers = {"location": "https://elsewhere.test/"} if 300 <= status < 400 else {}
        return httpx.Response(status, headers=headers)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def services(database_url: str) -> AsyncIterator[Services]:
    async with open_services(make_settings(database_url)) as ready:
        async with ready.sessions.begin() as session:
            session.add(Account(id=ACCOUNT, name="Messages Dental"))
        yield ready


def worker(services: Services, handler: Callable[[httpx.Request], httpx.Response], clock: Clock) -> MessageDelivery:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler), follow_redirects=False)
    return MessageDelivery(services.messages, services.notify_endpoints, http, retry_delays=DELAYS, clock=clock)


async def row(services: Services, message_id: str) -> StaffMessage:
    async with services.sessions() as session:
        found = await session.get(StaffMessage, message_id)
    assert found is not None
    return found


async def test_a_message_is_stored_encrypted_listed_and_resolved(services: Services) -> None:
    message_id = await services.messages.add(ACCOUNT, DETAILS, "urgent", "call-1")
    stored = await row(services, message_id)
    assert DETAILS.caller_name not in stored.data
    assert "crown" not in stored.data
    assert stored.delivery == DeliveryStatus.OFF  # no notify URL: nothing to deliver
    (listed,) = await services.messages.open_messages(ACCOUNT)
    assert (listed.id, listed.details, listed.urgency, listed.vapi_call_id) == (message_id, DETAILS, "urgent", "call-1")
    assert await services.messages.open_messages("another_account") == []
    assert await services.messages.resolve(message_id) is True
    assert await services.messages.resolve(message_id) is False
    assert await services.messages.open_messages(ACCOUNT) == []


async def test_a_message_is_posted_once_signed_with_its_id(services: Services) -> None:
    secret = (await services.notify_endpoints.set(ACCOUNT, URL)).secret
    message_id = await services.messages.add(ACCOUNT, DETAILS, "routine", "call-1")
    assert (await row(services, message_id)).delivery == DeliveryStatus.PENDING
    receiver, clock = Receiver(204), Clock()
    delivery = worker(services, receiver, clock)
    assert await delivery.run_once() == 1
    assert await delivery.run_once() == 0
    (request,) = receiver.requests
    assert str(request.url) == URL  # nothing added to the practice's URL
    body = Webhook(secret).verify(request.content, dict(request.headers))
    assert request.headers["webhook-id"] == message_id
    assert body["data"]["reason"] == DETAILS.reason
    assert body["data"]["messageId"] == message_id
    delivered = await row(services, message_id)
    assert (delivered.delivery, delivered.attempts, delivered.last_error) == (DeliveryStatus.DELIVERED, 1, None)
    assert delivered.delivered_at is not None


async def test_a_failed_attempt_is_retried_after_its_delay(services: Services) -> None:
    secret = (await services.notify_endpoints.set(ACCOUNT, URL)).secret
    message_id = await services.messages.add(ACCOUNT, DETAILS, "routine", None)
    receiver, clock = Receiver(503, 200), Clock()
    delivery = worker(services, receiver, clock)
    assert await delivery.run_once() == 0
    waiting = await row(services, message_id)
    assert (waiting.delivery, waiting.attempts, waiting.last_error) == (DeliveryStatus.PENDING, 1, "HTTP 503")
    clock.now += DELAYS[0] - timedelta(seconds=1)
    assert await delivery.run_once() == 0
    assert len(receiver.requests) == 1  # not due yet
    clock.now += timedelta(seconds=1)
    assert await delivery.run_once() == 1
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == message_id
    for request in receiver.requests:
        Webhook(secret).verify(request.content, dict(request.headers))
    assert (await row(services, message_id)).delivery == DeliveryStatus.DELIVERED


async def test_delivery_gives_up_after_the_last_delay_and_staff_see_it(services: Services) -> None:
    await services.notify_endpoints.set(ACCOUNT, URL)
    await services.messages.add(ACCOUNT, DETAILS, "routine", None)
    receiver, clock = Receiver(500), Clock()
    delivery = worker(services, receiver, clock)
    for delay in (*DELAYS, timedelta(0)):
        assert await delivery.run_once() == 0
        clock.now += delay
    assert await delivery.run_once() == 0
    assert len(receiver.requests) == len(DELAYS) + 1
    (listed,) = await services.messages.open_messages(ACCOUNT)
    assert (listed.delivery, listed.attempts, listed.last_error) == ("failed", 3, "HTTP 500")


async def test_redirects_are_not_followed_and_network_errors_are_retried(services: Services) -> None:
    await services.notify_endpoints.set(ACCOUNT, URL)
    redirected = await services.messages.add(ACCOUNT, DETAILS, "routine", None)
    receiver = Receiver(307)
    assert await worker(services, receiver, Clock()).run_once() == 0
    assert [str(r.url) for r in receiver.requests] == [URL]
    assert (await row(services, redirected)).last_error == "HTTP 307"

    unreachable = await services.messages.add(ACCOUNT, DETAILS, "routine", None)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    await worker(services, refuse, Clock()).run_once()
    assert (await row(services, unreachable)).last_error == "ConnectError"


async def test_clearing_the_url_stops_delivery(services: Services) -> None:
    await services.notify_endpoints.set(ACCOUNT, URL)
    message_id = await services.messages.add(ACCOUNT, DETAILS, "routine", None)
    assert await services.notify_endpoints.clear(ACCOUNT) is True
    assert await services.notify_endpoints.clear(ACCOUNT) is False
    receiver = Receiver(200)
    assert await worker(services, receiver, Clock()).run_once() == 0
    assert receiver.requests == []
    assert (await row(services, message_id)).delivery == DeliveryStatus.OFF


async def test_a_new_url_gets_a_new_secret(services: Services) -> None:
    first = (await services.notify_endpoints.set(ACCOUNT, URL)).secret
    second = (await services.notify_endpoints.set(ACCOUNT, "https://practice.test/other")).secret
    assert first != second
    endpoint = await services.notify_endpoints.get(ACCOUNT)
    assert endpoint is not None
    assert (endpoint.url, endpoint.secret) == ("https://practice.test/other", second)


async def test_setting_a_url_queues_the_open_messages_left_without_one(services: Services) -> None:
    waiting = await services.messages.add(ACCOUNT, DETAILS, "urgent", "call-1")
    handled = await services.messages.add(ACCOUNT, DETAILS, "routine", "call-2")
    await services.messages.resolve(handled)
    other_account = "acct_other"
    async with services.sessions.begin() as session:
        session.add(Account(id=other_account, name="Other Dental"))
    elsewhere = await services.messages.add(other_account, DETAILS, "routine", "call-3")

    configured = await services.notify_endpoints.set(ACCOUNT, URL)
    assert configured.queued == 1  # the open one of this practice only
    assert [(await row(services, m)).delivery for m in (waiting, handled, elsewhere)] == [
        DeliveryStatus.PENDING,
        DeliveryStatus.OFF,
        DeliveryStatus.OFF,
    ]
    receiver = Receiver(204)
    assert await worker(services, receiver, Clock()).run_once() == 1
    (request,) = receiver.requests
    assert Webhook(configured.secret).verify(request.content, dict(request.headers))["data"]["messageId"] == waiting
    assert (await services.notify_endpoints.set(ACCOUNT, URL)).queued == 0  # delivered: not queued again


async def test_bodies_and_details_never_reach_the_logs(services: Services, captured_logs: io.StringIO) -> None:
    await services.notify_endpoints.set(ACCOUNT, URL)
    await services.messages.add(ACCOUNT, DETAILS, "routine", None)
    await services.messages.add(ACCOUNT, DETAILS, "urgent", None)
    delivery = worker(services, Receiver(500, 200), Clock())
    await delivery.run_once()
    logs = captured_logs.getvalue()
    assert "staff message delivered" in logs
    assert "staff message delivery will be retried" in logs
    for value in (DETAILS.caller_name, "canary", DETAILS.callback_number, "2125550199"):
        assert value not in logs


async def test_messages_have_their_own_retention(services: Services) -> None:
    old = await services.messages.add(ACCOUNT, DETAILS, "routine", None)
    young = await services.messages.add(ACCOUNT, DETAILS, "routine", None)
    async with services.sessions.begin() as session:
        aged = datetime.now(UTC) - timedelta(days=services.settings.retention_messages_days + 1)
        await session.execute(update(StaffMessage).where(StaffMessage.id == old).values(created_at=aged))
    assert (await purge(services, dry_run=True))["staff_messages"] == 1
    assert (await purge(services, dry_run=False))["staff_messages"] == 1
    async with services.sessions() as session:
        assert list(await session.scalars(select(StaffMessage.id))) == [young]


@pytest.mark.postgres
async def test_two_replicas_post_each_message_once(services: Services) -> None:
    if not services.settings.database_url.startswith("postgresql"):
        pytest.skip("replicas share a PostgreSQL database")
    await services.notify_endpoints.set(ACCOUNT, URL)
    ids = {await services.messages.add(ACCOUNT, DETAILS, "routine", None) for _ in range(10)}
    receiver = Receiver(200)
    async with open_services(services.settings) as other:
        replicas = [worker(services, receiver, Clock()), worker(other, receiver, Clock())]
        async with anyio.create_task_group() as group:
            for replica in replicas * 3:
                group.start_soon(replica.run_once)
    posted = [json.loads(r.content)["data"]["messageId"] for r in receiver.requests]
    assert sorted(posted) == sorted(ids)


async def test_the_list_shows_invisible_characters_so_no_message_forges_a_line(services: Services) -> None:
    # stored before takeMessage cleaned its text (tools/arguments.py): a forged second line and a bidi override
    forged = MessageDetails("Ann\u202eeoD", "+12125550199", "crown\r\nmsg_fake  2026-01-01  urgent  Dr. Boss", None)
    await services.messages.add(ACCOUNT, forged, "routine", "call-forge")
    env = {**settings_env(services.settings), "LOG_LEVEL": "WARNING"}
    listed = await anyio.to_thread.run_sync(
        lambda: CliRunner().invoke(main, ["messages", "list", "--account-id", ACCOUNT], env=env)
    )
    assert listed.exit_code == 0, listed.output
    (line,) = listed.output.splitlines()
    assert line.endswith("Ann\\u202eeoD  +12125550199  crown\\r\\nmsg_fake  2026-01-01  urgent  Dr. Boss")
    as_json = await anyio.to_thread.run_sync(
        lambda: CliRunner().invoke(main, ["messages", "list", "--account-id", ACCOUNT, "--json"], env=env)
    )
    assert "\u202e" not in as_json.output  # JSON escapes it too
    (message,) = json.loads(as_json.output)["messages"]
    assert message["reason"] == forged.reason  # the data itself is unchanged
