"""`python -m sandbox` under real uvicorn, on a free port, with real time."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from tests.sandbox.support import issue_key

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def base_url() -> Iterator[str]:
    """A sandbox subprocess with a 0.2 s writeback delay; stopped afterwards."""
    port = free_port()
    command = [sys.executable, "-m", "sandbox", "--port", str(port), "--writeback-delay", "0.2"]
    process = subprocess.Popen(command, cwd=ROOT)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                assert process.poll() is None, "the sandbox exited"
                assert time.monotonic() < deadline, "the sandbox did not start"
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.anyio
async def test_book_over_real_http(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        headers = {"Request-Key": (await issue_key(client))["request_key"]}
        providers = await client.get("/v4/providers", headers=headers)
        assert providers.status_code == 200
        assert providers.headers["Request-Key-Expires"].endswith(" GMT")
        booking = {
            "patient_id": "10002",
            "date": "2030-01-02",
            "time": "07:00",
            "length": "30",
            "provider_id": "DDS1",
            "operatory": "OP1",
            "practice_id": "1",
            "description": "Exam",
        }
        receipt = await client.post("/v4/appointment", headers=headers, json=booking)
        assert receipt.status_code == 201
        status_url = receipt.json()["more_information"]
        assert status_url.startswith(base_url)
        first = (await client.get(status_url, headers=headers)).json()[0]["items"][0]
        assert first["status"] == "Pending"
        deadline = time.monotonic() + 5
        while (row := (await client.get(status_url, headers=headers)).json()[0]["items"][0])["status"] == "Pending":
            assert time.monotonic() < deadline
            await anyio.sleep(0.05)
        assert (row["status"], row["has_error"]) == ("Success", "False")
        booked = await client.get("/v4/appointments", headers=headers, params={"appointment_sr_no": row["created_id"]})
        assert booked.json()["items"][0]["date"] == "2030-01-02T00:00:00"
