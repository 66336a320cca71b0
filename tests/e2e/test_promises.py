"""Promises kept: every write the assistant accepts ends in the practice system or in a person's hands — through a
kill -9 during the voice budget or during the POST, a database that blinks after Sikka accepted, twenty callers
on one slot, an office computer that is off overnight, and a write older than its maximum pending age.

Each scenario runs the service under uvicorn against the sandbox over real HTTP (SQLite and PostgreSQL), with
staff email through moto's SES and a notify URL, and ends the same way: every writeback Sikka holds is tracked
by exactly one intent, no intent is left without an owner, the caller's retry on the same call hears the truth,
and the staff follow-up is delivered by email and to the notify URL within 60 s of the write's final state."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.main import create_app
from sandbox import DEMO_OFFICE_ID, DEMO_PRACTICE_ID, DEMO_SECRET_KEY, SandboxConfig, SandboxState, create_sandbox_app
from server.db.models import (
    OPEN_INTENTS,
    AuditLog,
    DeliveryStatus,
    IntentState,
    StaffDelivery,
    StaffMessage,
    WriteIntent,
)
from server.services import Services, build_services, open_services
from server.settings import Settings
from tests.support import (
    SES_CONFIGURATION_SET,
    SES_SENDER,
    TcpBlink,
    ThreadedServer,
    call,
    identity,
    mcp_client,
    onboard,
    open_day,
    serve,
    server_process,
    ses_outbox,
    ses_ready,
    stack_settings,
)

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
STAFF = "frontdesk@practice.test"
DELIVERED_WITHIN = timedelta(seconds=60)


class Receiver:
    """The practice's notify URL: records each signed POST and when it came."""

    def __init__(self) -> None:
        self.received: list[tuple[datetime, dict[str, Any]]] = []
        self.app = Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])

    async def hook(self, request: Request) -> Response:
        self.received.append((datetime.now(UTC), json.loads(await request.body())["data"]))
        return Response(status_code=204)


@dataclass
class World:
    """The sandbox, the database, the receiver and the settings of one scenario."""

    sandbox: SandboxState
    settings: Settings
    account_id: str
    token: str
    receiver: Receiver
    receiver_url: str
    exits: list[Callable[[], None]] = field(default_factory=list)

    @property
    def practice(self) -> Any:
        return self.sandbox.practice(DEMO_OFFICE_ID)

    def without_email(self) -> Settings:
        """A process that cannot reach SES (it dies before it would send anything)."""
        return self.settings.model_copy(update={"ses_sender": None, "ses_configuration_set": None})


@pytest.fixture
async def world(production_database_url: str, aws: None) -> AsyncIterator[World]:
    """A scenario on production's database (PostgreSQL when the run has one, else SQLite)."""
    async with world_on(production_database_url) as made:
        yield made


@asynccontextmanager
async def world_on(database_url: str) -> AsyncIterator[World]:
    ses_ready()
    state = SandboxState(SandboxConfig(writeback_delay_seconds=6.0))
    receiver = Receiver()
    with serve(create_sandbox_app(state)) as sandbox, serve(receiver.app) as hook:
        settings = stack_settings(
            database_url,
            sandbox.url,
            writeback_budget_seconds=3.0,
            sikka_deadline_seconds=3.0,
            ses_sender=SES_SENDER,
            ses_configuration_set=SES_CONFIGURATION_SET,
        )
        account_id, token = await onboard(settings, DEMO_OFFICE_ID, DEMO_SECRET_KEY)
        world = World(state, settings, account_id, token, receiver, f"{hook.url}/hook")
        await channels(world)
        yield world


async def channels(world: World) -> None:
    """The practice reads its inbox by email and at its notify URL, and wants a notice of every booking."""
    async with open_services(world.settings) as services:
        await services.staff_emails.set(world.account_id, STAFF, booking_notices=True)
        await services.notify_endpoints.set(world.account_id, world.receiver_url)


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[Services, ThreadedServer, Services]]:
    """The service in this process under uvicorn (its services, e.g. the follower's clock, reachable), and
    services of the test's own event loop to read the database with (connections never cross loops)."""
    services = build_services(settings)
    with serve(create_app(settings, services=services)) as server:
        async with open_services(settings) as reader:
            yield services, server, reader


@asynccontextmanager
async def caller(url: str, world: World, call_id: str) -> AsyncIterator[Any]:
    async with mcp_client(f"{url}/mcp", world.token, call_id=call_id) as client:
        yield client


async def a_slot(url: str, world: World, after_days: int = 10) -> dict[str, Any]:
    async with caller(url, world, "find-a-slot") as client:
        found = await call(client, "checkAvailability", {"date": open_day(world, after_days).isoformat()})
    assert found["outcome"] == "ok", found
    return dict(found["slots"][0])


def booking(world: World, slot: dict[str, Any], index: int = 0) -> dict[str, Any]:
    patients = [p for p in world.practice.patients.values() if p["status"] == "Active"]
    return {**identity(patients[index]), "startTime": slot["startTime"], "providerId": slot["providerId"]}


async def book(url: str, world: World, call_id: str, arguments: dict[str, Any]) -> dict[str, Any]:
    async with caller(url, world, call_id) as client:
        return await call(client, "bookAppointment", arguments)


async def wait_until(condition: Callable[[], Any], seconds: float = 60, what: str = "the condition") -> None:
    deadline = time.monotonic() + seconds
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await anyio.sleep(0.2)


async def intents(services: Services) -> list[WriteIntent]:
    async with services.sessions() as session:
        return list(await session.scalars(select(WriteIntent)))


async def final(services: Services) -> bool:
    return all(row.state not in OPEN_INTENTS for row in await intents(services))


async def every_write_owned(services: Services, world: World) -> None:
    """0 writes untracked (each writeback Sikka holds is one intent's), 0 promises without an owner (every intent is
    final or handed to staff, and each that needs a person has an inbox item)."""
    rows = await intents(services)
    at_sikka = sorted(str(w.id) for w in world.sandbox.writebacks_of(DEMO_OFFICE_ID))
    assert sorted(r.writeback_id for r in rows if r.writeback_id) == at_sikka
    for row in rows:
        assert row.state not in OPEN_INTENTS or row.handed_to_staff_at is not None, row.state
    async with services.sessions() as session:
        items = list(await session.scalars(select(StaffMessage)))
    needing = [r for r in rows if r.state == IntentState.FAILED or r.handed_to_staff_at is not None]
    assert len([i for i in items if i.kind.startswith("write_")]) >= len(needing)


async def delivered_to_staff(services: Services, world: World, kind: str, since: datetime) -> None:
    """The inbox item of `kind` reached both channels within 60 s of `since` (the write's final state)."""

    async def both() -> bool:
        async with services.sessions() as session:
            item = await session.scalar(select(StaffMessage).where(StaffMessage.kind == kind))
            if item is None:
                return False
            rows = list(await session.scalars(select(StaffDelivery).where(StaffDelivery.item_id == item.id)))
        return len(rows) == 2 and all(r.status == DeliveryStatus.DELIVERED for r in rows)

    await wait_until(both, DELIVERED_WITHIN.total_seconds(), f"a {kind} item delivered by email and webhook")
    async with services.sessions() as session:
        item = await session.scalar(select(StaffMessage).where(StaffMessage.kind == kind))
        assert item is not None
        rows = list(await session.scalars(select(StaffDelivery).where(StaffDelivery.item_id == item.id)))
    for row in rows:
        assert row.delivered_at is not None
        assert row.delivered_at - since <= DELIVERED_WITHIN
    assert any(data["messageId"] == item.id and data["kind"] == kind for _, data in world.receiver.received)
    assert any(item.id in email.body for email in ses_outbox())


async def audited(services: Services, call_id: str) -> list[str]:
    async with services.sessions() as session:
        rows = await session.scalars(select(AuditLog).where(AuditLog.vapi_call_id == call_id).order_by(AuditLog.seq))
    return [row.action for row in rows]


async def completed_at(services: Services) -> datetime:
    (row,) = [r for r in await intents(services) if r.completed_at is not None]
    assert row.completed_at is not None
    return row.completed_at


async def test_a_kill_during_the_voice_budget_leaves_a_booking_that_is_followed_and_the_retry_told_the_truth(
    world: World,
) -> None:
    with server_process(world.without_email()) as first:
        slot = await a_slot(first.url, world)
        arguments = booking(world, slot)
        async with anyio.create_task_group() as group:
            group.start_soon(lambda: swallow(book(first.url, world, "call-kill-budget", arguments)))
            await wait_until(lambda: accepted(world), 30, "Sikka to accept the booking")
            await anyio.sleep(0.5)  # the receipt is stored, the voice budget (3 s) is running
            first.kill()
    (writeback,) = world.sandbox.writebacks_of(DEMO_OFFICE_ID)
    async with running(world.settings) as (_, server, services):
        retried = await book(server.url, world, "call-kill-budget", arguments)
        assert retried["outcome"] in ("pending", "confirmed"), retried  # never "already being processed"
        assert retried["reference"] == str(writeback.id)
        await wait_until(lambda: final(services), 60, "the booking to be final")
        confirmed = await book(server.url, world, "call-kill-budget", arguments)
        assert (confirmed["outcome"], confirmed["code"]) == ("confirmed", "appointment_booked"), confirmed
        assert confirmed["appointmentId"] == writeback.created_id
        await every_write_owned(services, world)
        assert (await audited(services, "call-kill-budget"))[:2] == ["write.requested", "bookAppointment"]
        assert "write.outcome" in await audited(services, "call-kill-budget")
        await delivered_to_staff(services, world, "booking_made", await completed_at(services))
    assert len(world.sandbox.writebacks_of(DEMO_OFFICE_ID)) == 1  # booked once


async def test_a_kill_during_the_post_leaves_a_write_that_is_found_at_sikka_and_never_sent_twice(world: World) -> None:
    with server_process(world.without_email()) as first:
        slot = await a_slot(first.url, world)
        arguments = booking(world, slot)
        world.sandbox.faults.add(endpoint="appointment", method="POST", latency_seconds=1.5)
        world.sandbox.faults.add(endpoint="appointment", writeback_failure="Appointment already scheduled")
        async with anyio.create_task_group() as group:
            group.start_soon(lambda: swallow(book(first.url, world, "call-kill-post", arguments)))
            await wait_until(lambda: arrived(world), 30, "the POST to reach Sikka")
            first.kill()  # the POST is still in flight
    async with running(world.settings) as (_, server, services):
        retried = await book(server.url, world, "call-kill-post", arguments)
        assert retried["outcome"] in ("pending", "refused"), retried  # the truth so far: sent, outcome not known
        await wait_until(lambda: final(services), 90, "the write to be found and final")
        told = await book(server.url, world, "call-kill-post", arguments)
        assert (told["outcome"], told["code"]) == ("refused", "booking_failed"), told
        await every_write_owned(services, world)
        await delivered_to_staff(services, world, "write_failed", await completed_at(services))
    assert world.sandbox.counters["POST /appointment"] == 1  # found, not sent again


async def test_a_database_that_blinks_after_sikka_accepted_loses_nothing(world: World) -> None:
    url = make_url(world.settings.database_url)
    if url.get_backend_name() != "postgresql":
        pytest.skip("a database server that goes away and comes back: PostgreSQL")
    with TcpBlink(url.host or "127.0.0.1", url.port or 5432) as blink:
        settings = world.settings.model_copy(
            update={"database_url": url.set(host="127.0.0.1", port=blink.port).render_as_string(hide_password=False)}
        )
        world.sandbox.faults.add(endpoint="appointment", method="POST", latency_seconds=1.5)
        world.sandbox.faults.add(endpoint="appointment", writeback_failure="Appointment already scheduled")
        async with running(settings) as (_, server, services):
            slot = await a_slot(server.url, world)
            arguments = booking(world, slot)
            answers: list[dict[str, Any]] = []

            async def first_try() -> None:
                answers.append(await book(server.url, world, "call-blink", arguments))

            async with anyio.create_task_group() as group:
                group.start_soon(first_try)
                await wait_until(lambda: arrived(world), 30, "the POST to reach Sikka")
                blink.cut()  # the database goes away while Sikka accepts the booking
            (answer,) = answers
            assert answer["isError"]
            assert answer["message"].startswith("I sent your request to the office system")  # not "can't complete"
            blink.restore()
            await wait_until(lambda: final(services), 90, "the write to be tracked and final")
            told = await book(server.url, world, "call-blink", arguments)
            assert (told["outcome"], told["code"]) == ("refused", "booking_failed"), told
            await every_write_owned(services, world)
            assert "write.requested" in await audited(services, "call-blink")
            await delivered_to_staff(services, world, "write_failed", await completed_at(services))


async def test_twenty_callers_on_one_slot_are_told_the_truth_and_only_one_write_is_made(
    database_url: str, aws: None
) -> None:
    async with world_on(database_url) as world:
        await twenty_callers_on_one_slot(world)


async def twenty_callers_on_one_slot(world: World) -> None:
    async with running(world.settings) as (_, server, services):
        slot = await a_slot(server.url, world)
        answers: list[dict[str, Any]] = []

        async def caller_books(index: int) -> None:
            answers.append(await book(server.url, world, f"call-race-{index}", booking(world, slot, index)))

        async with anyio.create_task_group() as group:
            for index in range(20):
                group.start_soon(caller_books, index)
        outcomes = sorted(a["code"] for a in answers)
        assert outcomes.count("booked_pending") == 1, outcomes  # the writeback takes 6 s: longer than the budget
        assert outcomes.count("slot_taken") == 19, outcomes  # told at once, with other times: nothing sent for them
        assert all(a["alternatives"] for a in answers if a["code"] == "slot_taken")
        assert len(world.sandbox.writebacks_of(DEMO_OFFICE_ID)) == 1
        await wait_until(lambda: final(services), 60, "the booking to be final")
        await every_write_owned(services, world)
        await delivered_to_staff(services, world, "booking_made", await completed_at(services))


async def test_with_the_office_computer_off_overnight_the_caller_hears_it_at_once_and_the_booking_lands(
    world: World,
) -> None:
    world.sandbox.set_spu_online(DEMO_OFFICE_ID, DEMO_PRACTICE_ID, False)
    async with running(world.settings) as (_, server, services):
        slot = await a_slot(server.url, world)
        arguments = booking(world, slot)
        world.sandbox.reset_counters()
        answer = await book(server.url, world, "call-night", arguments)
        assert (answer["outcome"], answer["officeSystemOffline"]) == ("pending", True), answer
        assert "offline right now; your request is saved" in answer["message"]
        assert world.sandbox.counters["GET /writeback_status"] == 0  # answered at once, not after the budget
        await anyio.sleep(3)
        assert not await final(services)  # still queued at Sikka: nothing is withdrawn
        world.sandbox.set_spu_online(DEMO_OFFICE_ID, DEMO_PRACTICE_ID, True)  # morning
        await wait_until(lambda: final(services), 60, "the booking to land")
        told = await book(server.url, world, "call-night", arguments)
        assert (told["outcome"], told["code"]) == ("confirmed", "appointment_booked"), told
        await every_write_owned(services, world)
        await delivered_to_staff(services, world, "booking_made", await completed_at(services))


async def test_a_write_past_its_maximum_pending_age_is_handed_to_staff_and_still_followed(world: World) -> None:
    world.sandbox.set_spu_online(DEMO_OFFICE_ID, DEMO_PRACTICE_ID, False)  # a long weekend
    async with running(world.settings) as (app_services, server, services):
        slot = await a_slot(server.url, world)
        arguments = booking(world, slot)
        assert (await book(server.url, world, "call-weekend", arguments))["outcome"] == "pending"
        handed_over = datetime.now(UTC)
        later = timedelta(seconds=world.settings.writeback_max_pending_seconds + 60)
        app_services.follower.clock = lambda: datetime.now(UTC) + later  # four days pass
        await delivered_to_staff(services, world, "write_unconfirmed", handed_over)
        await every_write_owned(services, world)
        told = await book(server.url, world, "call-weekend", arguments)
        assert (told["outcome"], told["code"]) == ("pending", "booked_pending"), told  # still saved, still queued
        (row,) = await intents(services)
        assert row.state == IntentState.SUBMITTED
    assert world.sandbox.counters["DELETE /writebacks"] == 0  # never withdrawn


async def swallow(attempt: Any) -> None:
    """A call whose server is killed under it: the connection error is the expected end."""
    with contextlib.suppress(Exception):  # the caller's side of kill -9
        await attempt


async def accepted(world: World) -> bool:
    return bool(world.sandbox.writebacks_of(DEMO_OFFICE_ID))


async def arrived(world: World) -> bool:
    return world.sandbox.counters["POST /appointment"] > 0
