"""Running the service: `serve` (HTTP), `stdio` (one practice, for a local agent) and the Sikka `sandbox`."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import click
import uvicorn

from app.cli.common import active_integration, fail_config, run_async, settings_or_exit
from app.demo import demo_app
from app.http import NoDelayH11Protocol
from app.mcp import build_mcp_server, serve_stdio
from sandbox import SandboxConfig, SandboxState, create_sandbox_app
from server.caller import Caller
from server.logs import configure_logging
from server.services import open_services
from server.settings import ConfigError
from tools import ALL_TOOLS


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to bind.")
@click.option("--demo", is_flag=True, help="SQLite, local vault, the Sikka sandbox in-process, a demo practice.")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    envvar="PARLAE_WORKERS",
    show_envvar=True,
    type=click.IntRange(1, 64),
    help="Server processes (more than one needs PostgreSQL).",
)
def serve(host: str, port: int, demo: bool, workers: int) -> None:
    """Serve /mcp, the Sikka webhook and the health routes over HTTP."""

    settings = settings_or_exit()
    options: dict[str, Any] = {
        "http": NoDelayH11Protocol,
        "host": host,
        "port": port,
        "log_config": None,
        "proxy_headers": False,  # the app resolves X-Forwarded-For itself (server/forwarded.py)
        "server_header": False,
    }
    if demo:
        if workers > 1:
            fail_config("--workers: demo mode runs one process")

        uvicorn.run(demo_app(settings, host=host, port=port), **options)
        return
    try:
        settings.require_production_ready()
    except ConfigError as exc:
        fail_config(str(exc))
    if workers > 1 and settings.is_sqlite:
        fail_config("--workers: more than one process needs PostgreSQL (DATABASE_URL)")
    # Workers import the app themselves (settings from the same environment).
    uvicorn.run("app.main:app_from_environment", factory=True, workers=workers, **options)


@click.command()
@click.option("--account-id", required=True, help="The one practice this process serves.")
def stdio(account_id: str) -> None:
    """Serve the tools over stdio for a local agent (stdout carries the protocol; logs go to stderr)."""

    settings = settings_or_exit()

    async def run() -> None:
        async with open_services(settings) as services:
            integration_id = await active_integration(services, account_id)
            bound = Caller(account_id, "stdio", integration_id)
            server = build_mcp_server(ALL_TOOLS, lambda: nullcontext(services), bound=bound)
            await serve_stdio(server)

    run_async(run)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8100, show_default=True, type=click.IntRange(1, 65535))
@click.option("--latency-ms", default=0.0, show_default=True, type=click.FloatRange(0), help="Added per request.")
@click.option(
    "--latency-p99-ms",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Above --latency-ms: each request's latency is lognormal (that median, this p99; seeded).",
)
@click.option("--writeback-delay", default=1.0, show_default=True, type=click.FloatRange(0), help="Seconds.")
@click.option(
    "--writeback-delay-max",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Above --writeback-delay: each writeback's delay is uniform between the two (seconds; seeded).",
)
@click.option("--key-ttl", default=86400.0, show_default=True, type=click.FloatRange(1), help="Seconds.")
def sandbox(
    host: str,
    port: int,
    latency_ms: float,
    latency_p99_ms: float,
    writeback_delay: float,
    writeback_delay_max: float,
    key_ttl: float,
) -> None:
    """Run the Sikka v4 sandbox on its own (base URL http://HOST:PORT/v4)."""

    configure_logging("INFO")
    config = SandboxConfig(
        latency_seconds=latency_ms / 1000,
        latency_p99_seconds=latency_p99_ms / 1000,
        writeback_delay_seconds=writeback_delay,
        writeback_delay_max_seconds=writeback_delay_max,
        key_ttl_seconds=key_ttl,
    )
    app = create_sandbox_app(SandboxState(config))
    click.echo(f"Sikka sandbox on http://{host}:{port}/v4 (admin: /_admin)", err=True)
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False)
