"""Test harness: the sandbox and the service under real uvicorn (each in its own thread and event loop, on
free 127.0.0.1 ports), a migrated database, onboarded practices, and SDK clients."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import httpx
import httpx2
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from pydantic import SecretStr
from standardwebhooks import Webhook
from starlette.types import ASGIApp

from app.main import create_app
from sandbox import (
    DEMO_APP_ID,
    DEMO_APP_KEY,
    DEMO_OFFICE_ID,
    DEMO_SECRET_KEY,
    SandboxConfig,
    SandboxState,
    create_sandbox_app,
    open_hours,
)
from server.auth import issue_token
from server.db import migrate
from server.db.engine import create_engine
from server.onboarding import Onboarding, PracticeRef
from server.services import open_services
from server.settings import Settings
from tests.conftest import make_settings
from tests.outcome_codes import CODES

DEMO_ZONE = ZoneInfo("America/New_York")  # the demo practice's ("Eastern Standard Time")
WEBHOOK_SECRET = "whsec_dGVzdCB3ZWJob29rIHNlY3JldCBmb3IgcGFybGFlIHRlc3Rz"
SECOND_OFFICE = "D36001"
SECOND_SECRET = "s" * 32


def signed_webhook(
    body: dict[str, Any] | bytes, *, webhook_id: str | None = None, at: datetime | None = None
) -> tuple[bytes, dict[str, str]]:
    """A body and its Standard Webhooks headers, signed with the tests' WEBHOOK_SECRET."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    webhook_id = webhook_id or f"msg_{uuid.uuid4().hex}"
    timestamp = at or datetime.now(UTC)
    return raw, {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": Webhook(WEBHOOK_SECRET).sign(webhook_id, timestamp, raw.decode()),
        "content-type": "application/json",
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ThreadedServer:
    """uvicorn serving `app` in a background thread until closed."""

    def __init__(self, app: ASGIApp, port: int | None = None) -> None:
        self.port = port or free_port()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_config=None,
            lifespan="on",
            access_log=False,
            proxy_headers=False,  # as `parlae-mcp serve`: the app resolves X-Forwarded-For itself
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@contextmanager
def serve(app: ASGIApp) -> Iterator[ThreadedServer]:
    server = ThreadedServer(app).start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Stack:
    """A sandbox, a migrated database, the demo practice onboarded, and (optionally) the service running."""

    sandbox: SandboxState
    sandbox_url: str
    settings: Settings
    account_id: str = ""
    token: str = ""
    app_url: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def mcp_url(self) -> str:
        return f"{self.app_url}/mcp"


def stack_settings(database_url: str, sandbox_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "sikka_api_url": f"{sandbox_url}/v4",
        "sikka_app_id": DEMO_APP_ID,
        "sikka_app_key": DEMO_APP_KEY,
        "sikka_webhook_secret": WEBHOOK_SECRET,
        "writeback_budget_seconds": 3.0,
    }
    return make_settings(database_url, **{**values, **overrides})


async def onboard(settings: Settings, office_id: str, secret_key: str, label: str = "test") -> tuple[str, str]:
    """Migrate, connect a practice through the real onboarding flow, issue a token: (account id, token)."""
    engine = create_engine(settings.database_url)
    await migrate.upgrade(engine)
    await engine.dispose()
    async with open_services(settings) as services:
        result = await Onboarding(services).authorize(PracticeRef(office_id, "1", secret_key))
        assert result.account_id, f"{office_id} was not activated"
        issued = await issue_token(services.sessions, result.account_id, label)
    return result.account_id, issued.token


async def another_token(stack: Stack, label: str) -> str:
    """A further practice token for the stack's account (per-token limits are its own)."""
    async with open_services(stack.settings) as services:
        return (await issue_token(services.sessions, stack.account_id, label)).token


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that reproduces `settings` in another process."""
    env = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, list):
            value = ",".join(value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        env[name.upper()] = str(value)
    return env


@dataclass
class ServerProcess:
    url: str
    process: subprocess.Popen[str]

    def kill(self) -> None:
        """kill -9: the process gets no chance to finish anything."""
        self.process.kill()
        self.process.wait(timeout=30)


@contextmanager
def server_process(settings: Settings) -> Iterator[ServerProcess]:
    """`parlae-mcp serve` as its own process on a free port, ready."""
    port = free_port()
    env = {**os.environ, **settings_env(settings), "LOG_LEVEL": "WARNING"}
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port)], env=env, stderr=subprocess.PIPE, text=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited: {process.stderr.read() if process.stderr else ''}")
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.05)
        yield ServerProcess(url, process)
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=30)


@contextmanager
def running_stack(
    database_url: str,
    *,
    two_practices: bool = False,
    sandbox: SandboxConfig | None = None,
    serve_app: bool = True,
    **overrides: Any,
) -> Iterator[Stack]:
    """The sandbox and an onboarded practice; the app too, in this process, unless `serve_app` is False (a test
    that runs the app as its own process: a second in-process app would follow writes and sync beside it)."""
    state = SandboxState(sandbox or SandboxConfig(writeback_delay_seconds=0.3))
    if two_practices:
        state.add_practice(SECOND_OFFICE, secret_key=SECOND_SECRET, name="Second Smile Dental", seed=7)
    with serve(create_sandbox_app(state)) as sandbox_server:
        settings = stack_settings(database_url, sandbox_server.url, **overrides)
        stack = Stack(state, sandbox_server.url, settings)
        stack.account_id, stack.token = asyncio.run(onboard(settings, DEMO_OFFICE_ID, DEMO_SECRET_KEY))
        if two_practices:
            stack.extra["second"] = asyncio.run(onboard(settings, SECOND_OFFICE, SECOND_SECRET))
        if not serve_app:
            yield stack
            return
        with serve(create_app(settings)) as app_server:
            stack.app_url = app_server.url
            yield stack


@asynccontextmanager
async def mcp_client(
    url: str,
    token: str | None,
    *,
    call_id: str | None = None,
    mode: str = "2026-07-28",
    headers: dict[str, str] | None = None,
) -> AsyncIterator[Client]:
    headers = {**(headers or {}), **({"Authorization": f"Bearer {token}"} if token else {})}
    if call_id:
        headers["X-Call-Id"] = call_id
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode) as client,
    ):
        yield client


def practice_today() -> date:
    """Today where the demo practice is."""
    return datetime.now(DEMO_ZONE).date()


class HasSandbox(Protocol):
    """A stack over real ports or the in-process desk (tests/tools): anything that has a sandbox."""

    @property
    def sandbox(self) -> SandboxState: ...


def open_day(stack: HasSandbox, after_days: int) -> date:
    """The first day `after_days` or more ahead on which the sandbox's schedule opens the practice."""
    schedule = stack.sandbox.practice(DEMO_OFFICE_ID).schedule
    day = practice_today() + timedelta(days=after_days)
    while not open_hours(schedule, day):
        day += timedelta(days=1)
    return day


def closed_day(stack: HasSandbox, after_days: int) -> date:
    schedule = stack.sandbox.practice(DEMO_OFFICE_ID).schedule
    day = practice_today() + timedelta(days=after_days)
    while open_hours(schedule, day):
        day += timedelta(days=1)
    return day


def patient_with_own_cell(stack: HasSandbox) -> dict[str, str]:
    """An active demo patient whose cell phone no other patient shares (a phone search finds only them)."""
    patients = list(stack.sandbox.practice(DEMO_OFFICE_ID).patients.values())
    cells = [p["cell"] for p in patients]
    return next(p for p in patients if p["status"] == "Active" and p["cell"] and cells.count(p["cell"]) == 1)


def identity(patient: dict[str, str], **changes: str) -> dict[str, str]:
    """The identity check's arguments for a sandbox patient record: id, date of birth and full name."""
    given = {
        "patientId": patient["patient_id"],
        "dateOfBirth": patient["birthdate"][:10],
        "name": f"{patient['firstname']} {patient['lastname']}",
    }
    return {**given, **changes}


async def call(client: Client, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Call a tool; return its structured result (with `isError` added). Every answer's code must be one
    tests/outcome_codes.py lists for the tool, with its outcome (that list is what the speaking test covers)."""
    result = await client.call_tool(tool, arguments)
    data = dict(result.structured_content or {})
    if not data:
        data = {"message": result.content[0].text if result.content else ""}  # type: ignore[union-attr]
    elif tool in CODES:
        listed = CODES[tool].get(data["code"])
        assert listed == data["outcome"], f"list {tool}'s {data['code']} ({data['outcome']}) in tests/outcome_codes.py"
    data["isError"] = bool(result.is_error)
    return data


SES_SENDER = "assistant@parlae.test"
SES_CONFIGURATION_SET = "parlae-staff-tls"


def ses_ready(region: str = "us-east-1") -> None:
    """In moto's SES: the verified sender and the configuration set that requires TLS (terraform/email.tf)."""
    import boto3

    client = boto3.client("sesv2", region_name=region)
    client.create_email_identity(EmailIdentity=SES_SENDER)
    client.create_configuration_set(
        ConfigurationSetName=SES_CONFIGURATION_SET, DeliveryOptions={"TlsPolicy": "REQUIRE"}
    )


@dataclass(frozen=True)
class SentEmail:
    to: list[str]
    source: str
    subject: str
    body: str


def ses_outbox(region: str = "us-east-1") -> list[SentEmail]:
    """What moto's SES has sent, oldest first."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    sent = ses_backends[DEFAULT_ACCOUNT_ID][region].sent_messages
    return [SentEmail(list(m.destinations["ToAddresses"]), m.source, m.subject, m.body) for m in sent]


class TcpBlink:
    """A TCP proxy to a database that can go away and come back, as a database server blinks: `cut()` resets
    every open connection and refuses new ones until `restore()`. Runs its own event loop in a thread."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.up = threading.Event()
        self.up.set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TcpBlink:
        self._thread.start()
        self._started.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(asyncio.start_server(self._accept, "127.0.0.1", self.port))
        self._started.set()
        self._loop.run_forever()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if not self.up.is_set():
            client_writer.close()
            return
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.close()
            return
        self._writers.update((client_writer, server_writer))
        await asyncio.gather(self._pipe(client_reader, server_writer), self._pipe(server_reader, client_writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()
            self._writers.discard(writer)

    def cut(self) -> None:
        self.up.clear()

        def reset() -> None:
            for writer in list(self._writers):
                writer.transport.abort()

        self._loop.call_soon_threadsafe(reset)

    def restore(self) -> None:
        self.up.set()
