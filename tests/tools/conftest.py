"""The in-process tool harness: the tools served by our MCP adapter to the SDK's in-memory `Client`, Sikka
played by the sandbox through `httpx.ASGITransport`, a migrated SQLite database, the demo practice onboarded
through the real onboarding flow. No port is opened; each module gets its own desk (tests keep to their own
patients, so they run in any order)."""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client

from app.mcp import build_mcp_server
from sandbox import DEMO_OFFICE_ID, DEMO_SECRET_KEY, SandboxConfig, SandboxState, create_sandbox_app
from server.auth import issue_token
from server.caller import Caller
from server.db import migrate
from server.db.engine import create_engine
from server.onboarding import Onboarding, PracticeRef
from server.services import Services, open_services
from tests.support import DEMO_ZONE, call, stack_settings
from tools import ALL_TOOLS

SANDBOX_URL = "http://sikka.sandbox.test"  # never resolved: the transport hands requests to the sandbox app
DEMO_PRACTICE = PracticeRef(DEMO_OFFICE_ID, "1", DEMO_SECRET_KEY)
# The front-desk modules' sandboxes count as created ten days ago, so the sandbox's one holiday (the first
# Thursday at least ten days after creation) falls within the coming week.
FRONT_DESK_DAYS_BEHIND = 10


@dataclass(frozen=True)
class Desk:
    """One practice's front desk, in process: call its tools as a voice platform's call would."""

    sandbox: SandboxState
    services: Services
    token: Caller  # what the practice token says (account, token id, integration), as the HTTP adapter sees it
    office: PracticeRef = DEMO_PRACTICE  # the sandbox location that was onboarded

    @property
    def account_id(self) -> str:
        return self.token.account_id

    def caller(self, call_id: str | None = "desk", caller_number: str | None = None) -> Caller:
        return replace(self.token, call_id=call_id, caller_number=caller_number)

    @asynccontextmanager
    async def client(self, call_id: str | None = "desk", caller_number: str | None = None) -> AsyncIterator[Client]:
        """An MCP client connected to the adapter, bound to this practice's token and the given call."""

        @asynccontextmanager
        async def services() -> AsyncIterator[Services]:
            yield self.services  # opened once per desk, not per client

        bound = self.caller(call_id, caller_number)
        async with Client(build_mcp_server(ALL_TOOLS, services, bound=bound)) as client:
            yield client

    async def call(self, tool: str, arguments: dict[str, Any], call_id: str | None = "desk") -> dict[str, Any]:
        """One tool call on its own connection; its structured result with `isError` added."""
        async with self.client(call_id) as client:
            return await call(client, tool, arguments)

    @property
    def practice(self) -> Any:
        return self.sandbox.practice(self.office.office_id, self.office.practice_id)

    @contextmanager
    def clock_at(self, instant: datetime) -> Iterator[None]:
        """The desk's tool calls see `instant` as their now (the injected `Services.clock`)."""
        real = self.services.clock
        self.services.clock = lambda: instant.astimezone(UTC)
        try:
            yield
        finally:
            self.services.clock = real


@asynccontextmanager
async def open_desk(
    database_url: str,
    sandbox: SandboxConfig | SandboxState | None = None,
    office: PracticeRef = DEMO_PRACTICE,
    **overrides: Any,
) -> AsyncIterator[Desk]:
    """A sandbox, the database migrated, `office` (the demo practice by default) onboarded and a token issued.
    `sandbox` is a config or a prepared state (e.g. `add_practice` done for `office`); `overrides` are settings."""
    if not isinstance(sandbox, SandboxState):
        sandbox = SandboxState(sandbox or SandboxConfig(writeback_delay_seconds=0.3))
    state = sandbox
    settings = stack_settings(database_url, SANDBOX_URL, **overrides)
    engine = create_engine(settings.database_url)
    await migrate.upgrade(engine)
    await engine.dispose()
    transport = httpx.ASGITransport(app=create_sandbox_app(state))
    async with open_services(settings, sikka_transport=transport) as services:
        onboarded = await Onboarding(services).authorize(office)
        assert onboarded.account_id, f"{office.office_id} was not activated"
        issued = await issue_token(services.sessions, onboarded.account_id, "desk")
        caller = await services.tokens.verify(issued.token)
        assert caller is not None
        yield Desk(state, services, caller, office)


def sandbox_days_behind(days: int) -> tuple[SandboxConfig, date]:
    """A sandbox config whose clock runs `days` behind, as if the sandbox was created at noon, practice time,
    `days` before today; and that creation day (the sandbox derives its records and its holiday from it)."""
    created = datetime.combine(datetime.now(DEMO_ZONE).date() - timedelta(days=days), time(12), tzinfo=DEMO_ZONE)
    behind = datetime.now(UTC) - created
    return SandboxConfig(writeback_delay_seconds=0.3, clock=lambda: datetime.now(UTC) - behind), created.date()


@asynccontextmanager
async def desk_behind(database: Path, days: int = FRONT_DESK_DAYS_BEHIND) -> AsyncIterator[Desk]:
    """A desk on a SQLite file whose sandbox clock runs `days` behind (see `sandbox_days_behind`)."""
    config, _ = sandbox_days_behind(days)
    async with open_desk(f"sqlite+aiosqlite:///{database}", sandbox=config) as opened:
        yield opened


@pytest.fixture
async def fresh(tmp_path: Path) -> AsyncIterator[Desk]:
    """A desk of its own, nothing cached yet (for request counts), its clock as the front-desk modules' desks."""
    async with desk_behind(tmp_path / "fresh.db") as opened:
        yield opened


async def cold_and_warm(
    desk: Desk, calls: list[tuple[str, dict[str, Any]]]
) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    """The Sikka requests each call makes, by tool: the calls in turn on a fresh desk (cold), then again (warm)."""
    cold: dict[str, dict[str, int]] = {}
    warm: dict[str, dict[str, int]] = {}
    async with desk.client("counts") as client:
        for counts in (cold, warm):
            for tool, arguments in calls:
                before = Counter(desk.sandbox.counters)
                result = await call(client, tool, arguments)
                assert not result["isError"], result
                counts[tool] = requests_since(desk.sandbox, before)
    return cold, warm


def requests_since(sandbox: SandboxState, before: Counter[str]) -> dict[str, int]:
    """The Sikka requests the sandbox answered since `before` (a copy of its counters), key requests aside."""
    made = Counter(sandbox.counters) - before
    return {name: n for name, n in made.items() if not name.startswith("POST /request_key")}


@pytest.fixture(autouse=True)
def no_port_opens(monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness is in process: a tool test that made anything listen on a port fails."""

    def refuse(self: socket.socket, *args: Any) -> None:
        raise AssertionError("tests/tools run in process: nothing may listen on a port")

    monkeypatch.setattr(socket.socket, "listen", refuse)


@pytest.fixture(scope="module")
async def desk(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Desk]:
    database = tmp_path_factory.mktemp("desk") / "parlae.db"
    async with open_desk(f"sqlite+aiosqlite:///{database}") as opened:
        yield opened


ORTHO = PracticeRef("D45000", "1", "o" * 32)  # an OrthoTrac practice, added to the sandbox by `ortho_desk`


@pytest.fixture
async def ortho_desk(tmp_path: Path) -> AsyncIterator[Desk]:
    """A desk for an OrthoTrac practice (Sikka's own slots for availability; registrations go to staff)."""
    state = SandboxState(SandboxConfig(writeback_delay_seconds=0.2))
    state.add_practice(
        ORTHO.office_id, secret_key=ORTHO.secret_key, name="Straight Smiles Ortho", pms="OrthoTrac", seed=11
    )
    async with open_desk(f"sqlite+aiosqlite:///{tmp_path / 'ortho.db'}", sandbox=state, office=ORTHO) as opened:
        yield opened
