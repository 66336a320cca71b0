"""Request keys are renewed at most once per key lifetime, however short the lifetime and however many calls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import anyio
import httpx
import pytest
import respx

from server.sikka.client import Deadline, SikkaClient
from server.sikka.keys import RequestKeys
from server.vault.base import PracticeCredentials
from server.vault.cached import CachedVault
from tests.unit.fakes import ACCOUNT, MemoryVault

pytestmark = pytest.mark.anyio
BASE = "https://sikka.test/v4"
T0 = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@respx.mock
async def test_keys_shorter_than_the_margin_are_renewed_once_per_half_life() -> None:
    clock = Clock()
    credentials = PracticeCredentials(
        office_id="D1",
        secret_key="s",
        practice_id="1",
        request_key="k0",
        refresh_key="r",
        token_issued_at=T0,
        token_expiry=T0 + timedelta(seconds=60),  # far shorter than the one-hour margin
    )
    grants: respx.Route = respx.post(f"{BASE}/request_key").mock(
        side_effect=lambda request: httpx.Response(200, json={"request_key": f"k{grants.call_count}"})
    )
    async with httpx.AsyncClient() as http:
        client = SikkaClient(http=http, base_url=BASE, app_id="a", app_key="b")
        sessions = RequestKeys(
            client,
            CachedVault(MemoryVault(credentials)),
            cast(Any, None),
            refresh_margin=timedelta(hours=1),
            clock=clock,
        )

        async def hundred_calls() -> set[str]:
            keys: set[str] = set()

            async def one() -> None:
                keys.add(await sessions.request_key(ACCOUNT, Deadline.after(5)))

            async with anyio.create_task_group() as group:
                for _ in range(100):
                    group.start_soon(one)
            return keys

        assert await hundred_calls() == {"k0"}  # fresh for half its life
        assert grants.call_count == 0
        clock.now = T0 + timedelta(seconds=31)
        assert len(await hundred_calls()) == 1
        assert grants.call_count == 1  # one renewal for a hundred concurrent calls
        assert await hundred_calls() == await hundred_calls()
        assert grants.call_count == 1
