"""`parlae-mcp serve --demo` (what `make run` starts): ready within seconds, with a working demo token."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import call, free_port, mcp_client

pytestmark = pytest.mark.anyio
DEMO_TOKEN = "pmt_demo-token-for-tests-0123456789abcdef"
READY_WITHIN_SECONDS = 5.0


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, float]]:
    """Start the demo in a fresh working directory; yield (base URL, seconds until /readyz answered 200)."""
    port = free_port()
    env = {**os.environ, "PARLAE_DEMO_TOKEN": DEMO_TOKEN, "LOG_LEVEL": "WARNING"}
    for name in ("DATABASE_URL", "PHI_ENCRYPTION_KEY", "SIKKA_APP_ID", "SIKKA_APP_KEY"):
        env.pop(name, None)
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "server", "serve", "--demo", "--port", str(port)],
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
    assert ready_seconds < READY_WITHIN_SECONDS
    async with httpx.AsyncClient(base_url=url) as http:
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/sikka-sandbox/_admin/counters")).status_code == 200
    async with mcp_client(f"{url}/mcp", DEMO_TOKEN) as client:
        assert len((await client.list_tools()).tools) == 8
        found = await call(client, "searchPatients", {"name": "Smith"})
    assert found["outcome"] in ("ok", "not_found", "needs_verification")
