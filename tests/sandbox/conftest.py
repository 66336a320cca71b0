"""Fixtures for the sandbox contract tests: a fake clock, a state, an in-process client and a key."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from sandbox import SandboxConfig, SandboxState, create_sandbox_app
from tests.sandbox.support import FakeClock, key_headers


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def state(clock: FakeClock) -> SandboxState:
    return SandboxState(SandboxConfig(clock=clock))


@pytest.fixture
async def client(state: SandboxState) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_sandbox_app(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
        yield client


@pytest.fixture
async def headers(client: httpx.AsyncClient) -> dict[str, str]:
    """`Request-Key` headers for the demo practice."""
    return await key_headers(client)
