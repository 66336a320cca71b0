"""The write-intent ledger and its follower against the sandbox over real HTTP, on SQLite and PostgreSQL: each
state of a write and each point where a process can die or lose its database, ending with the write tracked to
its final state or in a person's hands — never untracked, never re-sent blindly, never withdrawn silently."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import anyio
import pytest
from sqlalchemy import select

from sandbox import DEMO_OFFICE_ID, DEMO_PRACTICE_ID, DEMO_SECRET_KEY, SandboxConfig, SandboxState, create_sandbox_app
from server.caller import Caller
from server.db.models import AuditLog, InboxKind, IntentState, WriteIntent
from server.intents import Asked, HeldSlot, Intent, Write
from server.services import Services, open_services
from server.settings import Settings
from server.sikka import writes
from server.sikka.client import Deadline
from server.sikka.records import Patient
from tests.support import ThreadedServer, onboard, practice_today, serve, stack_settings
from tools.availability import DayPlan

pytestmark = pytest.mark.anyio
CALLER = Caller("", "tok_test", call_id="call-intents", caller_number="+12125550123")


class ShiftedClock:
    """Now, movable forward without sleeping (the sandbox's and the follower's)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@pytest.fixture
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture
def sandbox(clock: ShiftedClock) -> Iterator[tuple[SandboxState, ThreadedServer]]:
    state = SandboxState(SandboxConfig(clock=clock, writeback_delay_seconds=1.0))
    with serve(create_sandbox_app(state)) as server:
        yield state, server


@pytest.fixture
async def practice(database_url: str, sandbox: tuple[SandboxState, ThreadedServer]) -> tuple[Settings, str]:
    state, server = sandbox
    settings = stack_settings(
        database_url, server.url, writeback_budget_seconds=3.0, writeback_max_pending_seconds=3600
    )
    account_id, _ = await onboard(settings, DEMO_OFFICE_ID, DEMO_SECRET_KEY)
    state.reset_counters()
    return settings, account_id


def caller(account_id: str) -> Caller:
    return Caller(account_id, CALLER.actor, call_id=CALLER.call_id, caller_number=CALLER.caller_number)


async def intend_booking(services: Services, account_id: str, hour: int = 9) -> Intent:
    """Record (not send) a booking of the first active demo patient with the first bookable provider, on the
    first day at least 40 days out that the practice's own schedule has that provider working at `hour`."""
    practice = services.gateway.practice(account_id, Deadline.after(30))
    metadata = await practice.metadata()
    patient = Patient.from_item((await practice.items("patients", {"status": "Active"}))[0])
    provider = metadata.bookable_providers[0]
    day = working_day(metadata, provider, hour)
    start = datetime.combine(day, time(hour), metadata.zone)
    operatory = metadata.open_operatories[0]
    write = writes.booking(
        metadata, patient=patient, start=start, length_minutes=30, provider=provider, operatory=operatory,
        visit=None, note=None,
    )  # fmt: skip
    held = HeldSlot(start.astimezone(UTC), 30, provider.provider_id, operatory.operatory)
    asked = Asked(
        tool="bookAppointment",
        request=f"book {day:%A, %B %-d} at {hour}:00 with {provider.display_name}",
        who=f"{patient.first_name} {patient.last_name}",
        callback_number=CALLER.caller_number,
        facts={"verb": "booked"},
        patient_id=patient.patient_id,
        slot=held,
    )
    return await services.intents.record(account_id, write, asked, caller(account_id), None)


def working_day(metadata: Any, provider: Any, hour: int) -> date:
    day = practice_today() + timedelta(days=40)
    while not any(
        start.hour <= hour < end.hour for start, end in DayPlan.build(day, metadata, []).provider_hours(provider)
    ):
        day += timedelta(days=1)
    return day


async def send(services: Services, intent: Intent) -> Any:
    return await services.gateway.writebacks.send(intent, caller(intent.account_id), Deadline.after(10))


async def row(services: Services, intent_id: str) -> WriteIntent:
    async with services.sessions() as session:
        found = await session.get(WriteIntent, intent_id)
    assert found is not None
    return found


async def audit_actions(services: Services, account_id: str) -> list[tuple[str, str, str | None]]:
    async with services.sessions() as session:
        rows = await session.scalars(select(AuditLog).where(AuditLog.account_id == account_id).order_by(AuditLog.seq))
    return [(r.action, r.outcome, r.request_summary) for r in rows if r.action.startswith("write.")]


async def staff_items(services: Services, account_id: str) -> list[Any]:
    return await services.inbox.open_items(account_id)


def later(clock: ShiftedClock, services: Services, seconds: float) -> None:
    """Move the sandbox's and the follower's clocks forward together."""
    clock.offset += timedelta(seconds=seconds)
    services.follower.clock = clock


async def test_the_intent_and_its_audit_record_exist_before_the_request_leaves(
    practice: tuple[Settings, str], sandbox: tuple[SandboxState, ThreadedServer]
) -> None:
    settings, account_id = practice
    state, _ = sandbox
    async with open_services(settings) as services:
        intent = await intend_booking(services, account_id)
        assert state.counters["POST /appointment"] == 0
        stored = await row(services, intent.id)
        assert (stored.state, stored.writeback_id, stored.vapi_call_id) == (IntentState.INTENDED, None, "call-intents")
        assert intent.asked.who not in (stored.data or "")  # who asked is PHI: encrypted
        assert await audit_actions(services, account_id) == [
            ("write.requested", "success", "bookAppointment: write requested (POST book_appointment)")
        ]
        outcome = await send(services, intent)
        assert outcome.status == "confirmed"
        stored = await row(services, intent.id)
        assert (stored.state, stored.created_id) == (IntentState.CONFIRMED, outcome.created_id)
        assert stored.created_id in state.practice(DEMO_OFFICE_ID).appointments
        assert (await audit_actions(services, account_id))[-1][:2] == ("write.outcome", "success")
        assert await staff_items(services, account_id) == []  # nothing for a person to do


async def test_a_pending_write_is_followed_and_a_late_failure_reaches_staff(
    practice: tuple[Settings, str], sandbox: tuple[SandboxState, ThreadedServer], clock: ShiftedClock
) -> None:
    settings, account_id = practice
    state, _ = sandbox
    state.faults.add(endpoint="appointment", writeback_failure="Appointment already scheduled for this time slot")
    state.config.writeback_delay_seconds = 30
    async with open_services(settings) as services:
        intent = await intend_booking(services, account_id)
        outcome = await send(services, intent)
        assert outcome.status == "pending"
        assert (await row(services, intent.id)).writeback_id == outcome.writeback_id
        later(clock, services, 31)
        assert await services.follower.run_once() == 1
        assert (await row(services, intent.id)).state == IntentState.FAILED
        (item,) = await staff_items(services, account_id)
        assert (item.kind, item.urgency, item.vapi_call_id) == (InboxKind.WRITE_FAILED, "soon", "call-intents")
        note = item.note
        assert (note.caller_name, note.callback_number) == (intent.asked.who, CALLER.caller_number)
        assert note.request == intent.asked.request
        assert note.upstream_said == "Appointment already scheduled for this time slot"
        assert note.reference == outcome.writeback_id
        assert (await audit_actions(services, account_id))[-1][:2] == ("write.outcome", "failed")


async def test_a_process_that_died_before_sending_leaves_a_write_found_not_sent_and_staff_told(
    practice: tuple[Settings, str], sandbox: tuple[SandboxState, ThreadedServer], clock: ShiftedClock
) -> None:
    settings, account_id = practice
    state, _ = sandbox
    async with open_services(settings) as services:
        intent = await intend_booking(services, account_id)
    async with open_services(settings) as restarted:  # the process that recorded it is gone
        assert await restarted.follower.run_once() == 0  # it could still be in flight: not looked up yet
        later(clock, restarted, restarted.follower.in_flight.total_seconds() + 1)
        assert await restarted.follower.run_once() == 1
        assert (await row(restarted, intent.id)).state == IntentState.NOT_SENT
        (item,) = await staff_items(restarted, account_id)
        assert item.kind == InboxKind.WRITE_NOT_SENT
    assert state.counters["GET /writebacks"] == 1
    assert state.counters["POST /appointment"] == 0  # never sent blindly


async def test_a_process_that_died_after_sikka_accepted_leaves_a_write_that_is_found_and_followed(
    practice: tuple[Settings, str], sandbox: tuple[SandboxState, ThreadedServer], clock: ShiftedClock
) -> None:
    settings, account_id = practice
    state, _ = sandbox
    async with open_services(settings) as services:
        intent = await intend_booking(services, account_id)
        await services.gateway.writebacks.submit(intent, Deadline.after(10))  # accepted; then the process died
    async with open_services(settings) as restarted:
        later(clock, restarted, restarted.follower.in_flight.total_seconds() + 1)
        await restarted.follower.run_once()
        found = await row(restarted, intent.id)
        (writeback,) = state.writebacks_of(DEMO_OFFICE_ID)
        assert (found.state, found.writeback_id) == (IntentState.SUBMITTED, str(writeback.id))
        later(clock, restarted, 60)
        assert await restarted.follower.run_once() == 1
        assert (await row(restarted, intent.id)).state == IntentState.CONFIRMED
        assert await staff_items(restarted, account_id) == []
    assert state.counters["POST /appointment"] == 1


async def test_a_process_that_died_during_the_voice_budget_leaves_a_write_the_next_one_follows(
    practice: tuple[Settings, str], sandbox: tuple[SandboxState, ThreadedServer], clock: ShiftedClock
) -> None:
    settings, account_id = practice
    state, _ = sandbox
    state.config.writeback_delay_seconds = 20
    async with open_services(settings) as services:
        intent = await intend_booking(services, account_id)
        receipt = await services.gateway.writebacks.submit(intent, Deadline.after(10))
        await services.gateway.writebacks.keep_receipt(intent, receipt)  # stored before any waiting; then died
    async with open_services(settings) as restarted:
        later(clock, restarted, 21)
        assert await restarted.follower.run_once() == 1
        assert (await row(restarted, intent.id)).state == IntentState.CONFIRMED


async def test_a_receipt_the_database_could_not_take_is_stored_when_it_is_back(
    practice: tuple[Settings, str], sandbox: tuple[SandboxState, ThreadedServer], clock: ShiftedClock
) -> None:
    settings, account_id = practice
    state, _ = sandbox
    state.config.writeback_delay_seconds = 20
    async with open_services(settings) as services:
        intent = await intend_booking(services, account_id)
        submitted = services.intents.submitted

        async def database_gone(*args: Any, **kwargs: Any) -> None:
            raise OSError("connection refused")

        services.intents.submitted = database_gone  # type: ignore[method-assign]
        outcome = await send(services, intent)
        assert outcome.status == "pending"  # the caller hears what happened
        assert (await row(services, intent.id)).state == IntentState.INTENDED
        services.intents.submitted = submitted  # type: ignore[method-assign]
        await services.follower.run_once()
        assert (await row(services, intent.id)).writeback_id == outcome.writeback_id
        assert services.gateway.writebacks.unsaved == {}


async def test_past_its_maximum_age_a_write_is_handed_to_staff_once_never_withdrawn_and_still_followed(
    practice: tuple[Settings, str], sandbox: tuple[SandboxState, ThreadedServer], clock: ShiftedClock
) -> None:
    settings, account_id = practice
    state, _ = sandbox
    state.set_spu_online(DEMO_OFFICE_ID, DEMO_PRACTICE_ID, False)  # the office's computer is off all weekend
    oldest = "parlae_writebacks_pending_oldest_seconds"
    async with open_services(settings) as services:
        intent = await intend_booking(services, account_id)
        assert (await send(services, intent)).office_offline
        later(clock, services, 600)
        assert await services.follower.run_once() == 0
        assert 600 <= (services.metrics.registry.get_sample_value(oldest) or 0) < 700  # the alarm reads this age
        assert await staff_items(services, account_id) == []
        later(clock, services, 3600)  # past the maximum pending age
        await services.follower.run_once()
        later(clock, services, 600)
        await services.follower.run_once()
        (item,) = await staff_items(services, account_id)
        assert item.kind == InboxKind.WRITE_UNCONFIRMED
        assert (await row(services, intent.id)).state == IntentState.SUBMITTED  # still queued, still followed
        assert services.metrics.registry.get_sample_value(oldest) == 0  # a person has it now
        state.set_spu_online(DEMO_OFFICE_ID, DEMO_PRACTICE_ID, True)
        later(clock, services, 600)
        assert await services.follower.run_once() == 1
        assert (await row(services, intent.id)).state == IntentState.CONFIRMED
    assert state.counters["DELETE /writebacks"] == 0


async def test_with_the_office_system_offline_a_write_waits_in_sikkas_queue_until_it_is_back(
    practice: tuple[Settings, str], sandbox: tuple[SandboxState, ThreadedServer], clock: ShiftedClock
) -> None:
    settings, account_id = practice
    state, _ = sandbox
    state.set_spu_online(DEMO_OFFICE_ID, DEMO_PRACTICE_ID, False)
    async with open_services(settings) as services:
        intent = await intend_booking(services, account_id)
        outcome = await send(services, intent)
        assert (outcome.status, outcome.office_offline) == ("pending", True)
        assert state.counters["GET /writeback_status"] == 0  # answered at once: nothing to wait for
        assert (await row(services, intent.id)).office_offline
        later(clock, services, 12 * 3600)  # overnight
        assert await services.follower.run_once() == 0
        state.set_spu_online(DEMO_OFFICE_ID, DEMO_PRACTICE_ID, True)  # morning
        later(clock, services, 300)  # an old write is looked at every five minutes
        assert await services.follower.run_once() == 1
        assert (await row(services, intent.id)).state == IntentState.CONFIRMED
    assert state.counters["POST /appointment"] == 2  # the checked one (412), then the queued one


async def test_a_slot_is_held_by_one_open_write_however_many_callers_race_for_it(
    practice: tuple[Settings, str],
) -> None:
    settings, account_id = practice
    start = datetime.now(UTC) + timedelta(days=3)
    held = HeldSlot(start, 30, "DDS1", "OP1")
    recorded: list[str] = []
    replicas = 2 if settings.database_url.startswith("postgresql") else 1  # SQLite deployments are one process
    async with open_services(settings) as services, open_services(settings) as replica:

        async def take(ledger_of: Services, index: int) -> None:
            async with ledger_of.intents.slot_guard(account_id) as guard:
                holds = await guard.holds(start - timedelta(hours=1), start + timedelta(hours=1))
                if holds:
                    return
                write = Write("book_appointment", "POST", "appointment", {"n": str(index)})
                asked = Asked(tool="bookAppointment", request="book", who="x", callback_number=None, slot=held)
                intent = await guard.record(write, asked, caller(account_id), None)
                recorded.append(intent.id)

        async with anyio.create_task_group() as group:
            for index in range(20):
                group.start_soon(take, (services, replica)[index % replicas], index)
    assert len(recorded) == 1
