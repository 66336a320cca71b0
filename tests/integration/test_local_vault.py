"""The embedded vault (encrypted rows in `vault_secrets`) and the TTL cache in front of any vault."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.db.engine import create_engine, session_factory
from server.db.models import VaultSecret
from server.phi.cipher import PhiCipher
from server.phi.keys import LocalKeyProvider
from server.vault.base import PracticeCredentials, SecretNotFound, SecretRef, VaultUnavailable, secret_name
from server.vault.cached import CachedVault
from server.vault.local import LocalVault

pytestmark = pytest.mark.anyio

PREFIX = "parlae-test/practices"
ACCOUNT = "acct_local_1"
OTHER_ACCOUNT = "acct_local_2"


def credentials(n: int = 1) -> PracticeCredentials:
    return PracticeCredentials(
        office_id=f"D{36000 + n}",
        secret_key=f"secret-key-{n:02d}-9f8e7d6c5b4a39281706f5e4d3c2b1a0",
        practice_id=str(n),
        practice_name="Happy Dental Clinic",
        pms_type="Dentrix",
        time_zone="America/New_York",
        request_key=f"request-key-{n:02d}-0a1b2c3d4e5f60718293a4b5c6d7e8f9",
        refresh_key=f"refresh-key-{n:02d}-f9e8d7c6b5a4938271605f4e3d2c1b0a",
        token_expiry=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
    )


@dataclass
class Store:
    sessions: async_sessionmaker[AsyncSession]
    vault: LocalVault

    async def row(self, account_id: str) -> VaultSecret:
        async with self.sessions() as session:
            row = await session.scalar(select(VaultSecret).where(VaultSecret.name == secret_name(PREFIX, account_id)))
        assert row is not None
        return row

    async def raw_ciphertext(self, account_id: str) -> bytes:
        async with self.sessions() as session:
            value = await session.scalar(
                text("SELECT ciphertext FROM vault_secrets WHERE name = :name"),
                {"name": secret_name(PREFIX, account_id)},
            )
        assert isinstance(value, bytes | memoryview)
        return bytes(value)

    async def overwrite_ciphertext(self, account_id: str, ciphertext: bytes) -> None:
        async with self.sessions.begin() as session:
            await session.execute(
                text("UPDATE vault_secrets SET ciphertext = :ciphertext WHERE name = :name"),
                {"ciphertext": ciphertext, "name": secret_name(PREFIX, account_id)},
            )

    async def row_count(self) -> int:
        async with self.sessions() as session:
            return int(await session.scalar(text("SELECT count(*) FROM vault_secrets")) or 0)


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    yield Store(sessions, LocalVault(sessions, PhiCipher(LocalKeyProvider(os.urandom(32))), PREFIX))
    await engine.dispose()


async def test_put_then_get_round_trips(store: Store) -> None:
    ref = await store.vault.put(ACCOUNT, credentials())
    assert ref == SecretRef(name=f"{PREFIX}/{ACCOUNT}", arn=None)
    assert await store.vault.get(ACCOUNT) == credentials()
    assert (await store.row(ACCOUNT)).version == 1


async def test_stored_ciphertext_reveals_no_secret(store: Store) -> None:
    stored = credentials()
    await store.vault.put(ACCOUNT, stored)
    raw = await store.raw_ciphertext(ACCOUNT)
    assert raw.startswith(b"v1.")
    for secret in (stored.secret_key, stored.request_key, stored.refresh_key, stored.office_id):
        assert secret.encode() not in raw
    assert b"secretKey" not in raw


async def test_a_ciphertext_copied_to_another_account_does_not_decrypt(store: Store) -> None:
    await store.vault.put(ACCOUNT, credentials(1))
    await store.vault.put(OTHER_ACCOUNT, credentials(2))
    await store.overwrite_ciphertext(OTHER_ACCOUNT, await store.raw_ciphertext(ACCOUNT))
    with pytest.raises(VaultUnavailable, match="cannot be decrypted") as excinfo:
        await store.vault.get(OTHER_ACCOUNT)
    for secret in (credentials(1).secret_key, credentials(2).secret_key, credentials(1).request_key):
        assert secret not in str(excinfo.value)
    assert await store.vault.get(ACCOUNT) == credentials(1)


async def test_a_vault_with_another_key_cannot_read_the_secret(store: Store) -> None:
    await store.vault.put(ACCOUNT, credentials())
    stranger = LocalVault(store.sessions, PhiCipher(LocalKeyProvider(os.urandom(32))), PREFIX)
    with pytest.raises(VaultUnavailable, match="cannot be decrypted"):
        await stranger.get(ACCOUNT)


async def test_a_second_put_stores_a_new_version(store: Store) -> None:
    await store.vault.put(ACCOUNT, credentials(1))
    await store.vault.put(ACCOUNT, credentials(2))
    assert (await store.row(ACCOUNT)).version == 2
    assert await store.vault.get(ACCOUNT) == credentials(2)
    assert await store.row_count() == 1


async def test_get_of_a_missing_account_raises_secret_not_found(store: Store) -> None:
    with pytest.raises(SecretNotFound, match=f"{PREFIX}/{ACCOUNT}"):
        await store.vault.get(ACCOUNT)
    with pytest.raises(SecretNotFound):
        await store.vault.schedule_deletion(ACCOUNT)


async def test_scheduled_deletion_hides_the_secret_until_a_put_restores_it(store: Store) -> None:
    await store.vault.put(ACCOUNT, credentials(1))
    await store.vault.schedule_deletion(ACCOUNT, recovery_days=7)
    deleted = await store.row(ACCOUNT)
    assert deleted.delete_after is not None
    with pytest.raises(SecretNotFound):
        await store.vault.get(ACCOUNT)

    await store.vault.put(ACCOUNT, credentials(2))
    assert await store.vault.get(ACCOUNT) == credentials(2)
    restored = await store.row(ACCOUNT)
    assert restored.delete_after is None
    assert restored.version == 2


async def test_a_repeated_schedule_deletion_keeps_the_first_date(store: Store) -> None:
    await store.vault.put(ACCOUNT, credentials())
    await store.vault.schedule_deletion(ACCOUNT, recovery_days=7)
    first = (await store.row(ACCOUNT)).delete_after
    await store.vault.schedule_deletion(ACCOUNT, recovery_days=30)
    assert (await store.row(ACCOUNT)).delete_after == first


async def test_put_in_a_rolled_back_session_stores_nothing(store: Store) -> None:
    async with store.sessions() as session:
        await store.vault.put(ACCOUNT, credentials(), session)
        await session.rollback()
    assert await store.row_count() == 0
    with pytest.raises(SecretNotFound):
        await store.vault.get(ACCOUNT)


async def test_concurrent_puts_for_one_account_leave_one_row(store: Store) -> None:
    writes = [credentials(n) for n in range(1, 11)]
    await asyncio.gather(*(store.vault.put(ACCOUNT, value) for value in writes))
    assert await store.row_count() == 1
    assert (await store.row(ACCOUNT)).version == len(writes)
    assert await store.vault.get(ACCOUNT) in writes


class CountingVault:
    """Passes through to a vault, counting the reads that reach it."""

    def __init__(self, inner: LocalVault) -> None:
        self.inner = inner
        self.prefix = inner.prefix
        self.gets = 0

    async def get(self, account_id: str) -> PracticeCredentials:
        self.gets += 1
        return await self.inner.get(account_id)

    async def put(self, account_id: str, value: PracticeCredentials, session: AsyncSession | None = None) -> SecretRef:
        return await self.inner.put(account_id, value, session)

    async def schedule_deletion(
        self, account_id: str, recovery_days: int = 30, session: AsyncSession | None = None
    ) -> None:
        await self.inner.schedule_deletion(account_id, recovery_days, session)


class FakeClock:
    """Stands in for the `time` module inside server.vault.cached."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr("server.vault.cached.time", SimpleNamespace(monotonic=fake.monotonic))
    return fake


@dataclass
class Cached:
    vault: CachedVault
    backing: CountingVault

    def assert_reads(self, expected: int) -> None:
        assert (self.vault.reads, self.backing.gets) == (expected, expected)


@pytest.fixture
async def cached(store: Store, clock: FakeClock) -> Cached:
    backing = CountingVault(store.vault)
    await backing.put(ACCOUNT, credentials(1))
    return Cached(CachedVault(backing, ttl_seconds=60), backing)


async def test_cached_reads_hit_the_store_once(cached: Cached) -> None:
    assert await cached.vault.get(ACCOUNT) == credentials(1)
    cached.assert_reads(1)
    for _ in range(1_000):
        assert await cached.vault.get(ACCOUNT) == credentials(1)
    cached.assert_reads(1)


async def test_invalidate_forces_a_read(cached: Cached) -> None:
    await cached.vault.get(ACCOUNT)
    await cached.backing.put(ACCOUNT, credentials(2))  # another replica stored new keys
    assert await cached.vault.get(ACCOUNT) == credentials(1)
    cached.vault.invalidate(ACCOUNT)
    assert await cached.vault.get(ACCOUNT) == credentials(2)
    cached.assert_reads(2)


async def test_reload_bypasses_the_cache(cached: Cached) -> None:
    await cached.vault.get(ACCOUNT)
    await cached.backing.put(ACCOUNT, credentials(2))
    assert await cached.vault.reload(ACCOUNT) == credentials(2)
    assert await cached.vault.get(ACCOUNT) == credentials(2)
    cached.assert_reads(2)


async def test_entries_expire_after_the_ttl(cached: Cached, clock: FakeClock) -> None:
    await cached.vault.get(ACCOUNT)
    clock.now += 59.9
    await cached.vault.get(ACCOUNT)
    cached.assert_reads(1)
    clock.now += 0.2
    await cached.vault.get(ACCOUNT)
    cached.assert_reads(2)


async def test_put_through_the_cache_serves_the_new_value_without_a_read(cached: Cached) -> None:
    await cached.vault.get(ACCOUNT)
    await cached.vault.put(ACCOUNT, credentials(2))
    assert await cached.vault.get(ACCOUNT) == credentials(2)
    cached.assert_reads(1)
    assert await cached.backing.inner.get(ACCOUNT) == credentials(2)


async def test_schedule_deletion_through_the_cache_forgets_the_entry(cached: Cached) -> None:
    await cached.vault.get(ACCOUNT)
    await cached.vault.schedule_deletion(ACCOUNT, recovery_days=7)
    with pytest.raises(SecretNotFound):
        await cached.vault.get(ACCOUNT)
    cached.assert_reads(2)
