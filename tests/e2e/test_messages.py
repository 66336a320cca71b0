"""A message left on a call survives a restart and reaches the practice's receiver, signed, after one retry; the
operator CLI sets the notify URL (its secret shown once), lists and resolves messages, and refuses bad usage."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.main import create_app
from sandbox import DEMO_OFFICE_ID, DEMO_SECRET_KEY, SandboxConfig, SandboxState, create_sandbox_app
from server.services import build_services, open_services
from server.settings import Settings
from tests.support import ThreadedServer, call, mcp_client, onboard, serve, settings_env, stack_settings

pytestmark = pytest.mark.anyio
MESSAGE = {"callerName": "Jo Caller", "callbackNumber": "212-555-0142", "reason": "Please call about my crown"}


@dataclass
class Receiver:
    """The practice's endpoint: records every delivery; fails the first one."""

    statuses: list[int] = field(default_factory=lambda: [500, 204])
    received: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)

    async def hook(self, request: Request) -> Response:
        self.received.append((await request.body(), dict(request.headers)))
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return Response(status_code=status)


@dataclass
class Practice:
    settings: Settings
    account_id: str
    token: str
    receiver: Receiver
    receiver_url: str

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, **settings_env(self.settings), "LOG_LEVEL": "WARNING"}
        result = subprocess.run(
            [sys.executable, "-m", "app", *args], env=env, capture_output=True, text=True, timeout=120, check=False
        )
        if check:
            assert result.returncode == 0, result.stderr
        return result

    def cli_json(self, *args: str) -> Any:
        return json.loads(self.cli(*args, "--json").stdout)

    def app(self, *, deliver_every: float, retry_after: float) -> ThreadedServer:
        services = build_services(self.settings)
        services.delivery.interval = deliver_every
        services.delivery.retry_delays = (timedelta(seconds=retry_after),) * 3
        return ThreadedServer(create_app(self.settings, services=services)).start()


@pytest.fixture
def practice(tmp_path: Path) -> Iterator[Practice]:
    receiver = Receiver()
    hooks = Starlette(routes=[Route("/hook", receiver.hook, methods=["POST"])])
    state = SandboxState(SandboxConfig(writeback_delay_seconds=0.2))
    with serve(create_sandbox_app(state)) as sandbox, serve(hooks) as receiving:
        settings = stack_settings(f"sqlite+aiosqlite:///{tmp_path / 'messages.db'}", sandbox.url)
        account_id, token = asyncio.run(onboard(settings, DEMO_OFFICE_ID, DEMO_SECRET_KEY))
        yield Practice(settings, account_id, token, receiver, f"{receiving.url}/hook")


async def wait_for(condition: Callable[[], Awaitable[bool]], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not await condition():
        assert time.monotonic() < deadline, "timed out"
        await anyio.sleep(0.05)


async def is_delivered(practice: Practice) -> bool:
    async with open_services(practice.settings) as services:
        (message,) = await services.inbox.open_items(practice.account_id)
    return [d.status for d in message.deliveries] == ["delivered"]


async def test_a_message_survives_a_restart_and_is_delivered_signed_after_a_retry(practice: Practice) -> None:
    configured = practice.cli_json(
        "practices", "notify-url", "--account-id", practice.account_id, "--url", practice.receiver_url
    )
    secret = configured["secret"]
    assert secret.startswith("whsec_")
    assert configured["queued"] == 0  # no message was waiting

    first = practice.app(deliver_every=3600, retry_after=0.2)  # its worker ran once at start, then sleeps
    try:
        async with mcp_client(f"{first.url}/mcp", practice.token, call_id="call-restart") as client:
            taken = await call(client, "takeMessage", {**MESSAGE, "urgency": "soon"})
    finally:
        first.stop()
    assert (taken["outcome"], taken["code"]) == ("confirmed", "message_taken"), taken
    assert practice.receiver.received == []
    (waiting,) = practice.cli_json("messages", "list", "--account-id", practice.account_id)["messages"]
    assert (waiting["id"], waiting["kind"], waiting["callerName"]) == (taken["messageId"], "message", "Jo Caller")
    assert [(d["channel"], d["status"]) for d in waiting["deliveries"]] == [("webhook", "pending")]
    assert waiting["callbackNumber"] == "+12125550142"

    second = practice.app(deliver_every=0.1, retry_after=0.2)
    try:
        await wait_for(lambda: is_delivered(practice))
    finally:
        second.stop()
    assert len(practice.receiver.received) == 2
    for body, headers in practice.receiver.received:  # the failed attempt and its retry, each signed afresh
        assert headers["webhook-id"] == taken["messageId"]
        data = Webhook(secret).verify(body, headers)["data"]
        assert (data["reason"], data["urgency"], data["callId"]) == (MESSAGE["reason"], "soon", "call-restart")
    (delivered,) = practice.cli_json("messages", "list", "--account-id", practice.account_id)["messages"]
    (webhook,) = delivered["deliveries"]
    assert (webhook["status"], webhook["attempts"], webhook["lastError"]) == ("delivered", 2, None)

    resolved = practice.cli_json("messages", "resolve", "--id", taken["messageId"])
    assert resolved == {"id": taken["messageId"], "resolved": True}
    assert practice.cli_json("messages", "list", "--account-id", practice.account_id) == {"messages": []}
    assert practice.cli("messages", "resolve", "--id", taken["messageId"], check=False).returncode == 1


def test_notify_url_usage(practice: Practice) -> None:
    account = ("practices", "notify-url", "--account-id", practice.account_id)
    insecure = practice.cli(*account, "--url", "http://practice.example.com/hook", check=False)
    assert insecure.returncode == 2
    assert "https://" in insecure.stderr
    assert practice.cli(*account, check=False).returncode == 2  # neither --url nor --clear
    assert practice.cli(*account, "--url", practice.receiver_url, "--clear", check=False).returncode == 2
    unknown = practice.cli(
        "practices", "notify-url", "--account-id", "nope", "--url", practice.receiver_url, check=False
    )
    assert unknown.returncode == 1
    shown = practice.cli(*account, "--url", practice.receiver_url).stdout
    assert "signing secret (shown once): whsec_" in shown
    assert "open inbox items queued for delivery: 0" in shown
    assert practice.cli_json(*account, "--clear") == {"accountId": practice.account_id, "cleared": True}
    assert practice.cli_json(*account, "--clear") == {"accountId": practice.account_id, "cleared": False}
