"""The staff inbox on SQLite and PostgreSQL: items stored encrypted, listed and resolved; delivered by email (moto's
SES) and to the practice's URL signed (Standard Webhooks), each channel retried on its own schedule and
dead-lettered after the last delay (counted for the alarm); never logged; purged with their own retention."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import anyio.to_thread
import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import select, update
from standardwebhooks import Webhook

from app.cli import main
from server.db.models import Account, DeliveryStatus, InboxKind, StaffDelivery, StaffMessage
from server.delivery import InboxDelivery
from server.inbox import StaffNote
from server.mail import SesMailer
from server.retention import purge
from server.services import Services, build_mailer, open_services
from tests.conftest import make_settings
from tests.support import SES_CONFIGURATION_SET, SES_SENDER, ses_outbox, ses_ready, settings_env

pytestmark = pytest.mark.anyio
ACCOUNT = "acct_messages"
URL = "https://practice.test/hooks/parlae"
STAFF = "frontdesk@practice.test"
NOTE = StaffNote("Zq canary: question about a crown", caller_name="Zebediah Quill", callback_number="+12125550199")
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
def ses(aws: None) -> None:
    ses_ready()


@pytest.fixture
async def services(database_url: str, ses: None) -> AsyncIterator[Services]:
    settings = make_settings(database_url, ses_sender=SES_SENDER, ses_configuration_set=SES_CONFIGURATION_SET)
    async with open_services(settings) as ready:
        async with ready.sessions.begin() as session:
            session.add(Account(id=ACCOUNT, name="Messages Dental"))
        yield ready


def worker(services: Services, handler: Callable[[httpx.Request], httpx.Response], clock: Clock) -> InboxDelivery:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler), follow_redirects=False)
    return InboxDelivery(
        services.sessions,
        services.inbox,
        services.notify_endpoints,
        services.staff_emails,
        http,
        build_mailer(services.settings),
        metrics=services.metrics,
        retry_delays=DELAYS,
        clock=clock,
    )


async def post(services: Services, urgency: str = "routine", account: str = ACCOUNT, call: str | None = None) -> str:
    return await services.inbox.post(account, InboxKind.MESSAGE, NOTE, urgency=urgency, vapi_call_id=call)


async def deliveries(services: Services, item_id: str) -> dict[str, StaffDelivery]:
    async with services.sessions() as session:
        rows = await session.scalars(select(StaffDelivery).where(StaffDelivery.item_id == item_id))
    return {row.channel: row for row in rows}


def dead_letters(services: Services, channel: str) -> float:
    value = services.metrics.registry.get_sample_value(
        "parlae_staff_deliveries_total", {"channel": channel, "result": "dead"}
    )
    return value or 0.0


async def test_an_item_is_stored_encrypted_listed_and_resolved(services: Services) -> None:
    item_id = await post(services, "urgent", call="call-1")
    async with services.sessions() as session:
        stored = await session.get(StaffMessage, item_id)
    assert stored is not None
    assert "Zebediah" not in stored.data
    assert "crown" not in stored.data
    assert await deliveries(services, item_id) == {}  # no channel configured: nothing to deliver
    (listed,) = await services.inbox.open_items(ACCOUNT)
    assert (listed.id, listed.note, listed.urgency, listed.vapi_call_id) == (item_id, NOTE, "urgent", "call-1")
    assert listed.as_json()["kind"] == "message"
    assert await services.inbox.open_items("another_account") == []
    assert await services.inbox.resolve(item_id) is True
    assert await services.inbox.resolve(item_id) is False
    assert await services.inbox.open_items(ACCOUNT) == []


async def test_an_item_is_emailed_and_posted_once_each(services: Services) -> None:
    secret = (await services.notify_endpoints.set(ACCOUNT, URL)).secret
    await services.staff_emails.set(ACCOUNT, STAFF, booking_notices=False)
    item_id = await post(services, call="call-1")
    assert set(await deliveries(services, item_id)) == {"email", "webhook"}
    receiver, clock = Receiver(204), Clock()
    delivery = worker(services, receiver, clock)
    assert await delivery.run_once() == 2
    assert await delivery.run_once() == 0
    (request,) = receiver.requests
    assert str(request.url) == URL  # nothing added to the practice's URL
    body = Webhook(secret).verify(request.content, dict(request.headers))
    assert request.headers["webhook-id"] == item_id
    assert (body["data"]["reason"], body["data"]["kind"], body["data"]["messageId"]) == (
        NOTE.reason,
        "message",
        item_id,
    )
    (email,) = ses_outbox()
    assert (email.to, email.source) == ([STAFF], SES_SENDER)
    assert email.subject == "Parlae: A caller left a message"  # no PHI in a subject
    assert "Caller: Zebediah Quill" in email.body
    assert "Call back: +12125550199" in email.body
    assert f"Item: {item_id}" in email.body
    for row in (await deliveries(services, item_id)).values():
        assert (row.status, row.attempts, row.last_error) == (DeliveryStatus.DELIVERED, 1, None)
        assert row.delivered_at is not None


async def test_a_failed_attempt_is_retried_after_its_delay(services: Services) -> None:
    secret = (await services.notify_endpoints.set(ACCOUNT, URL)).secret
    item_id = await post(services)
    receiver, clock = Receiver(503, 200), Clock()
    delivery = worker(services, receiver, clock)
    assert await delivery.run_once() == 0
    waiting = (await deliveries(services, item_id))["webhook"]
    assert (waiting.status, waiting.attempts, waiting.last_error) == (DeliveryStatus.PENDING, 1, "HTTP 503")
    clock.now += DELAYS[0] - timedelta(seconds=1)
    assert await delivery.run_once() == 0
    assert len(receiver.requests) == 1  # not due yet
    clock.now += timedelta(seconds=1)
    assert await delivery.run_once() == 1
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == item_id
    for request in receiver.requests:
        Webhook(secret).verify(request.content, dict(request.headers))
    assert (await deliveries(services, item_id))["webhook"].status == DeliveryStatus.DELIVERED


async def test_after_the_last_delay_a_delivery_is_dead_lettered_counted_and_still_listed(services: Services) -> None:
    await services.notify_endpoints.set(ACCOUNT, URL)
    await post(services)
    receiver, clock = Receiver(500), Clock()
    delivery = worker(services, receiver, clock)
    for delay in (*DELAYS, timedelta(0)):
        assert await delivery.run_once() == 0
        clock.now += delay
    assert await delivery.run_once() == 0
    assert len(receiver.requests) == len(DELAYS) + 1
    assert dead_letters(services, "webhook") == 1
    (listed,) = await services.inbox.open_items(ACCOUNT)
    assert [d.as_json() for d in listed.deliveries] == [
        {"channel": "webhook", "status": "dead", "attempts": 3, "lastError": "HTTP 500"}
    ]


async def test_an_email_ses_refuses_is_retried_then_dead_lettered(services: Services) -> None:
    settings = services.settings.model_copy(update={"ses_sender": "unverified@parlae.test"})
    await services.staff_emails.set(ACCOUNT, STAFF, booking_notices=False)
    item_id = await post(services)
    clock = Clock()
    delivery = worker(services, Receiver(200), clock)
    delivery.mailer = build_mailer(settings)  # SES refuses an unverified sender
    for delay in (*DELAYS, timedelta(0)):
        await delivery.run_once()
        clock.now += delay
    email = (await deliveries(services, item_id))["email"]
    assert (email.status, email.attempts, email.last_error) == (DeliveryStatus.DEAD, 3, "MessageRejected")
    assert dead_letters(services, "email") == 1
    assert ses_outbox() == []


async def test_redirects_are_not_followed_and_network_errors_are_retried(services: Services) -> None:
    await services.notify_endpoints.set(ACCOUNT, URL)
    redirected = await post(services)
    receiver = Receiver(307)
    assert await worker(services, receiver, Clock()).run_once() == 0
    assert [str(r.url) for r in receiver.requests] == [URL]
    assert (await deliveries(services, redirected))["webhook"].last_error == "HTTP 307"

    unreachable = await post(services)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    await worker(services, refuse, Clock()).run_once()
    assert (await deliveries(services, unreachable))["webhook"].last_error == "ConnectError"


async def test_clearing_a_channel_stops_its_delivery(services: Services) -> None:
    await services.notify_endpoints.set(ACCOUNT, URL)
    await services.staff_emails.set(ACCOUNT, STAFF, booking_notices=False)
    item_id = await post(services)
    assert await services.notify_endpoints.clear(ACCOUNT) is True
    assert await services.notify_endpoints.clear(ACCOUNT) is False
    assert await services.staff_emails.clear(ACCOUNT) is True
    receiver = Receiver(200)
    assert await worker(services, receiver, Clock()).run_once() == 0
    assert receiver.requests == []
    assert ses_outbox() == []
    assert await deliveries(services, item_id) == {}


async def test_a_new_url_gets_a_new_secret(services: Services) -> None:
    first = (await services.notify_endpoints.set(ACCOUNT, URL)).secret
    second = (await services.notify_endpoints.set(ACCOUNT, "https://practice.test/other")).secret
    assert first != second
    endpoint = await services.notify_endpoints.get(ACCOUNT)
    assert endpoint is not None
    assert (endpoint.url, endpoint.secret) == ("https://practice.test/other", second)


async def test_setting_a_channel_queues_the_open_items_left_without_it(services: Services) -> None:
    waiting = await post(services, "urgent", call="call-1")
    handled = await post(services, call="call-2")
    await services.inbox.resolve(handled)
    other_account = "acct_other"
    async with services.sessions.begin() as session:
        session.add(Account(id=other_account, name="Other Dental"))
    elsewhere = await post(services, account=other_account, call="call-3")

    configured = await services.notify_endpoints.set(ACCOUNT, URL)
    assert configured.queued == 1  # the open one of this practice only
    assert [set(await deliveries(services, i)) for i in (waiting, handled, elsewhere)] == [{"webhook"}, set(), set()]
    assert (await services.staff_emails.set(ACCOUNT, STAFF, booking_notices=False)).queued == 1
    receiver = Receiver(204)
    assert await worker(services, receiver, Clock()).run_once() == 2
    (request,) = receiver.requests
    assert Webhook(configured.secret).verify(request.content, dict(request.headers))["data"]["messageId"] == waiting
    assert (await services.notify_endpoints.set(ACCOUNT, URL)).queued == 0  # delivered: not queued again


async def test_booking_notices_go_only_to_practices_that_asked_for_them(services: Services) -> None:
    notice = StaffNote("The assistant booked this appointment.", caller_name="Ann Lee", request="book Monday 9 AM")
    await services.staff_emails.set(ACCOUNT, STAFF, booking_notices=False)
    assert await services.inbox.post(ACCOUNT, InboxKind.BOOKING_MADE, notice, vapi_call_id=None)
    async with services.sessions() as session:
        assert (await session.scalars(select(StaffMessage))).all() == []  # nobody asked for it: nothing stored
    await services.notify_endpoints.set(ACCOUNT, URL)
    assert await services.inbox.post(ACCOUNT, InboxKind.BOOKING_MADE, notice, vapi_call_id=None)
    await services.staff_emails.set(ACCOUNT, STAFF, booking_notices=True)
    item_id = await services.inbox.post(ACCOUNT, InboxKind.BOOKING_MADE, notice, vapi_call_id=None)
    assert await services.inbox.open_items(ACCOUNT) == []  # a notice needs no action
    assert set(await deliveries(services, item_id)) == {"email", "webhook"}
    assert await worker(services, Receiver(200), Clock()).run_once() == 2
    (email,) = ses_outbox()
    assert email.subject == "Parlae: The assistant booked an appointment"


async def test_bodies_and_details_never_reach_the_logs(services: Services, captured_logs: io.StringIO) -> None:
    await services.notify_endpoints.set(ACCOUNT, URL)
    await services.staff_emails.set(ACCOUNT, STAFF, booking_notices=False)
    await post(services)
    await post(services, "urgent")
    delivery = worker(services, Receiver(500, 200), Clock())
    await delivery.run_once()
    logs = captured_logs.getvalue()
    assert "inbox item delivered" in logs
    assert "inbox delivery will be retried" in logs
    for value in (NOTE.caller_name or "", "canary", NOTE.callback_number or "", "2125550199", STAFF):
        assert value not in logs


async def test_items_and_deliveries_have_their_own_retention(services: Services) -> None:
    await services.notify_endpoints.set(ACCOUNT, URL)
    old = await post(services)
    young = await post(services)
    aged = datetime.now(UTC) - timedelta(days=services.settings.retention_messages_days + 1)
    async with services.sessions.begin() as session:
        await session.execute(update(StaffMessage).where(StaffMessage.id == old).values(created_at=aged))
        await session.execute(update(StaffDelivery).where(StaffDelivery.item_id == old).values(created_at=aged))
    dry = await purge(services, dry_run=True)
    assert (dry["staff_messages"], dry["staff_deliveries"]) == (1, 1)
    assert (await purge(services, dry_run=False))["staff_messages"] == 1
    async with services.sessions() as session:
        assert list(await session.scalars(select(StaffMessage.id))) == [young]
        assert list(await session.scalars(select(StaffDelivery.item_id))) == [young]


async def test_the_mailer_sends_with_the_tls_configuration_set() -> None:
    sent: list[dict[str, Any]] = []

    class Client:
        def send_email(self, **request: Any) -> dict[str, str]:
            sent.append(request)
            return {"MessageId": "1"}

    await SesMailer(Client(), SES_SENDER, SES_CONFIGURATION_SET).send(STAFF, "Parlae: hello", "text")  # type: ignore[arg-type]
    (request,) = sent
    assert request["ConfigurationSetName"] == SES_CONFIGURATION_SET
    assert request["FromEmailAddress"] == SES_SENDER
    assert request["Destination"] == {"ToAddresses": [STAFF]}


@pytest.mark.postgres
async def test_two_replicas_deliver_each_item_once(services: Services) -> None:
    if not services.settings.database_url.startswith("postgresql"):
        pytest.skip("replicas share a PostgreSQL database")
    await services.notify_endpoints.set(ACCOUNT, URL)
    ids = {await post(services) for _ in range(10)}
    receiver = Receiver(200)
    async with open_services(services.settings) as other:
        replicas = [worker(services, receiver, Clock()), worker(other, receiver, Clock())]
        async with anyio.create_task_group() as group:
            for replica in replicas * 3:
                group.start_soon(replica.run_once)
    posted = [json.loads(r.content)["data"]["messageId"] for r in receiver.requests]
    assert sorted(posted) == sorted(ids)


async def test_the_list_shows_invisible_characters_so_no_item_forges_a_line(services: Services) -> None:
    # stored before takeMessage cleaned its text (tools/arguments.py): a forged second line and a bidi override
    reason = "crown\r\nmsg_fake  2026-01-01  urgent  Dr. Boss"
    forged = StaffNote(reason, caller_name="Ann\u202eeoD", callback_number="+12125550199")
    await services.inbox.post(ACCOUNT, InboxKind.MESSAGE, forged, vapi_call_id="call-forge")
    env = {**settings_env(services.settings), "LOG_LEVEL": "WARNING"}
    listed = await anyio.to_thread.run_sync(
        lambda: CliRunner().invoke(main, ["messages", "list", "--account-id", ACCOUNT], env=env)
    )
    assert listed.exit_code == 0, listed.output
    (line,) = listed.output.splitlines()
    assert line.endswith("Ann\\u202eeoD +12125550199  crown\\r\\nmsg_fake  2026-01-01  urgent  Dr. Boss")
    as_json = await anyio.to_thread.run_sync(
        lambda: CliRunner().invoke(main, ["messages", "list", "--account-id", ACCOUNT, "--json"], env=env)
    )
    assert "\u202e" not in as_json.output  # JSON escapes it too
    (item,) = json.loads(as_json.output)["messages"]
    assert item["reason"] == forged.reason  # the data itself is unchanged
