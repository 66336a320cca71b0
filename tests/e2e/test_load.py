"""Load: 2,000 tool calls from 50 concurrent clients through uvicorn. Zero 5xx, one audit row per call, an
intact audit chain, and no duplicated booking even when the model retries or two calls race for a slot."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from sqlalchemy import select

from sandbox import DEMO_OFFICE_ID
from server.audit import chain
from server.db.engine import create_engine, session_factory
from server.db.models import AuditLog
from tests.support import Stack, identity, practice_today, running_stack, server_process

pytestmark = [pytest.mark.anyio, pytest.mark.load]
CALLS = 2000
CLIENTS = 50
BOOKINGS = 60  # distinct slots, each booked twice with one call id (a model retry) and once by a rival call


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The sandbox (in this process), and the service as its own process under uvicorn, as in production."""
    database = tmp_path_factory.mktemp("load") / "parlae.db"
    with (
        running_stack(f"sqlite+aiosqlite:///{database}", serve_app=False) as running,
        server_process(running.settings) as server,
    ):
        running.app_url = server.url
        yield running


def patients(stack: Stack) -> list[dict[str, str]]:
    return [
        p for p in stack.sandbox.practice(DEMO_OFFICE_ID).patients.values() if p["status"] == "Active" and p["cell"]
    ]


def plan_reads(stack: Stack, count: int, rng: random.Random) -> list[tuple[str, str, dict[str, Any]]]:
    people = patients(stack)
    day = practice_today() + timedelta(days=5)
    calls = []
    for n in range(count):
        person = rng.choice(people)
        kind = n % 4
        if kind == 0:
            calls.append(("searchPatients", {"phone": person["cell"]}))
        elif kind == 1:
            calls.append(("getPatientInfo", identity(person)))
        elif kind == 2:
            calls.append(("checkAvailability", {"date": (day + timedelta(days=n % 7)).isoformat()}))
        else:
            calls.append(("searchPatients", {"name": person["lastname"]}))
    return [(f"read-{n}", tool, arguments) for n, (tool, arguments) in enumerate(calls)]


async def free_slots(stack: Stack, headers: dict[str, str]) -> tuple[list[dict[str, Any]], int]:
    """Distinct bookable 30-minute starts across the next weeks, and how many (audited) calls found them."""
    slots: list[dict[str, Any]] = []
    day, calls = practice_today() + timedelta(days=15), 0
    async with httpx2.AsyncClient(headers=headers) as http:
        while len(slots) < BOOKINGS:
            async with Client(streamable_http_client(stack.mcp_url, http_client=http), mode="2026-07-28") as client:
                result = await client.call_tool("checkAvailability", {"date": day.isoformat()})
            calls += 1
            slots += (result.structured_content or {}).get("slots", [])
            day += timedelta(days=1)
    return slots[:BOOKINGS], calls


def plan_bookings(
    stack: Stack, slots: list[dict[str, Any]], rng: random.Random
) -> list[tuple[str, str, dict[str, Any]]]:
    people = patients(stack)
    calls = []
    for n, slot in enumerate(slots):
        first, rival = rng.sample(people, 2)

        def booking(person: dict[str, str], slot: dict[str, Any] = slot) -> dict[str, Any]:
            return {
                **identity(person),
                "startTime": slot["startTime"],
                "providerId": slot["providerId"],
            }

        calls += [
            (f"book-{n}", "bookAppointment", booking(first)),
            (f"book-{n}", "bookAppointment", booking(first)),  # the model retries with the same call id
            (f"rival-{n}", "bookAppointment", booking(rival)),  # another caller wants the same slot
        ]
    return calls


async def test_2000_calls_from_50_clients(stack: Stack) -> None:
    rng = random.Random(2026)
    statuses: Counter[int] = Counter()
    outcomes: Counter[str] = Counter()
    failures: list[str] = []

    async def record_status(response: httpx2.Response) -> None:
        statuses[response.status_code] += 1

    headers = {"Authorization": f"Bearer {stack.token}"}
    slots, setup_calls = await free_slots(stack, headers)
    work = plan_bookings(stack, slots, rng)
    work += plan_reads(stack, CALLS - len(work), rng)
    rng.shuffle(work)
    send, receive = anyio.create_memory_object_stream[tuple[str, str, dict[str, Any]]](len(work))
    for item in work:
        send.send_nowait(item)
    send.close()

    async def client_worker() -> None:
        """One MCP client (one HTTP connection) per worker, as a Vapi worker would keep; a call id per call."""
        async with (
            httpx2.AsyncClient(headers=headers, event_hooks={"response": [record_status]}, timeout=60) as http,
            Client(streamable_http_client(stack.mcp_url, http_client=http), mode="2026-07-28") as client,
        ):
            await client.list_tools()
            async for call_id, tool, arguments in receive:
                http.headers["X-Call-Id"] = call_id
                try:
                    result = await client.call_tool(tool, arguments)
                except Exception as exc:  # counted, then asserted on: the load must not produce any
                    failures.append(f"{tool}: {type(exc).__name__}")
                    continue
                data = result.structured_content or {}
                outcomes[f"{tool}:{data.get('outcome')}"] += 1
                if result.is_error:
                    failures.append(f"{tool}: {data.get('code')}")

    async with anyio.create_task_group() as group:
        for _ in range(CLIENTS):
            group.start_soon(client_worker)

    assert failures == []
    assert sum(statuses.values()) >= CALLS
    assert all(status < 500 for status in statuses), statuses
    assert sum(outcomes.values()) == CALLS
    assert await audited_calls(stack) == CALLS + setup_calls
    assert_no_double_booking(stack, slots)
    assert outcomes["bookAppointment:confirmed"] + outcomes["bookAppointment:pending"] >= BOOKINGS


async def audited_calls(stack: Stack) -> int:
    """Tool-call audit rows of the practice, after checking that every chain is intact and that every write a
    call sent has its `write.requested` record and, once final, its `write.outcome`."""
    engine = create_engine(stack.settings.database_url)
    async with session_factory(engine)() as session:
        actions = Counter(await session.scalars(select(AuditLog.action).where(AuditLog.account_id == stack.account_id)))
        _, problem = await chain.verify(session)
    await engine.dispose()
    assert problem is None, problem.describe()
    assert actions["write.requested"] >= actions["write.outcome"] > 0
    return sum(count for action, count in actions.items() if not action.startswith("write."))


def assert_no_double_booking(stack: Stack, slots: list[dict[str, Any]]) -> None:
    appointments = [a for a in stack.sandbox.practice(DEMO_OFFICE_ID).appointments.values() if a["cancelled"] != "True"]
    for slot in slots:
        start = slot["startTime"][:16]
        at_slot = [
            a
            for a in appointments
            if f"{a['date'][:10]}T{a['time']}" == start and a["provider_id"] == slot["providerId"]
        ]
        assert len(at_slot) == 1, (start, at_slot)
