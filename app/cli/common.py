"""What every `parlae-mcp` command shares: settings, the service container, output, exit codes, auditing."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Coroutine
from typing import Any, Generic, NoReturn, TypeVar

import click
from sqlalchemy import select

from server.caller import Caller
from server.db.models import Account, IntegrationStatus, PmsIntegration
from server.logs import configure_logging
from server.services import Services, open_services
from server.settings import ConfigError, Settings, load_settings

T = TypeVar("T")
FROM_STDIN = "-"  # an option value that means: read it from stdin


class OperationFailed(Exception):
    """The command ran but its operation failed (exit code 1); the message is printed as is."""


def fail_config(message: str) -> NoReturn:
    click.echo(f"configuration error: {message}", err=True)
    sys.exit(2)


def settings_or_exit() -> Settings:
    try:
        settings = load_settings()
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


SYNC_WAIT_SECONDS = 60.0  # `practices sync` waits this long for a sync another replica is running
json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")


def with_services(operation: Callable[[Services], Coroutine[Any, Any, T]]) -> T:
    """Run `operation` with the service container (configuration errors exit 2, OperationFailed exits 1)."""
    settings = settings_or_exit()

    async def run() -> T:

        async with open_services(settings) as services:
            return await operation(services)

    return run_async(run)


async def audited_operation(
    services: Services, action: str, crud: str, summary: str, work: Callable[[], Coroutine[Any, Any, T]]
) -> T:
    """Audit an operator command like a tool call (account "system", actor "cli")."""

    async with services.audit.record(action, Caller.system("cli"), crud=crud, phi_fields=()) as entry:
        entry.summary = summary
        return entry.answered(_Done(await work())).value


class _Done(Generic[T]):
    """A finished operator command, as an audited result."""

    def __init__(self, value: T) -> None:
        self.value = value

    def audit_outcome(self) -> tuple[str, int, str | None]:
        return "success", 200, None


async def require_account(services: Services, account_id: str) -> None:

    async with services.sessions() as session:
        if await session.get(Account, account_id) is None:
            raise OperationFailed(f"no account {account_id}")


async def active_integration(services: Services, account_id: str) -> str:

    async with services.sessions() as session:
        integration = await session.scalar(select(PmsIntegration).where(PmsIntegration.account_id == account_id))
    if integration is None or integration.status != IntegrationStatus.ACTIVE:
        raise OperationFailed(f"account {account_id} has no active practice integration")
    return integration.id
