"""Helpers for the sandbox contract tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from sandbox import DEMO_APP_ID, DEMO_APP_KEY, DEMO_OFFICE_ID, DEMO_SECRET_KEY

EXAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "sikka-examples"
START = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
"""Wednesday 2026-11-25, 10:00 in New York."""
APP_HEADERS = {"App-Id": DEMO_APP_ID, "App-Key": DEMO_APP_KEY}


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def example(file: str, name: str) -> Any:
    """A documented Sikka response body."""
    return json.loads((EXAMPLES / file).read_text())[name]


def example_item_keys(file: str, name: str) -> list[str]:
    body = example(file, name)
    envelope = body[0] if isinstance(body, list) else body
    return list(envelope["items"][0])


def all_strings(value: Any) -> bool:
    """Whether every leaf of a JSON value is a string."""
    if isinstance(value, dict):
        return all(all_strings(item) for item in value.values())
    if isinstance(value, list):
        return all(all_strings(item) for item in value)
    return isinstance(value, str)


async def issue_key(
    client: httpx.AsyncClient, office_id: str = DEMO_OFFICE_ID, secret_key: str = DEMO_SECRET_KEY
) -> dict[str, str]:
    """The body of a successful `grant_type=request_key`."""
    response = await client.post(
        "/v4/request_key",
        json={
            "grant_type": "request_key",
            "office_id": office_id,
            "secret_key": secret_key,
            "app_id": DEMO_APP_ID,
            "app_key": DEMO_APP_KEY,
        },
    )
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


async def key_headers(
    client: httpx.AsyncClient, office_id: str = DEMO_OFFICE_ID, secret_key: str = DEMO_SECRET_KEY
) -> dict[str, str]:
    return {"Request-Key": (await issue_key(client, office_id, secret_key))["request_key"]}


async def items(client: httpx.AsyncClient, path: str, headers: dict[str, str], **params: Any) -> list[dict[str, str]]:
    """Every item of a list endpoint (one page of up to 5000); [] on 204."""
    response = await client.get(path, headers=headers, params={"limit": 5000, **params})
    if response.status_code == 204:
        return []
    assert response.status_code == 200, response.text
    body = response.json()
    rows: list[dict[str, str]] = (body[0] if isinstance(body, list) else body)["items"]
    return rows


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["error_code"]
    return code
