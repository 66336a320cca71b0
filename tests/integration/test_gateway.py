"""The Sikka gateway against the sandbox over real HTTP: key lifecycle, caching, writebacks, deadlines."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest
from sqlalchemy import select

from sandbox import DEMO_OFFICE_ID, DEMO_SECRET_KEY, SandboxConfig, SandboxState, create_sandbox_app
from server.db.models import Writeback
from server.services import Services, open_services
from server.settings import Settings
from server.sikka.client import Deadline
from server.sikka.errors import SikkaError, SikkaUnavailable
from server.sikka.records import Patient
from tests.support import ThreadedServer, onboard, practice_today, serve, stack_settings
from tools.availability import DayPlan

pytestmark = pytest.mark.anyio


class ShiftedClock:
    """The sandbox's clock, movable forward without sleeping."""

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
    settings = stack_settings(database_url, server.url, writeback_budget_seconds=6.0)
    account_id, _ = await onboard(settings, DEMO_OFFICE_ID, DEMO_SECRET_KEY)
    state.reset_counters()
    return settings, account_id


async def expire_stored_key(services: Services, account_id: str) -> None:
    credentials = await services.vault.reload(account_id)
    await services.vault.put(account_id, credentials.model_copy(update={"token_expiry": datetime.now(UTC)}))
    services.vault.invalidate(account_id)


async def read_patients(services: Services, account_id: str, results: list[Any]) -> None:
    results.append(await services.gateway.practice(account_id, Deadline.after(10)).items("patients", {"limit": 1}))


async def test_100_concurrent_calls_with_an_expired_key_refresh_once(
    practice: tuple[Settings, str], sandbox: tuple[SandboxState, ThreadedServer]
) -> None:
    settings, account_id = practice
    state, _ = sandbox
    async with open_services(settings) as services:
        await expire_stored_key(services, account_id)
        results: list[Any] = []
        async with anyio.create_task_group() as group:
            for _ in range(100):
                group.start_soon(read_patients, services, account_id, results)
    assert len(results) == 100
    assert state.counters["POST /request_key:refresh_key"] == 1
    assert state.counters["POST /request_key:request_key"] == 0
    assert state.counters["GET /patients"] == 100


@pytest.mark.postgres
async def test_two_replicas_refresh_once(
    practice: tuple[Settings, str], sandbox: tuple[SandboxState, ThreadedServer]
) -> None:
    settings, account_id = practice
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("replicas share a PostgreSQL database")
    state, _ = sandbox
    async with open_services(settings) as first, open_services(settings) as second:
        await expire_stored_key(first, account_id)
        second.vault.invalidate(account_id)
        results: list[Any] = []
        async with anyio.create_task_group() as group:
            for index in range(100):
                group.start_soon(read_patients, (first, second)[index % 2], account_id, results)
    assert len(results) == 100
    assert state.counters["POST /request_key:refresh_key"] == 1
    assert state.counters["POST /request_key:request_key"] == 0


async def test_a_rejected_key_is_replaced_once_and_the_call_retried(
    practice: tuple[Settings, str], sandbox: tuple[SandboxState, ThreadedServer]
) -> None:
    settings, account_id = practice
    state, _ = sandbox
    async with open_services(settings) as services:
        await read_patients(services, account_id, [])
        state.expire_request_keys()  # Sikka now answers API1025 (HTTP 400) to the key we hold
        results: list[Any] = []
        async with anyio.create_task_group() as group:
            for _ in range(20):
                group.start_soon(read_patients, services, account_id, results)
    assert len(results) == 20
    assert state.counters["POST /request_key:refresh_key"] + state.counters["POST /request_key:request_key"] == 1


async def test_a_failed_key_renewal_is_counted_once_per_failure(
    practice: tuple[Settings, str], sandbox: tuple[SandboxState, ThreadedServer]
) -> None:
    settings, account_id = practice
    state, _ = sandbox
    async with open_services(settings) as services:
        failures = "parlae_key_renewal_failures_total"
        assert services.metrics.registry.get_sample_value(failures) == 0
        await expire_stored_key(services, account_id)
        state.faults.add(endpoint="request_key", malformed=True)  # Sikka answers garbage
        with pytest.raises(SikkaError):
            await read_patients(services, account_id, [])
        assert services.metrics.registry.get_sample_value(failures) == 1
        state.faults.clear()
        await read_patients(services, account_id, [])  # renewed now; the counter stays
        assert services.metrics.registry.get_sample_value(failures) == 1


async def test_warm_calls_do_not_read_the_vault(practice: tuple[Settings, str]) -> None:
    settings, account_id = practice
    async with open_services(settings) as services:
        await read_patients(services, account_id, [])
        reads = services.vault.reads
        for _ in range(1000):
            await services.request_keys.request_key(account_id, Deadline.after(5))
        assert services.vault.reads == reads


async def book(services: Services, account_id: str, hour: int, *, days_ahead: int = 40) -> Any:
    """Book the first demo patient with the first bookable provider at `hour`, on the first day at least
    `days_ahead` days out that the practice's own schedule has that provider working then."""
    practice = services.gateway.practice(account_id, Deadline.after(30))
    metadata = await practice.metadata()
    patient = Patient.from_item((await practice.items("patients", {"status": "Active"}))[0])
    provider = metadata.bookable_providers[0]
    day = practice_today() + timedelta(days=days_ahead)
    plan = DayPlan.build(day, metadata, [])
    while not any(start.hour <= hour < end.hour for start, end in plan.provider_hours(provider)):
        day += timedelta(days=1)
        plan = DayPlan.build(day, metadata, [])
    return await practice.book(
        patient=patient,
        start=datetime.combine(day, datetime.min.time()).replace(hour=hour),
        length_minutes=30,
        provider=provider,
        operatory=metadata.open_operatories[0],
        visit=None,
        note=None,
    )


async def test_a_writeback_that_completes_in_a_second_is_confirmed_with_created_id(
    practice: tuple[Settings, str], sandbox: tuple[SandboxState, ThreadedServer]
) -> None:
    settings, account_id = practice
    state, _ = sandbox
    async with open_services(settings) as services:
        outcome = await book(services, account_id, hour=9)
    assert outcome.status == "confirmed"
    (writeback,) = state.writebacks_of(DEMO_OFFICE_ID)
    assert outcome.created_id == writeback.status_row()["created_id"]
    assert outcome.created_id != outcome.writeback_id
    assert outcome.created_id in state.practice(DEMO_OFFICE_ID).appointments


async def test_a_slow_writeback_is_pending_then_followed_to_its_end(
    practice: tuple[Settings, str], sandbox: tuple[SandboxState, ThreadedServer], clock: ShiftedClock
) -> None:
    settings, account_id = practice
    state, _ = sandbox
    state.config.writeback_delay_seconds = 30
    settings = settings.model_copy(update={"writeback_budget_seconds": 1.5})
    async with open_services(settings) as services:
        started = time.monotonic()
        outcome = await book(services, account_id, hour=10)
        assert outcome.status == "pending"
        assert time.monotonic() - started < settings.writeback_budget_seconds + 1
        assert await services.follower.run_once() == 0  # still pending at Sikka
        clock.offset = timedelta(seconds=31)
        services.follower.clock = clock  # the follower's next poll is due on the same (shifted) clock
        assert await services.follower.run_once() == 1
        async with services.sessions() as session:
            row = await session.scalar(select(Writeback).where(Writeback.writeback_id == outcome.writeback_id))
    assert row is not None
    assert row.status == "confirmed"
    assert row.created_id in state.practice(DEMO_OFFICE_ID).appointments


async def test_a_failing_writeback_reports_sikkas_message(
    practice: tuple[Settings, str], sandbox: tuple[SandboxState, ThreadedServer]
) -> None:
    settings, account_id = practice
    state, _ = sandbox
    state.faults.add(endpoint="appointment", writeback_failure="Appointment already scheduled for this time slot")
    async with open_services(settings) as services:
        outcome = await book(services, account_id, hour=11)
    assert outcome.status == "failed"
    assert outcome.message == "Appointment already scheduled for this time slot"


async def test_latency_past_the_deadline_fails_as_unavailable_in_time(
    practice: tuple[Settings, str], sandbox: tuple[SandboxState, ThreadedServer]
) -> None:
    settings, account_id = practice
    state, _ = sandbox
    async with open_services(settings) as services:
        await read_patients(services, account_id, [])  # a valid key first: only the read is slow
        state.faults.add(endpoint="patients", latency_seconds=10)
        started = time.monotonic()
        with pytest.raises(SikkaUnavailable):
            await services.gateway.practice(account_id, Deadline.after(5)).items("patients")
        elapsed = time.monotonic() - started
    assert elapsed <= 5.5


async def test_a_writeback_pending_too_long_is_withdrawn(
    practice: tuple[Settings, str], sandbox: tuple[SandboxState, ThreadedServer]
) -> None:
    settings, account_id = practice
    state, _ = sandbox
    state.config.writeback_delay_seconds = 3600
    settings = settings.model_copy(update={"writeback_budget_seconds": 0.5})
    oldest = "parlae_writebacks_pending_oldest_seconds"
    async with open_services(settings) as services:
        outcome = await book(services, account_id, hour=14)
        assert outcome.status == "pending"
        services.follower.clock = lambda: datetime.now(UTC) + timedelta(minutes=10)  # still within the maximum age
        assert await services.follower.run_once() == 0
        age = services.metrics.registry.get_sample_value(oldest)
        assert age is not None
        assert 600 <= age < 660  # the alarm reads this age
        services.follower.clock = lambda: datetime.now(UTC) + timedelta(hours=1)  # past the 30-minute maximum age
        assert await services.follower.run_once() == 1
        assert services.metrics.registry.get_sample_value(oldest) == 0
        async with services.sessions() as session:
            row = await session.scalar(select(Writeback).where(Writeback.writeback_id == outcome.writeback_id))
    assert row is not None
    assert row.status == "cancelled"
    assert state.counters["DELETE /writebacks"] == 1
    assert not any(w.status_row()["id"] == outcome.writeback_id for w in state.writebacks_of(DEMO_OFFICE_ID))
