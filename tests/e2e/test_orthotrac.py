"""A practice on OrthoTrac: Sikka's own open slots, and the patient update writeback (preferred name only)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from app.main import create_app
from sandbox import SandboxConfig, SandboxState, create_sandbox_app
from tests.support import Stack, call, identity, mcp_client, onboard, serve, stack_settings

pytestmark = pytest.mark.anyio
OFFICE = "D45000"
SECRET = "o" * 32


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    state = SandboxState(SandboxConfig(writeback_delay_seconds=0.2))
    state.add_practice(OFFICE, secret_key=SECRET, name="Straight Smiles Ortho", pms="OrthoTrac", seed=11)
    with serve(create_sandbox_app(state)) as sandbox_server:
        settings = stack_settings(f"sqlite+aiosqlite:///{tmp_path / 'ortho.db'}", sandbox_server.url)
        running = Stack(state, sandbox_server.url, settings)
        running.account_id, running.token = asyncio.run(onboard(settings, OFFICE, SECRET))
        with serve(create_app(settings)) as app_server:
            running.app_url = app_server.url
            yield running


async def test_availability_comes_from_sikkas_slots(stack: Stack) -> None:
    day = date.today() + timedelta(days=3)
    async with mcp_client(stack.mcp_url, stack.token) as client:
        await call(client, "checkAvailability", {"date": day.isoformat()})  # warm the metadata cache
        stack.sandbox.reset_counters()
        result = await call(
            client,
            "checkAvailability",
            {"startDate": day.isoformat(), "endDate": (day + timedelta(days=4)).isoformat()},
        )
    assert result["outcome"] == "ok", result
    assert 1 <= len(result["slots"]) <= 5
    counters = {name: count for name, count in stack.sandbox.counters.items() if count}
    assert counters == {"GET /appointments_available_slots": 1}


async def test_patient_update_takes_the_preferred_name_and_leaves_contacts_to_staff(stack: Stack) -> None:
    patient = next(p for p in stack.sandbox.practice(OFFICE).patients.values() if p["status"] == "Active")
    me = identity(patient)
    async with mcp_client(stack.mcp_url, stack.token, call_id="ortho-update") as client:
        renamed = await call(client, "updatePatient", {**me, "preferredName": "Bee"})
        both = await call(client, "updatePatient", {**me, "preferredName": "Bea", "email": "bea@example.com"})
    assert (renamed["outcome"], renamed["updatedFields"]) == ("confirmed", ["preferredName"])
    assert stack.sandbox.practice(OFFICE).patients[patient["patient_id"]]["preferred_name"] == "Bea"
    assert both["outcome"] == "recorded_for_staff"
    assert both["updatedFields"] == ["preferredName"]
    assert "preferred name is updated" in both["message"]
