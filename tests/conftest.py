"""Shared fixtures. Async tests use the anyio plugin on asyncio (`@pytest.mark.anyio`)."""

from __future__ import annotations

import asyncio
import base64
import functools
import gc
import io
import logging
import os
import secrets
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import closing
from pathlib import Path

import botocore.session
import pytest
from botocore.loaders import Loader, create_loader
from hypothesis import settings as hypothesis_settings
from moto import mock_aws
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from server.db import migrate
from server.db.engine import create_engine
from server.logs import configure_logging
from server.settings import Settings

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
requires_postgres = pytest.mark.skipif(
    not TEST_DATABASE_URL, reason="TEST_DATABASE_URL is not set (PostgreSQL tests run in CI via .ci/run)"
)

# Property tests draw the same examples on every run, so a red build reproduces and CI never wanders into new inputs.
# `HYPOTHESIS_PROFILE=explore make test` draws fresh examples for a local search.
hypothesis_settings.register_profile("repeatable", derandomize=True, database=None)
hypothesis_settings.register_profile("explore", derandomize=False)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


def new_phi_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture
def phi_key() -> str:
    return new_phi_key()


async def create_postgres_database(template: str | None = None) -> str:
    """A fresh database on the test server (empty, or a copy of `template`); returns its URL."""
    assert TEST_DATABASE_URL
    admin_url = make_url(TEST_DATABASE_URL)
    name = f"parlae_test_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    await admin.dispose()
    return admin_url.set(database=name).render_as_string(hide_password=False)


async def drop_postgres_database(url: str) -> None:
    assert TEST_DATABASE_URL
    name = make_url(url).database
    admin = create_async_engine(make_url(TEST_DATABASE_URL), isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


async def migrated(url: str) -> str:
    engine = create_engine(url)
    await migrate.upgrade(engine)
    await engine.dispose()
    return url


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file migrated to head; each test gets a copy (the migrations themselves are tested on their
    own, in tests/integration/test_database.py)."""
    path = tmp_path_factory.mktemp("template") / "migrated.db"
    asyncio.run(migrated(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def migrated_postgres() -> Iterator[str | None]:
    """One PostgreSQL database migrated to head, the template of each test's database (None without one)."""
    if not TEST_DATABASE_URL:
        yield None
        return
    url = asyncio.run(create_postgres_database())
    asyncio.run(migrated(url))
    yield make_url(url).database
    asyncio.run(drop_postgres_database(url))


def sqlite_copy(template: Path, path: Path) -> str:
    with closing(sqlite3.connect(template)) as source, closing(sqlite3.connect(path)) as target:
        source.backup(target)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=[requires_postgres, pytest.mark.postgres])])
async def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, migrated_sqlite: Path, migrated_postgres: str | None
) -> AsyncIterator[str]:
    """A migrated, empty database: a SQLite file, and (with TEST_DATABASE_URL) a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield sqlite_copy(migrated_sqlite, tmp_path / "test.db")
        return
    url = await create_postgres_database(template=migrated_postgres)
    yield url
    await drop_postgres_database(url)


def make_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "sikka_api_url": "http://127.0.0.1:9/v4",
        "sikka_app_id": "a" * 32,
        "sikka_app_key": "b" * 32,
        "phi_encryption_key": new_phi_key(),
        "practices_sync_interval_seconds": 0,  # tests that want the scheduled sync turn it on
        "log_level": "DEBUG",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


AWS_REGION = "us-east-1"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto's AWS (Secrets Manager, KMS) with dummy credentials and no real endpoints."""
    for variable in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL_KMS"):
        monkeypatch.delenv(variable, raising=False)
    for variable, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", AWS_REGION),
    ):
        monkeypatch.setenv(variable, value)
    monkeypatch.setattr(botocore.session, "create_loader", shared_botocore_loader)
    with mock_aws():
        yield


@functools.cache
def shared_botocore_loader(data_path: str | None) -> Loader:
    """botocore's JSON models parsed once per test run: moto gives every test a new session, which would parse
    them again (a few tenths of a second per test)."""
    return create_loader(data_path)


LOG_LEVEL_BETWEEN_TESTS = "WARNING"


def pytest_configure(config: pytest.Config) -> None:
    """Logging as the service configures it (JSON, redacted) from the first test on, and after every test that
    captures logs: logging is process-wide state, so what a test sees must not depend on which tests ran before."""
    configure_logging(LOG_LEVEL_BETWEEN_TESTS)


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """Every log line of every logger, as the service renders it (JSON, redacted), at DEBUG. Garbage that earlier
    tests left is collected first: its finalisers may log (an asyncio task destroyed while pending, an aiosqlite
    connection closed by the collector), and must not do so inside this test's capture."""
    gc.collect()
    configure_logging("DEBUG")
    stream = io.StringIO()
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    yield stream
    configure_logging(LOG_LEVEL_BETWEEN_TESTS)


@pytest.fixture
async def production_database_url(
    tmp_path: Path, migrated_sqlite: Path, migrated_postgres: str | None
) -> AsyncIterator[str]:
    """One migrated, empty database for slow end-to-end scenarios: PostgreSQL (production's) when the run has
    one, SQLite otherwise; scenarios whose meaning differs between the two take `database_url` instead."""
    if migrated_postgres is None:
        yield sqlite_copy(migrated_sqlite, tmp_path / "test.db")
        return
    url = await create_postgres_database(template=migrated_postgres)
    yield url
    await drop_postgres_database(url)
