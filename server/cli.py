"""`parlae-mcp`: every operator command. Exit codes: 0 ok, 1 the operation failed, 2 bad usage or config.

Logging is configured before anything imports the MCP SDK, so heavy imports live inside the commands.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn, TypeVar

import click

from server.logs import configure_logging
from server.settings import ConfigError, Settings, load_settings

T = TypeVar("T")


class OperationFailed(Exception):
    """The command ran but its operation failed (exit code 1); the message is printed as is."""


def fail_config(message: str) -> NoReturn:
    click.echo(f"configuration error: {message}", err=True)
    sys.exit(2)


def settings_or_exit(**overrides: Any) -> Settings:
    try:
        settings = load_settings(**overrides)
    except ConfigError as exc:
        fail_config(str(exc))
    configure_logging(settings.log_level)
    return settings


def run_async(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run one async operation; configuration problems exit 2, failed operations exit 1."""
    try:
        return asyncio.run(factory())
    except ConfigError as exc:
        fail_config(str(exc))
    except OperationFailed as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


def emit(data: dict[str, Any], as_json: bool, lines: list[str]) -> None:
    """Print one JSON object (--json) or human-readable lines."""
    if as_json:
        click.echo(json.dumps(data, default=str))
    else:
        for line in lines:
            click.echo(line)


json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Parlae PMS tool server: MCP tools for AI dental receptionists, through Sikka."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to bind.")
@click.option(
    "--demo", is_flag=True, help="SQLite, local vault, the Sikka sandbox in-process, a demo practice."
)
def serve(host: str, port: int, demo: bool) -> None:
    """Serve /mcp, the Sikka webhook and the health routes over HTTP."""
    import uvicorn

    if demo:
        from server.demo import demo_app

        settings = settings_or_exit()
        app = demo_app(settings, host=host, port=port)
    else:
        from server.app import create_app

        settings = settings_or_exit()
        try:
            settings.require_production_ready()
        except ConfigError as exc:
            fail_config(str(exc))
        app = create_app(settings)
    uvicorn.run(app, host=host, port=port, log_config=None, proxy_headers=True, server_header=False)


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    from server.db import migrate
    from server.db.engine import create_engine

    settings = settings_or_exit()

    async def run() -> None:
        engine = create_engine(settings.database_url)
        try:
            await migrate.upgrade(engine)
        finally:
            await engine.dispose()

    run_async(run)
    click.echo("database is at the newest migration")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8100, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--latency-ms", default=0.0, show_default=True, type=click.FloatRange(0), help="Added per request."
)
@click.option("--writeback-delay", default=1.0, show_default=True, type=click.FloatRange(0), help="Seconds.")
@click.option("--key-ttl", default=86400.0, show_default=True, type=click.FloatRange(1), help="Seconds.")
def sandbox(host: str, port: int, latency_ms: float, writeback_delay: float, key_ttl: float) -> None:
    """Run the Sikka v4 sandbox on its own (base URL http://HOST:PORT/v4)."""
    import uvicorn

    from sandbox import SandboxConfig, SandboxState, create_sandbox_app

    configure_logging("INFO")
    config = SandboxConfig(
        latency_seconds=latency_ms / 1000, writeback_delay_seconds=writeback_delay, key_ttl_seconds=key_ttl
    )
    app = create_sandbox_app(SandboxState(config))
    click.echo(f"Sikka sandbox on http://{host}:{port}/v4 (admin: /_admin)", err=True)
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False)
