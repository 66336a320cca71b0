"""Leases and markers in the database (server/leases.py), on SQLite and on PostgreSQL, with two engines standing
for two replicas; the registration handshake's rate-limit markers cleaned as they expire (webhook/handshake.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import anyio
import pytest
from sqlalchemy import select

from server.db.engine import create_engine, session_factory
from server.db.models import SyncLease
from server.leases import LeaseLost, Leases
from server.services import Services, open_services
from tests.conftest import make_settings
from webhook.handshake import OVERALL, PER_OFFICE, start_office_sync

pytestmark = pytest.mark.anyio
NOON = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


class Clock:
    def __init__(self) -> None:
        self.now = NOON

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def replicas(database_url: str) -> AsyncIterator[tuple[Leases, Leases, Clock]]:
    """Two replicas' leases over one database (two engines), on one shared clock."""
    engines = [create_engine(database_url) for _ in range(2)]
    clock = Clock()
    yield Leases(session_factory(engines[0]), clock), Leases(session_factory(engines[1]), clock), clock
    for engine in engines:
        await engine.dispose()


async def test_a_lease_is_exclusive_until_released_or_expired(replicas: tuple[Leases, Leases, Clock]) -> None:
    first, second, clock = replicas
    assert await first.take("sync", "a", MINUTE)
    assert not await second.take("sync", "b", MINUTE)
    assert await first.take("sync", "a", MINUTE)  # renewed by its holder
    await second.release("sync", "b")  # not the holder: nothing happens
    assert not await second.take("sync", "b", MINUTE)
    await first.release("sync", "a")
    assert await second.take("sync", "b", MINUTE)
    clock.now += MINUTE  # expired: anyone may take it, and the old holder cannot renew it
    assert await first.take("sync", "a", MINUTE)
    assert not await second.take("sync", "b", MINUTE)


async def test_keep_renews_and_notices_a_takeover(replicas: tuple[Leases, Leases, Clock]) -> None:
    first, second, clock = replicas
    lease = await first.hold("sync", MINUTE)
    assert lease is not None
    await lease.keep()  # just taken: no renewal needed
    lease.renewed -= 30  # half the TTL has passed
    clock.now += timedelta(seconds=30)
    await lease.keep()
    clock.now += timedelta(seconds=45)  # 75 s after taking, 45 s after the renewal: still ours
    assert not await second.take("sync", "b", MINUTE)
    clock.now += timedelta(seconds=20)
    assert await second.take("sync", "b", MINUTE)
    lease.renewed -= 30
    with pytest.raises(LeaseLost):
        await lease.keep()
    await lease.release()  # releasing a lease lost to another holder leaves that holder's lease alone
    assert not await first.take("sync", "c", MINUTE)


async def test_hold_waits_for_the_holder_to_release(replicas: tuple[Leases, Leases, Clock]) -> None:
    first, second, _ = replicas
    held = await first.hold("sync", MINUTE)
    assert held is not None
    assert await second.hold("sync", MINUTE) is None
    waited: list[object] = []

    async def wait_for_it() -> None:
        waited.append(await second.hold("sync", MINUTE, wait_seconds=10))

    async with anyio.create_task_group() as group:
        group.start_soon(wait_for_it)
        await anyio.sleep(0.3)
        assert waited == []
        await held.release()
    assert waited[0] is not None


async def test_a_marker_allows_once_per_period(replicas: tuple[Leases, Leases, Clock]) -> None:
    first, second, clock = replicas
    assert await first.once_per("handshake:D1", MINUTE)
    assert not await second.once_per("handshake:D1", MINUTE)
    assert not await first.once_per("handshake:D1", MINUTE)
    assert await second.once_per("handshake:D2", MINUTE)
    clock.now += MINUTE
    assert await second.once_per("handshake:D1", MINUTE)


async def test_purge_deletes_only_expired_rows(replicas: tuple[Leases, Leases, Clock]) -> None:
    first, second, clock = replicas
    await first.once_per("handshake:D1", MINUTE)
    await first.once_per("handshake:D2", 2 * MINUTE)
    clock.now += MINUTE
    assert await first.purge_expired() == 1
    assert not await second.once_per("handshake:D2", MINUTE)
    assert await second.once_per("handshake:D1", MINUTE)


async def test_twenty_simultaneous_claims_get_one_lease(replicas: tuple[Leases, Leases, Clock]) -> None:
    first, second, _ = replicas
    granted: list[int] = []

    async def claim(n: int) -> None:
        if await (first, second)[n % 2].hold("sync", MINUTE) is not None:
            granted.append(n)

    async with anyio.create_task_group() as group:
        for n in range(20):
            group.start_soon(claim, n)
    assert len(granted) == 1


async def test_a_flood_of_handshakes_leaves_no_marker_rows_behind(database_url: str) -> None:
    clock = Clock()
    async with open_services(make_settings(database_url)) as services:
        timed = replace(services, leases=Leases(services.sessions, clock))
        for n in range(60):  # a made-up office a second, for a minute
            await start_office_sync(timed, f"D9{n:04d}")
            clock.now += timedelta(seconds=1)
        flooded = await marker_names(services)
        clock.now += 2 * PER_OFFICE
        await start_office_sync(timed, "D80000")  # the next handshake clears what has expired
        after = await marker_names(services)
    assert len(flooded) <= PER_OFFICE / OVERALL + 1  # one office marker per OVERALL at most, not one per handshake
    assert after == ["handshake", "handshake:D80000"]


async def marker_names(services: Services) -> list[str]:
    async with services.sessions() as session:
        names = await session.scalars(select(SyncLease.name).where(SyncLease.name.like("handshake%")))
        return sorted(names)
