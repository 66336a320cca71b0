"""Onboarding as Sikka does it, over real HTTP: the scheduled sync, the unsigned registration handshake, a
delisted location losing service, and two replicas on PostgreSQL sharing the sync."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import anyio
import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.main import create_app
from sandbox import (
    DEMO_OFFICE_ID,
    SandboxConfig,
    SandboxState,
    create_sandbox_app,
    registration_handshake,
)
from server.auth import issue_token
from server.db.engine import create_engine, session_factory
from server.db.models import AuditLog, IntegrationStatus, PmsIntegration, WebhookEvent
from server.practice_sync import claim, run_sync
from server.services import open_services
from server.settings import Settings
from tests.support import SECOND_OFFICE, SECOND_SECRET, mcp_client, serve, server_process, stack_settings
from tools import ALL_TOOLS

pytestmark = pytest.mark.anyio
WEBHOOK = "/api/sikka/webhook/authorize"


@dataclass
class Running:
    sandbox: SandboxState
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]  # the test's view of the service's database
    url: str


@asynccontextmanager
async def running(database_url: str, state: SandboxState, **overrides: Any) -> AsyncIterator[Running]:
    """The sandbox and the service (with `overrides`), each under uvicorn in its own thread."""
    engine = create_engine(database_url)
    try:
        with serve(create_sandbox_app(state)) as sandbox_server:
            settings = stack_settings(database_url, sandbox_server.url, **overrides)
            with serve(create_app(settings)) as app_server:
                yield Running(state, settings, session_factory(engine), app_server.url)
    finally:
        await engine.dispose()


def second_office(state: SandboxState, **options: Any) -> None:
    state.add_practice(SECOND_OFFICE, secret_key=SECOND_SECRET, name="Second Smile Dental", seed=7, **options)


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 30.0) -> None:
    give_up = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < give_up, "not within the time limit"
        await anyio.sleep(0.1)


async def statuses(stack: Running) -> dict[tuple[str, str], str]:
    async with stack.sessions() as session:
        rows = await session.scalars(select(PmsIntegration))
        return {(row.office_id, row.practice_id): row.status for row in rows}


async def syncs(stack: Running, actor: str) -> list[AuditLog]:
    async with stack.sessions() as session:
        query = select(AuditLog).where(AuditLog.action == "practices.sync", AuditLog.actor == actor)
        return list(await session.scalars(query.order_by(AuditLog.id)))


async def post_handshake(stack: Running, body: dict[str, Any] | bytes) -> httpx.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(stack.url + WEBHOOK, content=raw, headers={"content-type": "application/json"})


async def serves(stack: Running, token: str) -> int:
    """The HTTP status of an MCP request with `token`."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"}
    async with httpx.AsyncClient(timeout=30) as http:
        return (await http.post(f"{stack.url}/mcp", json=body, headers=headers)).status_code


async def test_the_scheduled_sync_onboards_a_new_location_without_any_webhook(database_url: str) -> None:
    state = SandboxState(SandboxConfig(writeback_delay_seconds=0.2))
    second_office(state, listed=False, access=False)
    async with running(database_url, state, practices_sync_interval_seconds=1) as stack:
        demo = {(DEMO_OFFICE_ID, "1"): "ACTIVE", (DEMO_OFFICE_ID, "2"): "ACTIVE"}
        await eventually(lambda: _equals(statuses(stack), demo))
        state.set_listed(SECOND_OFFICE, "1", True)  # the practice registered and its SPU uploaded its data
        await eventually(lambda: _equals(statuses(stack), {**demo, (SECOND_OFFICE, "1"): "ACTIVE"}))
        await eventually(lambda: _equals(api_access(stack, SECOND_OFFICE), "on"))  # the same sync, after activating
        assert state.practice(SECOND_OFFICE).access  # its API access was turned on
        async with stack.sessions() as session:
            account_id = await session.scalar(
                select(PmsIntegration.account_id).where(PmsIntegration.office_id == SECOND_OFFICE)
            )
            assert await session.scalar(select(func.count()).select_from(WebhookEvent)) == 0
        assert account_id is not None
        token = (await issue_token(stack.sessions, account_id, "vapi")).token
        async with mcp_client(f"{stack.url}/mcp", token) as client:
            assert len((await client.list_tools()).tools) == len(ALL_TOOLS)  # the token serves every tool
        assert {row.actor for row in await syncs(stack, "scheduler")} == {"scheduler"}


async def test_a_handshake_for_a_listed_office_onboards_it_at_once(database_url: str) -> None:
    state = SandboxState(SandboxConfig(writeback_delay_seconds=0.2))
    second_office(state)
    body = registration_handshake(state.practice(SECOND_OFFICE))
    async with running(database_url, state) as stack:
        response = await post_handshake(stack, body)
        assert (response.status_code, response.json()) == (202, {"status": "accepted", "sync": "started"})
        await eventually(lambda: _has_rows(syncs(stack, "webhook")))  # recorded when the sync has finished
        assert await statuses(stack) == {(SECOND_OFFICE, "1"): "ACTIVE"}  # that office only
        (sync,) = await syncs(stack, "webhook")
        assert sync.request_summary.startswith(f"office {SECOND_OFFICE}: 1 activated")
        async with stack.sessions() as session:
            (delivery,) = await session.scalars(select(AuditLog).where(AuditLog.action == "sikkaAuthorizationWebhook"))
            rows = (await session.scalars(select(AuditLog))).all()
        assert delivery.request_summary == f"registration handshake (purchase) for office {SECOND_OFFICE}: sync started"
        assert (delivery.account_id, delivery.response_status, delivery.outcome) == ("system", 202, "success")
        stored = json.dumps([{c.name: str(getattr(r, c.key)) for c in r.__table__.columns} for r in rows])
        for unread in ("SPUInstallationKey", "EmailAddress"):
            assert body[unread] not in stored


async def test_a_forged_handshake_for_an_unlisted_office_creates_nothing(database_url: str) -> None:
    state = SandboxState(SandboxConfig(writeback_delay_seconds=0.2))
    second_office(state, listed=False)
    async with running(database_url, state) as stack:
        response = await post_handshake(stack, registration_handshake(state.practice(SECOND_OFFICE)))
        assert (response.status_code, response.json()["status"]) == (202, "accepted")  # unlisted: 2xx all the same
        await eventually(lambda: _has_rows(syncs(stack, "webhook")))
        assert await statuses(stack) == {}
        assert state.counters["POST /request_key:request_key"] == 0


async def test_handshakes_are_rate_limited(database_url: str) -> None:
    state = SandboxState(SandboxConfig(writeback_delay_seconds=0.2))
    second_office(state)
    body = registration_handshake(state.practice(SECOND_OFFICE))
    async with running(database_url, state) as stack:
        answers = [(await post_handshake(stack, body)).json()["sync"] for _ in range(3)]
        other = await post_handshake(stack, registration_handshake(state.practice(DEMO_OFFICE_ID)))
        assert answers == ["started", "deferred", "deferred"]  # one per office per minute
        assert other.json()["sync"] == "deferred"  # and one per ten seconds in all
        await eventually(lambda: _has_rows(syncs(stack, "webhook")))
        assert state.counters["GET /authorized_practices"] == 1
        assert await statuses(stack) == {(SECOND_OFFICE, "1"): "ACTIVE"}


async def test_malformed_handshakes_are_refused_and_change_nothing(database_url: str) -> None:
    refused: list[tuple[dict[str, Any] | bytes, int, str]] = [
        ({"Source": "Sikka", "Status": "Active"}, 400, "invalid or missing fields: MasterCustomerID"),
        ({"MasterCustomerID": "D1/../x", "EmailAddress": "leak@example.com"}, 400, "MasterCustomerID"),
        ({"MasterCustomerID": {"office": "D1"}}, 400, "MasterCustomerID"),
        (json.dumps({"MasterCustomerID": "D1", "PracticeName": "x" * 70_000}).encode(), 413, "body exceeds"),
    ]
    async with running(database_url, SandboxState()) as stack:
        for body, status, error in refused:
            response = await post_handshake(stack, body)
            assert response.status_code == status
            assert error in response.json()["error"]
            assert "leak@example.com" not in response.text
        assert stack.sandbox.counters["GET /authorized_practices"] == 0
        assert await statuses(stack) == {}


async def test_a_cancellation_counts_as_a_sync_of_its_office(database_url: str) -> None:
    state = SandboxState(SandboxConfig(writeback_delay_seconds=0.2))
    second_office(state)
    async with running(database_url, state) as stack:
        await sync_now(stack.settings)
        state.set_listed(SECOND_OFFICE, "1", False)
        cancelled = registration_handshake(state.practice(SECOND_OFFICE), "Cancelled")
        assert (await post_handshake(stack, cancelled)).json()["sync"] == "started"
        await eventually(lambda: _has_rows(syncs(stack, "webhook")))
        (sync,) = await syncs(stack, "webhook")
        assert "1 missed" in sync.request_summary
        assert (await statuses(stack))[SECOND_OFFICE, "1"] == "ACTIVE"  # one miss: still serving
        await sync_now(stack.settings)
        assert (await statuses(stack))[SECOND_OFFICE, "1"] == "INACTIVE"


async def test_a_delisted_location_stops_serving_after_two_syncs(database_url: str) -> None:
    state = SandboxState(SandboxConfig(writeback_delay_seconds=0.2))
    async with running(database_url, state, practices_sync_interval_seconds=1) as stack:
        demo = {(DEMO_OFFICE_ID, "1"): "ACTIVE", (DEMO_OFFICE_ID, "2"): "ACTIVE"}
        await eventually(lambda: _equals(statuses(stack), demo))
        async with stack.sessions() as session:
            account_id = await session.scalar(
                select(PmsIntegration.account_id).filter_by(office_id=DEMO_OFFICE_ID, practice_id="1")
            )
        assert account_id is not None
        token = (await issue_token(stack.sessions, account_id, "vapi")).token
        assert await serves(stack, token) == 200  # and cached for TOKEN_CACHE_SECONDS
        state.set_listed(DEMO_OFFICE_ID, "1", False)
        await eventually(lambda: _equals(_status_of(stack, account_id), IntegrationStatus.INACTIVE))
        assert await serves(stack, token) == 401  # refused at once by the replica that deactivated it
        async with stack.sessions() as session:
            integration = await session.scalar(select(PmsIntegration).filter_by(account_id=account_id))
        assert integration is not None
        assert integration.missed_syncs == 2


SYNC_INTERVAL = 2


@pytest.mark.postgres
@pytest.mark.slow
async def test_two_replicas_on_postgresql_never_both_sync(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("replicas sharing a database need PostgreSQL")
    state = SandboxState(SandboxConfig(writeback_delay_seconds=0.2, latency_seconds=0.2))  # syncs take a while
    with serve(create_sandbox_app(state)) as sandbox_server:
        settings = stack_settings(database_url, sandbox_server.url, practices_sync_interval_seconds=SYNC_INTERVAL)
        with server_process(settings), server_process(settings):
            await anyio.sleep(10)
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            runs = (await session.scalars(select(AuditLog).where(AuditLog.action == "practices.sync"))).all()
    finally:
        await engine.dispose()
    spans = sorted((r.recorded_at.timestamp() - r.response_time_ms / 1000, r.recorded_at.timestamp()) for r in runs)
    window = spans[-1][1] - spans[0][0]  # from the first sync's start (the replicas' start-up is slow under load)
    assert 2 <= len(spans) <= window / SYNC_INTERVAL + 2  # one per interval in all, not one per replica
    overlaps = [(a, b) for a, b in pairwise(spans) if b[0] < a[1]]
    assert overlaps == []


async def sync_now(settings: Settings) -> None:
    """A full sync from the test's own process (as `practices sync` would run it)."""
    async with open_services(settings) as services:
        lease = await claim(services, wait_seconds=30)
        assert lease is not None
        await run_sync(services, lease, actor="cli")


async def _equals(value: Awaitable[Any], expected: Any) -> bool:
    return bool(await value == expected)


async def _has_rows(rows: Awaitable[list[AuditLog]]) -> bool:
    return bool(await rows)


async def api_access(stack: Running, office_id: str) -> str | None:
    async with stack.sessions() as session:
        return await session.scalar(select(PmsIntegration.api_access).filter_by(office_id=office_id))


async def _status_of(stack: Running, account_id: str) -> str | None:
    async with stack.sessions() as session:
        return await session.scalar(select(PmsIntegration.status).filter_by(account_id=account_id))
