"""`parlae-mcp serve --demo` (what `make run` starts): ready within seconds, with a working demo token."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from tests.support import call, free_port, identity, mcp_client, practice_today
from tools import ALL_TOOLS

pytestmark = pytest.mark.anyio
DEMO_TOKEN = "pmt_demo-token-for-tests-0123456789abcdef"
READY_WITHIN_SECONDS = 5.0  # on an idle machine; a loaded one is allowed a multiple of its own start-up time
STARTUP_MULTIPLE = 2.5


def start_up_seconds() -> float:
    """How long this machine, as loaded now, takes to start the CLI at all (imports and settings)."""
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "app", "--help"], capture_output=True, check=True)
    return time.monotonic() - started


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, float]]:
    """Start the demo in a fresh working directory; yield (base URL, seconds until /readyz answered 200)."""
    port = free_port()
    env = {**os.environ, "PARLAE_DEMO_TOKEN": DEMO_TOKEN, "LOG_LEVEL": "WARNING"}
    for name in ("DATABASE_URL", "PHI_ENCRYPTION_KEY", "SIKKA_APP_ID", "SIKKA_APP_KEY"):
        env.pop(name, None)
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--demo", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        ready_after = wait_ready(url, process)
        yield url, ready_after - started
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=30)
    assert "Practice token (shown once)" in out
    assert (tmp_path / "var" / "parlae.db").exists()
    assert oct((tmp_path / "var" / "demo-phi.key").stat().st_mode & 0o777) == "0o600"


def wait_ready(url: str, process: subprocess.Popen[str]) -> float:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"demo exited: {process.stderr.read() if process.stderr else ''}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return time.monotonic()
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError("demo not ready within 60 s")


async def test_demo_is_ready_quickly_and_serves_the_tools(demo: tuple[str, float]) -> None:
    url, ready_seconds = demo
    assert ready_seconds < max(READY_WITHIN_SECONDS, STARTUP_MULTIPLE * start_up_seconds())
    async with httpx.AsyncClient(base_url=url) as http:
        assert (await http.get("/healthz")).status_code == 200
        patients = (await http.get("/sikka-sandbox/_admin/practices/D36000/1/patients")).json()
    patient = next(p for p in patients if p["status"] == "Active" and p["cell"])
    me = identity(patient)
    async with mcp_client(f"{url}/mcp", DEMO_TOKEN, call_id="demo-call") as client:
        assert len((await client.list_tools()).tools) == len(ALL_TOOLS)
        assert (await call(client, "getPracticeInfo", {}))["outcome"] == "ok"
        assert (await call(client, "getPatientBalance", me))["outcome"] == "ok"
        assert (await call(client, "searchPatients", {"phone": patient["cell"]}))["outcome"] == "ok"
        info = await call(client, "getPatientInfo", me)
        assert info["outcome"] == "ok"
        day = practice_today() + timedelta(days=3)
        slots = await call(
            client,
            "checkAvailability",
            {"startDate": day.isoformat(), "endDate": (day + timedelta(days=6)).isoformat()},
        )
        first, second = slots["slots"][0], slots["slots"][-1]
        booked = await call(
            client, "bookAppointment", {**me, "startTime": first["startTime"], "providerId": first["providerId"]}
        )
        assert booked["outcome"] in ("confirmed", "pending"), booked
        appointment = {**me, "appointmentId": booked["appointmentId"]}
        move = {**appointment, "newStartTime": second["startTime"], "providerId": second["providerId"]}
        moved = await call(client, "rescheduleAppointment", move)
        assert moved["outcome"] in ("confirmed", "pending"), moved
        assert (await call(client, "cancelAppointment", appointment))["outcome"] in ("confirmed", "pending")
        updated = await call(client, "updatePatient", {**me, "email": "new.address@example.com"})
        assert updated["outcome"] == "recorded_for_staff"
        created = await call(
            client,
            "createPatient",
            {"firstName": "Demo", "lastName": "Newpatient", "dateOfBirth": "1990-05-17", "phone": "719-555-0142"},
        )
        assert created["outcome"] in ("confirmed", "pending"), created
