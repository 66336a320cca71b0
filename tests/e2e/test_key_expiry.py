"""Request keys under load, through `parlae-mcp serve` processes. Every key expires at Sikka at once
(`POST /_admin/keys/expire`) while the servers' caches still hold the key they started with and the vault a newer
one (a sync elsewhere re-keyed the office for a new secret key), then 100 tool calls arrive, 50 at a time: they
answer with no error and exactly one key grant, with one server process, and with two sharing PostgreSQL. A
restart with a fresh stored key, its scheduled sync included, makes no grant."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import anyio
import httpx
import pytest

from sandbox import DEMO_OFFICE_ID, SandboxState
from server.practice_sync import Change, claim, run_sync
from server.services import open_services
from server.settings import Settings
from tests.support import Stack, call, mcp_client, patient_with_own_cell, running_stack, server_process

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
CALLS = 100
AT_ONCE = 50


def grants(state: SandboxState) -> int:
    """Key grants Sikka made: exchanges (`grant_type=request_key`) and refreshes."""
    return state.counters["POST /request_key:request_key"] + state.counters["POST /request_key:refresh_key"]


@pytest.fixture
def stack(database_url: str) -> Iterator[Stack]:
    # The longest deadline Vapi allows: a test about keys must not fail on a busy test machine's slowness.
    with running_stack(database_url, sikka_deadline_seconds=19.0, serve_app=False) as running:
        yield running


@contextmanager
def servers(settings: Settings, count: int) -> Iterator[list[str]]:
    """`count` server processes sharing the settings (and so the database); their base URLs."""
    with ExitStack() as processes:
        yield [processes.enter_context(server_process(settings)).url for _ in range(count)]


async def searches(stack: Stack, urls: list[str], calls: int = CALLS) -> list[dict[str, Any]]:
    """`calls` patient searches spread over the servers, AT_ONCE at a time, each its own MCP session."""
    phone = patient_with_own_cell(stack)["cell"]
    limiter = anyio.CapacityLimiter(AT_ONCE)
    answers: list[dict[str, Any]] = []

    async def one(n: int) -> None:
        async with limiter, mcp_client(f"{urls[n % len(urls)]}/mcp", stack.token, call_id=f"expiry-{n}") as client:
            answers.append(await call(client, "searchPatients", {"phone": phone}))

    async with anyio.create_task_group() as group:
        for n in range(calls):
            group.start_soon(one, n)
    return answers


def failures(answers: list[dict[str, Any]]) -> list[str]:
    return [str(a.get("code")) for a in answers if a["isError"] or a.get("outcome") != "ok"]


async def sync_elsewhere(settings: Settings) -> list[Change]:
    """A full sync run by another process (the CLI, another replica): what it changed."""
    async with open_services(settings) as services:
        lease = await claim(services)
        assert lease is not None
        report = await run_sync(services, lease, actor="cli")
    return [change.change for change in report.changes]


@pytest.mark.parametrize("processes", [1, pytest.param(2, marks=pytest.mark.postgres)])
async def test_every_key_expiring_under_load_costs_one_grant_and_no_error(stack: Stack, processes: int) -> None:
    if processes > 1 and not stack.settings.database_url.startswith("postgresql"):
        pytest.skip("several server processes share a PostgreSQL database")
    with servers(stack.settings, processes) as urls:
        assert failures(await searches(stack, urls, calls=len(urls))) == []  # each server holds the first key
        stack.sandbox.set_secret_key(DEMO_OFFICE_ID, "n" * 32)  # the office authorised the app again
        assert Change.REKEYED in await sync_elsewhere(stack.settings)  # the vault now holds a newer key
        async with httpx.AsyncClient(base_url=stack.sandbox_url) as admin:
            assert (await admin.post("/_admin/keys/expire")).status_code == 204  # and it expires too
        stack.sandbox.reset_counters()

        answers = await searches(stack, urls)

    assert len(answers) == CALLS
    assert failures(answers) == []
    assert grants(stack.sandbox) == 1
    assert stack.sandbox.counters["POST /request_key:refresh_key"] == 1  # the stored refresh key did it


async def test_a_restart_with_a_fresh_stored_key_makes_no_grant(stack: Stack) -> None:
    await sync_elsewhere(stack.settings)  # both demo locations onboarded, with fresh keys
    stack.sandbox.reset_counters()
    settings = stack.settings.model_copy(update={"practices_sync_interval_seconds": 3600})
    with servers(settings, 1) as urls:
        assert failures(await searches(stack, urls, calls=10)) == []
        synced_at_startup(urls[0])
    assert stack.sandbox.counters["GET /authorized_practices"] >= 1
    assert grants(stack.sandbox) == 0


def synced_at_startup(url: str, timeout: float = 30.0) -> None:
    """Wait for the server's first scheduled sync to succeed (its metric)."""
    deadline = time.monotonic() + timeout
    while 'parlae_practice_sync_runs_total{result="success"} 1.0' not in httpx.get(f"{url}/metrics").text:
        assert time.monotonic() < deadline, "no scheduled sync at startup"
        time.sleep(0.1)
