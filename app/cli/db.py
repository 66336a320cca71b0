"""`db upgrade`: the database schema."""

from __future__ import annotations

import click

from app.cli.common import run_async, settings_or_exit
from server.db import migrate
from server.db.engine import create_engine


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""

    settings = settings_or_exit()

    async def run() -> None:
        engine = create_engine(settings.database_url)
        try:
            await migrate.upgrade(engine)
        finally:
            await engine.dispose()

    run_async(run)
    click.echo("database is at the newest migration")
