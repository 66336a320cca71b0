"""Request keys are renewed at most once per key lifetime, however short the lifetime and however many calls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import anyio
import httpx
import pytest
import respx

from server.sikka.client import Deadline, SikkaClient
from server.sikka.errors import SikkaAuthError
from server.sikka.keys import RequestKeys, fingerprint
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


class Sikka:
    """Sikka for one office over respx: keys in `dead` are answered API1025; grant n hands out `k<n>`."""

    def __init__(self) -> None:
        self.dead: set[str] = set()
        self.used: list[str] = []
        self.granted = 0
        self.grants = respx.post(f"{BASE}/request_key").mock(side_effect=self.grant)
        respx.get(f"{BASE}/patients").mock(side_effect=self.patients)

    def grant(self, request: httpx.Request) -> httpx.Response:
        self.granted += 1
        return httpx.Response(200, json={"request_key": f"k{self.granted}", "refresh_key": "r"})

    def patients(self, request: httpx.Request) -> httpx.Response:
        key = request.headers["Request-Key"]
        self.used.append(key)
        if key in self.dead:
            return httpx.Response(400, json={"error_code": "API1025", "short_message": "Request key expired"})
        return httpx.Response(200, json={"items": [{"patient_id": "1"}]})


def stored_key(key: str, issued: datetime, **fields: Any) -> PracticeCredentials:
    return PracticeCredentials(
        office_id="D1",
        secret_key="s",
        practice_id="1",
        request_key=key,
        refresh_key="r",
        token_issued_at=issued,
        token_expiry=issued + timedelta(hours=24),
        **fields,
    )


def replica(http: httpx.AsyncClient, vault: MemoryVault, clock: Clock) -> RequestKeys:
    """One process: its own cache in front of the shared vault."""
    client = SikkaClient(http=http, base_url=BASE, app_id="a", app_key="b")
    return RequestKeys(client, CachedVault(vault), cast(Any, None), clock=clock)


async def read(keys: RequestKeys) -> None:
    deadline = Deadline.after(5)
    await keys.client.send("GET", "patients", credentials=keys.practice(ACCOUNT, deadline), deadline=deadline)


@respx.mock
async def test_after_a_rejection_an_older_stored_key_is_not_tried() -> None:
    """The cache holds k0, the vault a newer k9 (the sync re-keyed in another process): both died at Sikka."""
    clock, sikka = Clock(), Sikka()
    vault = MemoryVault(stored_key("k0", T0))
    async with httpx.AsyncClient() as http:
        keys = replica(http, vault, clock)
        await read(keys)  # k0 cached
        vault.secrets[ACCOUNT] = stored_key("k9", T0 + timedelta(minutes=1))
        sikka.dead |= {"k0", "k9"}
        clock.now = T0 + timedelta(minutes=2)
        await read(keys)
    assert sikka.used == ["k0", "k0", "k1"]  # k9 was never tried: granted before k0's rejection, not replacing it
    assert sikka.grants.call_count == 1
    assert vault.secrets[ACCOUNT].supersedes == (fingerprint("k0"), fingerprint("k9"))


@respx.mock
async def test_a_key_renewed_for_the_same_rejection_serves_every_replica_without_another_grant() -> None:
    clock, sikka = Clock(), Sikka()
    vault = MemoryVault(stored_key("k0", T0))
    async with httpx.AsyncClient() as http:
        first, second = replica(http, vault, clock), replica(http, vault, clock)
        await read(first)
        await read(second)  # both cache k0
        sikka.dead.add("k0")  # every key expires at Sikka before its stated expiry
        clock.now = T0 + timedelta(minutes=1)
        await read(first)  # k0 rejected: k1 granted, recording that it replaces k0
        clock.now = T0 + timedelta(minutes=2)  # the second replica sends k0 only after k1 was granted
        await read(second)
    assert sikka.used == ["k0", "k0", "k0", "k1", "k0", "k1"]
    assert sikka.grants.call_count == 1


@respx.mock
async def test_a_key_rejected_again_is_not_retried_a_third_time() -> None:
    clock, sikka = Clock(), Sikka()
    vault = MemoryVault(stored_key("k0", T0))
    async with httpx.AsyncClient() as http:
        keys = replica(http, vault, clock)
        sikka.dead |= {"k0", "k1"}
        with pytest.raises(SikkaAuthError):
            await read(keys)
    assert sikka.used == ["k0", "k1"]
    assert sikka.grants.call_count == 1
