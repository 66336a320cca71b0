"""The Sikka gateway against the sandbox over real HTTP: key lifecycle, caching, deadlines (writes:
tests/integration/test_intents.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest

from sandbox import DEMO_OFFICE_ID, DEMO_SECRET_KEY, SandboxConfig, SandboxState, create_sandbox_app
from server.services import Services, open_services
from server.settings import Settings
from server.sikka.client import Deadline
from server.sikka.errors import SikkaError, SikkaUnavailable
from tests.support import ThreadedServer, onboard, serve, stack_settings

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
