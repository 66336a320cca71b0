"""The same phone call with the official TypeScript MCP SDK client as a Vapi-like driver: list the tools once,
then a new connection (initialize + call) per tool call. Needs Node and `make test`'s `npm ci` in tests/node."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from sandbox import DEMO_OFFICE_ID
from tests.support import Stack, identity, open_day

NODE_DIR = Path(__file__).parents[1] / "node"
SDK = NODE_DIR / "node_modules" / "@modelcontextprotocol" / "sdk"
pytestmark = [
    pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed"),
    pytest.mark.skipif(not SDK.is_dir(), reason="tests/node has no node_modules (make test runs npm ci there)"),
]


def run_plan(stack: Stack, tmp_path: Path, call_id: str, steps: list[dict[str, Any]]) -> dict[str, Any]:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"steps": steps}))
    finished = subprocess.run(
        ["node", str(NODE_DIR / "vapi_like_call.mjs"), stack.mcp_url, stack.token, call_id, str(plan)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    output: dict[str, Any] = json.loads(finished.stdout)
    return output


def test_a_whole_phone_call_with_a_new_connection_per_tool_call(stack: Stack, tmp_path: Path) -> None:
    patient = next(
        p for p in stack.sandbox.practice(DEMO_OFFICE_ID).patients.values() if p["status"] == "Active" and p["cell"]
    )
    me = identity(patient)
    day = open_day(stack, 10)
    steps = [
        {"tool": "searchPatients", "arguments": {"phone": patient["cell"]}},
        {"tool": "getPatientInfo", "arguments": me},
        {
            "tool": "checkAvailability",
            "arguments": {"startDate": day.isoformat(), "endDate": (day + timedelta(days=6)).isoformat()},
        },
        {"tool": "bookAppointment", "arguments": me, "use": {"startTime": "2.slots.0.startTime"}},
        {
            "tool": "rescheduleAppointment",
            "arguments": me,
            "use": {  # the slot's provider too: a move keeps the current provider unless told
                "appointmentId": "3.appointmentId",
                "newStartTime": "2.slots.4.startTime",
                "providerId": "2.slots.4.providerId",
            },
        },
        {"tool": "cancelAppointment", "arguments": me, "use": {"appointmentId": "3.appointmentId"}},
    ]
    output = run_plan(stack, tmp_path, "node-call", steps)
    assert "bookAppointment" in output["tools"]
    found, info, openings, booked, moved, cancelled = output["results"]
    assert [m["patientId"] for m in found["matches"]] == [patient["patient_id"]]
    assert info["outcome"] == "ok", info
    assert openings["outcome"] == "ok", openings
    assert booked["outcome"] == "confirmed", booked
    assert moved["outcome"] == "confirmed", moved
    assert cancelled["outcome"] == "confirmed", cancelled
    final = stack.sandbox.practice(DEMO_OFFICE_ID).appointments[booked["appointmentId"]]
    assert final["cancelled"] == "True"
    assert f"{final['date'][:10]}T{final['time']}" == openings["slots"][4]["startTime"][:16]
