"""Client IPs in audit rows, through uvicorn with `FORWARDED_ALLOW_IPS=*` as deployed behind the ALB: the
address the ALB appended is recorded, and junk `X-Forwarded-For` never fails anyone's audit write."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest
from sqlalchemy import select

from sandbox import DEMO_OFFICE_ID
from server.audit import chain
from server.db.engine import create_engine, session_factory
from server.db.models import AuditLog
from tests.support import Stack, running_stack

pytestmark = pytest.mark.anyio

JUNK_FORWARDED_FOR = [
    "9" * 300,  # longer than the column
    "203.0.113.7, " + "x" * 70,
    "not an address",
    "1.2.3.4:80:90",
    "[::1",
    "198.51.100.1, 256.0.0.1",
    "fe80::1%" + "e" * 80,  # a valid zone syntax, far too long
]
ROUNDS = 3
TOOL_CALLS_PER_ROUND = 8


@pytest.fixture
def stack(database_url: str) -> Iterator[Stack]:
    with running_stack(database_url, forwarded_allow_ips="*") as running:
        yield running


def rpc(tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}


async def tool_call(
    http: httpx.AsyncClient, stack: Stack, call_id: str, forwarded_for: str | None, results: dict[str, Any]
) -> None:
    patient = next(p for p in stack.sandbox.practice(DEMO_OFFICE_ID).patients.values() if p["cell"])
    headers = {
        "Authorization": f"Bearer {stack.token}",
        "Accept": "application/json, text/event-stream",
        "X-Call-Id": call_id,
    }
    if forwarded_for is not None:
        headers["X-Forwarded-For"] = forwarded_for
    response = await http.post(stack.mcp_url, json=rpc("searchPatients", {"phone": patient["cell"]}), headers=headers)
    results[call_id] = (response.status_code, response.json())


async def junk_webhook(http: httpx.AsyncClient, stack: Stack, forwarded_for: str, statuses: list[int]) -> None:
    response = await http.post(
        f"{stack.app_url}/api/sikka/webhook/authorize",
        content=b"{}",
        headers={"X-Forwarded-For": forwarded_for, "content-type": "application/json"},
    )
    statuses.append(response.status_code)


async def test_junk_forwarded_for_never_fails_other_callers(stack: Stack) -> None:
    results: dict[str, Any] = {}
    webhook_statuses: list[int] = []
    async with httpx.AsyncClient(timeout=60) as http:
        for round_ in range(ROUNDS):
            async with anyio.create_task_group() as group:
                for n in range(TOOL_CALLS_PER_ROUND):
                    group.start_soon(tool_call, http, stack, f"ip-{round_}-{n}", None, results)
                    junk = JUNK_FORWARDED_FOR[(round_ + n) % len(JUNK_FORWARDED_FOR)]
                    group.start_soon(junk_webhook, http, stack, junk, webhook_statuses)
                group.start_soon(tool_call, http, stack, f"junk-{round_}", JUNK_FORWARDED_FOR[round_], results)
    for call_id, (status, body) in results.items():
        assert status == 200, (call_id, body)
        structured = body["result"]["structuredContent"]
        assert structured["outcome"] == "ok", (call_id, body)
    assert webhook_statuses == [401] * (ROUNDS * TOOL_CALLS_PER_ROUND)  # unsigned: refused, and audited

    engine = create_engine(stack.settings.database_url)
    async with session_factory(engine)() as session:
        rows = (await session.scalars(select(AuditLog))).all()
        _, problem = await chain.verify(session)
    await engine.dispose()
    assert problem is None, problem
    tools = {str(row.vapi_call_id): row for row in rows if row.action == "searchPatients"}
    assert set(tools) == set(results)
    for call_id, row in tools.items():
        if call_id.startswith("junk-"):
            assert (row.ip_address, row.ip_invalid) == (None, True)
        else:
            assert (row.ip_address, row.ip_invalid) == ("127.0.0.1", False)
    webhooks = [row for row in rows if row.action == "sikkaAuthorizationWebhook"]
    assert len(webhooks) == ROUNDS * TOOL_CALLS_PER_ROUND
    assert all((row.ip_address, row.ip_invalid) == (None, True) for row in webhooks), json.dumps(
        [(row.ip_address, row.ip_invalid) for row in webhooks]
    )


async def test_the_address_the_proxy_appended_is_recorded(stack: Stack) -> None:
    results: dict[str, Any] = {}
    async with httpx.AsyncClient(timeout=60) as http:
        await tool_call(http, stack, "spoofed", "10.1.2.3, 203.0.113.50", results)
        await tool_call(http, stack, "ipv6", "2001:DB8::0:1", results)
    engine = create_engine(stack.settings.database_url)
    async with session_factory(engine)() as session:
        rows = {
            row.vapi_call_id: row
            for row in await session.scalars(select(AuditLog).where(AuditLog.action == "searchPatients"))
        }
    await engine.dispose()
    assert (rows["spoofed"].ip_address, rows["spoofed"].ip_invalid) == ("203.0.113.50", False)
    assert rows["ipv6"].ip_address == "2001:db8::1"  # normalised
