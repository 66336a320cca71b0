"""The Vapi tool definitions that give an assistant this server's tools, with what the assistant says while each
tool runs: one MCP tool (Vapi's `messages` for every tool, `toolMessages` per tool by its name on the server), or
one function tool per tool for `POST /vapi/tool-calls` (each with its own `messages`).

Only a start line and a "still checking" line: no `request-complete` and no `request-failed`. Vapi speaks either
of those *instead of* asking the model to respond, so a fixed line there would replace the server's own
sentence (a date to correct, a detail to ask for, the real reason the office is unreachable) with one that may
be false, and leave the model no turn to act on the answer (docs/vapi.md §4, §5)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tools import ToolSpec

TOOL_NAME = "parlaePms"
TIMEOUT_SECONDS = 20
DELAYED_AFTER_MS = 2000
DEFAULT_MESSAGES = (
    {"type": "request-start", "content": "One moment while I check that for you."},
    {
        "type": "request-response-delayed",
        "content": "Still checking with the office system...",
        "timingMilliseconds": DELAYED_AFTER_MS,
    },
)
# What the caller hears as each tool starts (tests/unit/test_vapi.py: one for every tool, no other names).
# `messages` still covers a tool added after an assistant was configured.
REQUEST_START = {
    "searchPatients": "Let me look you up.",
    "getPatientInfo": "Let me pull up the record.",
    "createPatient": "I'm setting up the new patient record now.",
    "updatePatient": "I'm updating those details now.",
    "checkAvailability": "Let me check the schedule.",
    "bookAppointment": "I'm booking that for you now.",
    "rescheduleAppointment": "I'm moving that appointment now.",
    "cancelAppointment": "I'm cancelling that appointment now.",
    "getPracticeInfo": "Let me check the office hours.",
    "getProviders": "Let me see who's on the team.",
    "checkInsuranceAccepted": "Let me check the insurance list.",
    "getPatientBalance": "Let me look at the account.",
    "getPatientInsurance": "Let me look at the insurance on file.",
    "takeMessage": "I'm writing that down for the staff.",
}


def tool_messages(request_start: str) -> list[dict[str, Any]]:
    """A tool's own messages replace the defaults (Vapi): its start line, then the shared delayed line."""
    return [{"type": "request-start", "content": request_start}, *(dict(m) for m in DEFAULT_MESSAGES[1:])]


def vapi_server(url: str, *, token: str | None = None, credential_id: str | None = None) -> dict[str, Any]:
    """Where Vapi sends a tool's request, and how it proves the practice. Prefer a Vapi credential: Vapi echoes
    literal headers back in `GET /assistant`."""
    server: dict[str, Any] = {"url": url, "timeoutSeconds": TIMEOUT_SECONDS}
    if credential_id:
        server["credentialId"] = credential_id
    elif token:
        server["headers"] = {"Authorization": f"Bearer {token}"}
    return server


def system_prompt(zone: str) -> str:
    """The lines for the assistant's system prompt that give the model the practice's date and time at the start
    of each call, with Vapi's LiquidJS `date` filter in the practice's IANA `zone` (Vapi's own `{{now}}` is UTC),
    and how to pass dates to the tools."""
    today = f'{{{{"now" | date: "%A, %B %-e, %Y", "{zone}"}}}}'
    clock = f'{{{{"now" | date: "%-l:%M %p", "{zone}"}}}}'
    return (
        f"At the practice it is {today}, {clock} ({zone}). Pass dates to the tools as YYYY-MM-DD or as the "
        'caller says them: "today", "tomorrow", "tuesday" or "next tuesday" (both the coming Tuesday, never '
        "today). Each answer says the day it resolved to and carries the practice's `today`: confirm the weekday "
        "and date with the caller before booking."
    )


def vapi_tool(url: str, *, token: str | None = None, credential_id: str | None = None) -> dict[str, Any]:
    """The MCP tool: `metadata.protocol` is "shttp" (Streamable HTTP)."""
    return {
        "type": "mcp",
        "function": {"name": TOOL_NAME},
        "server": vapi_server(url, token=token, credential_id=credential_id),
        "metadata": {"protocol": "shttp"},
        "messages": [dict(message) for message in DEFAULT_MESSAGES],
        "toolMessages": [{"name": name, "messages": tool_messages(content)} for name, content in REQUEST_START.items()],
    }


def server_tools(
    tools: Sequence[ToolSpec], url: str, *, token: str | None = None, credential_id: str | None = None
) -> list[dict[str, Any]]:
    """Vapi function tools ("server tools") posting to `url` (`/vapi/tool-calls`): each with the tool's own
    description and flat input schema, the same server and credential."""
    return [
        {
            "type": "function",
            "async": False,  # Vapi waits for the answer and speaks it
            "function": {"name": tool.name, "description": tool.description, "parameters": tool.input_schema},
            "server": vapi_server(url, token=token, credential_id=credential_id),
            "messages": tool_messages(REQUEST_START[tool.name]),
        }
        for tool in tools
    ]
