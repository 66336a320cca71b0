"""Blind indexes: per-account HMAC keys, stored wrapped, created once even under concurrent first use."""

from __future__ import annotations

import asyncio
import base64
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.db.engine import create_engine, session_factory
from server.phi.blind_index import BlindIndex, index_key_binding
from server.phi.cipher import DecryptionFailed, PhiCipher
from server.phi.keys import LocalKeyProvider

pytestmark = pytest.mark.anyio

ACCOUNT = "acct_index_1"
OTHER_ACCOUNT = "acct_index_2"
PHONE = ("phone", "+15555550123")


@dataclass
class IndexStore:
    sessions: async_sessionmaker[AsyncSession]
    key: bytes

    def cipher(self) -> PhiCipher:
        return PhiCipher(LocalKeyProvider(self.key))

    def index(self) -> BlindIndex:
        """A new instance (empty key cache), as in another process."""
        return BlindIndex(self.sessions, self.cipher())

    async def wrapped_keys(self) -> dict[str, str]:
        async with self.sessions() as session:
            rows = await session.execute(text("SELECT account_id, wrapped_key FROM phi_index_keys"))
            return {row.account_id: row.wrapped_key for row in rows}


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[IndexStore]:
    engine = create_engine(database_url)
    yield IndexStore(session_factory(engine), os.urandom(32))
    await engine.dispose()


async def test_the_same_input_gives_the_same_digest(store: IndexStore) -> None:
    index = store.index()
    digest = await index.digest(ACCOUNT, *PHONE)
    assert digest == await index.digest(ACCOUNT, *PHONE)
    assert re.fullmatch("[0-9a-f]{64}", digest)
    assert PHONE[1] not in digest


@pytest.mark.parametrize(
    "other",
    [("phone", "+15555550124"), ("dob", "+15555550123"), ("phone", "+1555555", "0123"), ("phone+15555550123",)],
    ids=["value", "kind", "split-parts", "joined-parts"],
)
async def test_different_inputs_give_different_digests(store: IndexStore, other: tuple[str, ...]) -> None:
    index = store.index()
    assert await index.digest(ACCOUNT, *PHONE) != await index.digest(ACCOUNT, *other)


async def test_accounts_get_different_digests_for_the_same_value(store: IndexStore) -> None:
    index = store.index()
    assert await index.digest(ACCOUNT, *PHONE) != await index.digest(OTHER_ACCOUNT, *PHONE)
    assert set(await store.wrapped_keys()) == {ACCOUNT, OTHER_ACCOUNT}


async def test_the_stored_index_key_is_an_envelope_bound_to_its_account(store: IndexStore) -> None:
    await store.index().digest(ACCOUNT, *PHONE)
    wrapped = (await store.wrapped_keys())[ACCOUNT]
    assert wrapped.startswith("v1.")
    key = await store.cipher().decrypt(wrapped, index_key_binding(ACCOUNT))
    assert len(key) == 32
    for rendering in (key.hex(), base64.b64encode(key).decode(), base64.urlsafe_b64encode(key).decode().rstrip("=")):
        assert rendering not in wrapped
    with pytest.raises(DecryptionFailed, match="authentication failed"):
        await store.cipher().decrypt(wrapped, index_key_binding(OTHER_ACCOUNT))


@pytest.mark.parametrize("shared", [True, False], ids=["one-instance", "one-instance-per-caller"])
async def test_concurrent_first_use_creates_one_key_that_every_caller_uses(store: IndexStore, shared: bool) -> None:
    common = store.index()
    indexes = [common if shared else store.index() for _ in range(10)]
    digests = await asyncio.gather(*(index.digest(ACCOUNT, *PHONE) for index in indexes))
    assert len(set(digests)) == 1
    assert list(await store.wrapped_keys()) == [ACCOUNT]
    assert await store.index().digest(ACCOUNT, *PHONE) == digests[0]


async def test_a_new_instance_reproduces_the_digest_from_the_stored_key(store: IndexStore) -> None:
    digest = await store.index().digest(ACCOUNT, *PHONE)
    before = await store.wrapped_keys()
    assert await store.index().digest(ACCOUNT, *PHONE) == digest
    assert await store.wrapped_keys() == before  # read back, not replaced


async def test_digests_survive_a_phi_key_rotation(store: IndexStore) -> None:
    digest = await store.index().digest(ACCOUNT, *PHONE)
    rotated = BlindIndex(store.sessions, PhiCipher(LocalKeyProvider(os.urandom(32), [store.key])))
    assert await rotated.digest(ACCOUNT, *PHONE) == digest
