"""Fuzzing (hypothesis, bounded): arbitrary tool arguments, webhook bodies and headers, Vapi server messages and
JSON-RPC bodies on /mcp never cause a 5xx or a traceback, and error texts never repeat what was sent (values
could be PHI or secrets) nor a validator's own words."""

from __future__ import annotations

import json
import re
import string
from collections.abc import Iterator
from typing import Any

import httpx
import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.support import WEBHOOK_SECRET, Stack, running_stack, signed_webhook
from tools import ALL_TOOLS

pytestmark = pytest.mark.anyio
EXAMPLES = 25
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
TOOLS = {tool.name: tool for tool in ALL_TOOLS}


def property_names(schema: Any) -> set[str]:
    """Every property name anywhere in a JSON schema: our own vocabulary, which answers may use."""
    if isinstance(schema, list):
        return set().union(*map(property_names, schema))
    if not isinstance(schema, dict):
        return set()
    return set(schema.get("properties", {})).union(*map(property_names, schema.values()))


KNOWN_WORDS = set().union(*(property_names([tool.input_schema, tool.output_schema]) for tool in ALL_TOOLS))
# Examples our own error sentences quote ("like 408-555-0101"); a value that is part of one is not an echo.
EXAMPLES_IN_MESSAGES = ("408-555-0101", "2026-12-01T09:30:00-05:00", "YYYY-MM-DD")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    database = tmp_path_factory.mktemp("fuzz") / "parlae.db"
    with running_stack(f"sqlite+aiosqlite:///{database}", sikka_deadline_seconds=3.0) as running:
        yield running


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(["1984-12-10", "2026-12-01T09:30:00-05:00", "408-555-0101", "10001", "", " ", "null"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def arguments_for(tool: str) -> st.SearchStrategy[dict[str, Any]]:
    names = list(TOOLS[tool].args.model_json_schema(by_alias=True)["properties"])
    known = st.dictionaries(st.sampled_from(names), json_values, max_size=len(names)) if names else st.just({})
    unknown = st.dictionaries(st.text(string.ascii_letters, min_size=1, max_size=10), json_values, max_size=2)
    return st.builds(lambda a, b: {**b, **a}, known, unknown)


def appears_in(value: str, text: str) -> bool:
    """Whether `value` occurs in `text` as itself, not as a piece of a longer word ("provi" in "providers")."""
    before = r"(?<![0-9A-Za-z])" if value[0].isalnum() else ""
    after = r"(?![0-9A-Za-z])" if value[-1].isalnum() else ""
    return re.search(before + re.escape(value) + after, text) is not None


def echoed(sent: dict[str, Any], text: str) -> list[str]:
    """Strings (of 5+ characters) from the arguments that appear in the answer text."""
    found = []

    def walk(value: Any) -> None:
        if (
            isinstance(value, str)
            and len(value.strip()) >= 5
            and value not in KNOWN_WORDS
            and not any(value in example for example in EXAMPLES_IN_MESSAGES)
            and appears_in(value, text)
        ):
            found.append(value)
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(key)
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(sent)
    return found


def test_the_echo_check_finds_values_not_pieces_of_our_own_words() -> None:
    answer = '{"message":"this tool takes no arguments.","providers":[]}'
    assert echoed({"provi": None}, answer) == []  # the drawn name is only part of our field name
    assert echoed({"name": "Takes"}, "Takes no: Takes") == ["Takes"]
    assert echoed({"x": "  spaced "}, "got   spaced here") == ["  spaced "]


@pytest.mark.parametrize("tool", list(TOOLS))
@FUZZ
@given(data=st.data())
async def test_arbitrary_arguments(stack: Stack, tool: str, data: st.DataObject) -> None:
    arguments = data.draw(arguments_for(tool))
    statuses: list[int] = []

    async def record(response: httpx2.Response) -> None:
        statuses.append(response.status_code)

    headers = {"Authorization": f"Bearer {stack.token}", "X-Call-Id": "fuzz"}
    async with (
        httpx2.AsyncClient(headers=headers, event_hooks={"response": [record]}, timeout=30) as http,
        Client(streamable_http_client(stack.mcp_url, http_client=http), mode="2026-07-28") as client,
    ):
        result = await client.call_tool(tool, arguments)
    text = " ".join(getattr(block, "text", "") for block in result.content)
    assert statuses
    assert all(status < 500 for status in statuses)
    assert "Traceback" not in text
    assert "Error executing tool" not in text  # never the SDK's crash path
    if result.is_error:
        assert echoed(arguments, text) == [], text
        assert (result.structured_content or {}).get("outcome") in ("invalid", "unavailable", None)


headers_strategy = st.dictionaries(
    st.sampled_from(["webhook-id", "webhook-timestamp", "webhook-signature", "callback-key", "content-type", "x-any"]),
    st.text(string.ascii_letters + string.digits + " ,.=-_:/+", max_size=60).map(str.strip),
    max_size=5,
)
bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.fixed_dictionaries(
        {"event": st.sampled_from(["app.authorized", "app.deauthorized", "other"])},
        optional={
            "app_id": json_values,
            "office_id": json_values,
            "secret_key": json_values,
            "practice_id": json_values,
        },
    ).map(lambda value: json.dumps(value).encode()),
    st.fixed_dictionaries(  # Sikka's unsigned registration handshake
        {"MasterCustomerID": json_values},
        optional={"Source": json_values, "Status": json_values, "SPUInstallationKey": json_values},
    ).map(lambda value: json.dumps(value).encode()),
)


def is_text(body: bytes) -> bool:
    try:
        body.decode()
    except UnicodeDecodeError:
        return False
    return True


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=bodies, headers=headers_strategy, sign=st.booleans())
async def test_arbitrary_webhook_deliveries(stack: Stack, body: bytes, headers: dict[str, str], sign: bool) -> None:
    if sign and is_text(body):
        body, headers = signed_webhook(body)
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(f"{stack.app_url}/api/sikka/webhook/authorize", content=body, headers=headers)
    assert response.status_code in (200, 202, 400, 401, 403, 409, 413), response.text
    assert "Traceback" not in response.text
    assert WEBHOOK_SECRET not in response.text
    assert stack.settings.sikka_app_key.get_secret_value() not in response.text  # type: ignore[union-attr]


server_messages = st.fixed_dictionaries(
    {"type": st.sampled_from(["tool-calls", "status-update", "end-of-call-report", "hang", "other"]) | json_values},
    optional={
        "toolCallList": st.lists(
            st.fixed_dictionaries(
                {"id": json_values},
                optional={"name": st.sampled_from(sorted(TOOLS)) | json_values, "arguments": json_values},
            )
            | json_values,
            max_size=3,
        )
        | json_values,
        "toolWithToolCallList": json_values,
        "status": st.sampled_from(["in-progress", "ended"]) | json_values,
        "call": st.fixed_dictionaries({"id": json_values}, optional={"customer": json_values}) | json_values,
    },
)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(message=server_messages | json_values)
async def test_arbitrary_vapi_server_messages(stack: Stack, message: Any) -> None:
    headers = {"Authorization": f"Bearer {stack.token}"}
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(f"{stack.app_url}/vapi/tool-calls", json={"message": message}, headers=headers)
    assert response.status_code in (200, 400), response.text
    assert "Traceback" not in response.text
    for entry in response.json().get("results", []) if response.status_code == 200 else []:
        assert "\n" not in entry.get("result", entry.get("error", ""))


jsonrpc_messages = st.fixed_dictionaries(
    {},
    optional={
        "jsonrpc": st.sampled_from(["2.0", "1.0"]) | json_values,
        "id": json_values,
        "method": st.sampled_from(["tools/list", "ping", "tools/call", "initialize"]) | json_values,
        "params": json_values,
        "result": json_values,
        "error": json_values,
    },
)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=jsonrpc_messages | st.lists(jsonrpc_messages, max_size=3) | json_values)
async def test_arbitrary_json_rpc_on_mcp(stack: Stack, body: Any) -> None:
    headers = {"Authorization": f"Bearer {stack.token}", "Accept": "application/json, text/event-stream"}
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(f"{stack.app_url}/mcp", json=body, headers=headers)
    assert response.status_code in (200, 202, 400), response.text
    assert "Traceback" not in response.text
    assert "errors.pydantic.dev" not in response.text
