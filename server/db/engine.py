"""The async engine and session factory (SQLite by default, PostgreSQL in production)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

SQLITE_BUSY_TIMEOUT_MS = 15_000
# What "the database is unavailable" looks like: SQLAlchemy's errors, and the driver's own connection errors
# (asyncpg raises a plain OSError when it cannot connect at all).
DATABASE_ERRORS: tuple[type[Exception], ...] = (SQLAlchemyError, OSError)
# The database itself failing (no connection, pool exhausted, lock timeout), as opposed to refusing one statement.
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (OSError, PoolTimeout, OperationalError, InterfaceError)


def database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` means the database cannot be used right now (retrying other statements would not help)."""
    return isinstance(exc, UNAVAILABLE_ERRORS) or (isinstance(exc, DBAPIError) and exc.connection_invalidated)


def create_engine(database_url: str, **kwargs: Any) -> AsyncEngine:
    """Build the engine; for SQLite, create the file's folder and turn on WAL and a busy timeout."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 10)
        kwargs.setdefault("pool_pre_ping", True)
        return create_async_engine(url, **kwargs)

    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    # One connection: SQLite has a single writer, and queueing in the pool beats busy-waiting on its lock.
    # (Code must therefore never hold one session while opening another.)
    kwargs.setdefault("pool_size", 1)
    kwargs.setdefault("max_overflow", 0)
    kwargs.setdefault("pool_timeout", 30)
    # Sessions always end their transactions themselves; the pool's extra ROLLBACK is one more thread hop.
    kwargs.setdefault("pool_reset_on_return", None)
    engine = create_async_engine(url, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        # The sqlite3 driver's own transaction handling would let a SAVEPOINT commit early; we emit BEGIN.
        dbapi_connection.isolation_level = None

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN")

    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def insert_new(sessions: async_sessionmaker[AsyncSession], row: DeclarativeBase) -> bool:
    """Insert `row` in its own transaction: a claim. False when a row with its key exists (another holder)."""
    try:
        async with sessions.begin() as session:
            session.add(row)
    except IntegrityError:
        return False
    return True


def upsert(session: AsyncSession, model: type[DeclarativeBase] | Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that supports `on_conflict_do_*` on the session's dialect (PostgreSQL or SQLite)."""
    return upsert_for(session.get_bind().dialect.name, model)


def upsert_for(dialect: str, model: type[DeclarativeBase] | Table) -> postgresql.Insert | sqlite.Insert:
    return postgresql.insert(model) if dialect == "postgresql" else sqlite.insert(model)
