"""`parlae-mcp`: every operator command. Exit codes: 0 ok, 1 the operation failed, 2 bad usage or config.

Logging is configured before anything imports the MCP SDK, so heavy imports live inside the commands.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, NoReturn, TypeVar

import click

from server.logs import configure_logging
from server.settings import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from server.audit.anchor import Anchor, Anchoring
    from server.services import Services

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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Parlae PMS tool server: MCP tools for AI dental receptionists, through Sikka."""


@main.command()
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
    import uvicorn

    from server.http import NoDelayH11Protocol

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
        from server.demo import demo_app

        uvicorn.run(demo_app(settings, host=host, port=port), **options)
        return
    try:
        settings.require_production_ready()
    except ConfigError as exc:
        fail_config(str(exc))
    if workers > 1 and settings.is_sqlite:
        fail_config("--workers: more than one process needs PostgreSQL (DATABASE_URL)")
    # Workers import the app themselves (settings from the same environment).
    uvicorn.run("server.app:app_from_environment", factory=True, workers=workers, **options)


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


def with_services(operation: Callable[[Services], Coroutine[Any, Any, T]]) -> T:
    """Run `operation` with the service container (configuration errors exit 2, OperationFailed exits 1)."""
    settings = settings_or_exit()

    async def run() -> T:
        from server.services import open_services

        async with open_services(settings) as services:
            return await operation(services)

    return run_async(run)


async def audited_operation(
    services: Services, action: str, crud: str, summary: str, work: Callable[[], Coroutine[Any, Any, T]]
) -> T:
    """Audit an operator command like a tool call (account "system", actor "cli")."""
    from server.audit.decorator import SystemSubject, audited

    @audited(action, crud=crud, phi_fields=())
    async def run(subject: SystemSubject) -> _Done[T]:
        assert subject.audit is not None
        subject.audit.summary = summary
        return _Done(await work())

    done = await run(SystemSubject(services.audit, actor="cli"))
    return done.value


class _Done(Generic[T]):
    """A finished operator command, as an audited result."""

    def __init__(self, value: T) -> None:
        self.value = value

    def audit_outcome(self) -> tuple[str, int, str | None]:
        return "success", 200, None


async def require_account(services: Services, account_id: str) -> None:
    from server.db.models import Account

    async with services.sessions() as session:
        if await session.get(Account, account_id) is None:
            raise OperationFailed(f"no account {account_id}")


# --- tokens -------------------------------------------------------------------------------------------


@main.group()
def tokens() -> None:
    """Practice access tokens (Bearer tokens for /mcp)."""


@tokens.command("issue")
@click.option("--account-id", required=True)
@click.option("--label", default="", help="A note for operators, e.g. the Vapi assistant's name.")
@json_option
def tokens_issue(account_id: str, label: str, as_json: bool) -> None:
    """Create a token for one practice; it is printed once and stored only as a SHA-256 hash."""
    from server.auth import issue_token

    async def run(services: Services) -> Any:
        await require_account(services, account_id)
        return await audited_operation(
            services,
            "tokens.issue",
            "C",
            f"token for account {account_id}",
            lambda: issue_token(services.sessions, account_id, label),
        )

    issued = with_services(run)
    emit(
        {"accountId": issued.account_id, "tokenId": issued.token_id, "token": issued.token},
        as_json,
        [f"token id: {issued.token_id}", f"token (shown once): {issued.token}"],
    )


@tokens.command("revoke")
@click.option("--token-id", required=True)
@json_option
def tokens_revoke(token_id: str, as_json: bool) -> None:
    """Revoke a token (takes effect within TOKEN_CACHE_SECONDS on running servers)."""
    from server.auth import revoke_token

    async def run(services: Services) -> bool:
        return await audited_operation(
            services,
            "tokens.revoke",
            "D",
            f"revoke token {token_id}",
            lambda: revoke_token(services.sessions, token_id),
        )

    if not with_services(run):
        raise click.ClickException(f"no live token {token_id}")
    emit({"tokenId": token_id, "revoked": True}, as_json, [f"revoked {token_id}"])


# --- practices ----------------------------------------------------------------------------------------


@main.group()
def practices() -> None:
    """Practices (Sikka office_id + practice_id) and their integrations."""


@practices.command("connect")
@click.option("--office-id", required=True)
@click.option(
    "--secret-key",
    envvar="PARLAE_SECRET_KEY",
    show_envvar=True,
    required=True,
    help="The practice's Sikka secret_key (from authorized_practices). Prefer `-` (read it from stdin) or the "
    "environment variable: a value on the command line lands in shell history and the process list.",
)
@click.option("--practice-id", default="1", show_default=True)
@json_option
def practices_connect(office_id: str, secret_key: str, practice_id: str, as_json: bool) -> None:
    """Onboard a practice by hand (same flow as the webhook) and issue its first token."""
    if secret_key == FROM_STDIN:
        secret_key = sys.stdin.readline().strip()
        if not secret_key:
            raise click.BadParameter("`-` reads the secret key from stdin, which was empty", param_hint="--secret-key")
    from server.auth import issue_token
    from server.onboarding import NotConfirmed, Onboarding, PracticeRef
    from server.sikka.errors import SikkaError
    from server.vault.base import VaultError

    async def run(services: Services) -> dict[str, Any]:
        async def connect() -> dict[str, Any]:
            try:
                result = await Onboarding(services).authorize(PracticeRef(office_id, practice_id, secret_key))
            except NotConfirmed as exc:
                raise OperationFailed(f"Sikka does not confirm this practice ({exc})") from None
            except (SikkaError, VaultError) as exc:
                raise OperationFailed(f"cannot complete onboarding now ({type(exc).__name__})") from None
            if result.account_id is None:
                raise OperationFailed("Sikka does not list this practice yet (SPU still syncing?); try later")
            # PENDING: stored, its data not uploaded yet; the token works once a sync activates it.
            issued = await issue_token(services.sessions, result.account_id, "connect")
            return {
                "accountId": result.account_id,
                "status": str(result.status),
                "tokenId": issued.token_id,
                "token": issued.token,
            }

        return await audited_operation(services, "practices.connect", "C", f"connect office {office_id}", connect)

    data = with_services(run)
    emit(
        data,
        as_json,
        [
            f"account {data['accountId']} is {data['status']}",
            f"token id: {data['tokenId']}",
            f"token (shown once): {data['token']}",
        ],
    )


@practices.command("sync")
@json_option
def practices_sync(as_json: bool) -> None:
    """Reconcile with Sikka's authorized_practices now (what the service does every
    PRACTICES_SYNC_INTERVAL_SECONDS): onboard and activate listed locations, turn their API access on, deactivate
    those missing from two syncs in a row. Exit 1 when Sikka cannot be read (nothing changed) or a step failed."""
    from server.practice_sync import Change, claim, run_sync
    from server.sikka.errors import SikkaError

    async def run(services: Services) -> Any:
        lease = await claim(services, wait_seconds=SYNC_WAIT_SECONDS)
        if lease is None:
            raise OperationFailed("another sync is still running; try again later")
        try:
            return await run_sync(services, lease, actor="cli")
        except SikkaError as exc:
            raise OperationFailed(f"cannot read Sikka ({type(exc).__name__}); nothing changed") from None

    report = with_services(run)
    emit(
        {**report.counts(), "changes": [change.as_json() for change in report.changes]},
        as_json,
        [
            *[f"{name}: {n}" for name, n in report.counts().items()],
            *[
                f"  {c.change:<11}  {c.office_id}/{c.practice_id}  {c.account_id or '-'}  {c.reason}".rstrip()
                for c in report.changes
            ],
        ],
    )
    if report.count(Change.FAILED):
        sys.exit(1)


@practices.command("list")
@json_option
def practices_list(as_json: bool) -> None:
    """Every location: status, PMS, API access, and when a sync (or onboarding) last saw Sikka list it."""
    from sqlalchemy import select

    from server.db.models import Account, PmsIntegration

    def when(moment: datetime | None) -> str | None:
        return moment.isoformat() if moment else None

    async def run(services: Services) -> list[dict[str, Any]]:
        async with services.sessions() as session:
            rows = await session.execute(
                select(PmsIntegration, Account.name).join(Account).order_by(Account.name, PmsIntegration.office_id)
            )
            return [
                {
                    "accountId": integration.account_id,
                    "name": name,
                    "officeId": integration.office_id,
                    "practiceId": integration.practice_id,
                    "status": integration.status,
                    "pms": integration.pms_type,
                    "timeZone": integration.time_zone,
                    "apiAccess": integration.api_access,
                    "lastSyncedAt": when(integration.last_sync_at),
                    "missedSyncs": integration.missed_syncs,
                }
                for integration, name in rows
            ]

    listed = with_services(run)
    emit(
        {"practices": listed},
        as_json,
        [
            f"{p['accountId']}  {p['status']:<8}  {p['officeId']}/{p['practiceId']}  access {p['apiAccess'] or '?'}  "
            f"synced {p['lastSyncedAt'] or '-'}  {p['pms'] or '-'}  {p['name']}"
            for p in listed
        ]
        or ["no practices"],
    )


@practices.command("notify-url")
@click.option("--account-id", required=True)
@click.option("--url", default=None, help="The practice's https:// endpoint for staff messages.")
@click.option("--clear", is_flag=True, help="Stop delivering messages (they stay listed for staff).")
@json_option
def practices_notify_url(account_id: str, url: str | None, clear: bool, as_json: bool) -> None:
    """Where this practice's staff messages are posted (Standard Webhooks signed); a new signing secret is
    generated with every URL and printed once."""
    from server.notify import check_notify_url

    if (url is None) == (not clear):
        raise click.UsageError("give --url or --clear")
    if url is not None:
        try:
            url = check_notify_url(url)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--url") from None

    async def run(services: Services) -> str | bool:
        await require_account(services, account_id)
        endpoints = services.notify_endpoints
        if url is None:
            return await audited_operation(
                services,
                "practices.notify_url",
                "D",
                f"clear notify URL of {account_id}",
                lambda: endpoints.clear(account_id),
            )
        return await audited_operation(
            services,
            "practices.notify_url",
            "U",
            f"set notify URL of {account_id}",
            lambda: endpoints.set(account_id, url),
        )

    outcome = with_services(run)
    if url is None:
        emit({"accountId": account_id, "cleared": bool(outcome)}, as_json, [f"notify URL cleared: {bool(outcome)}"])
        return
    emit(
        {"accountId": account_id, "url": url, "secret": outcome},
        as_json,
        [f"staff messages for {account_id} go to {url}", f"signing secret (shown once): {outcome}"],
    )


# --- audit --------------------------------------------------------------------------------------------


@main.group()
def audit() -> None:
    """The audit log: chain verification, anchoring and the breach report."""


@audit.command("verify")
@click.option("--account-id", default=None, help="Only this account's chain.")
@json_option
def audit_verify(account_id: str | None, as_json: bool) -> None:
    """Exit 0 when every chain is intact and agrees with the newest anchor; 1 naming the first problem."""
    from server.audit import anchor, chain
    from server.db.models import utcnow
    from server.retention import audit_cutoff

    async def run(services: Services) -> dict[str, Any]:
        anchoring = anchor.anchoring_from_settings(services.settings)
        latest, forged = await read_anchors(anchoring)
        async with services.sessions() as session:
            await chain.snapshot(session)
            checked, problem = await chain.verify(session, account_id)
            if problem is None and latest is not None:
                cutoff = audit_cutoff(services.settings, utcnow())
                problem = await anchor.verify_against(session, latest, cutoff, account_id)
        return {
            "intact": problem is None and not forged,
            "recordsChecked": checked,
            "problem": forged[0] if forged else (problem.describe() if problem else None),
            "recordId": problem.record_id if problem else None,
            "anchor": anchor_summary(anchoring is not None, latest),
        }

    report = with_services(run)
    checked_anchor = report["anchor"]
    against = (
        f"; agrees with anchor {checked_anchor['name']} of {checked_anchor['anchoredAt']}"
        if checked_anchor["checked"]
        else f"; anchors not checked ({checked_anchor['reason']})"
    )
    emit(
        report,
        as_json,
        [f"audit chain intact ({report['recordsChecked']} records){against}"]
        if report["intact"]
        else [f"audit chain broken: {report['problem']}"],
    )
    if not report["intact"]:
        sys.exit(1)


async def read_anchors(anchoring: Anchoring | None) -> tuple[Anchor | None, list[str]]:
    """The newest authentic anchor and the problems with newer ones (none when anchoring is off)."""
    from server.audit.anchor import AnchorError

    if anchoring is None:
        return None, []
    try:
        return await anchoring.latest()
    except AnchorError as exc:
        raise OperationFailed(f"cannot read anchors: {exc}") from None


def anchor_summary(configured: bool, latest: Anchor | None) -> dict[str, Any]:
    if latest is not None:
        return {
            "checked": True,
            "name": latest.name,
            "anchoredAt": latest.anchored_at.isoformat(),
            "accounts": len(latest.heads),
        }
    return {"checked": False, "reason": "no authentic anchor yet" if configured else "AUDIT_ANCHOR_URL is not set"}


@audit.command("anchor")
@json_option
def audit_anchor(as_json: bool) -> None:
    """Write every account's chain head, signed, to AUDIT_ANCHOR_URL (run it hourly). Refuses (exit 1) when a
    chain disagrees with the previous anchor, so a rolled-back chain is never anchored."""
    from server.audit import anchor, chain
    from server.audit.anchor import AnchorError
    from server.db.models import utcnow
    from server.retention import audit_cutoff

    async def run(services: Services) -> dict[str, Any]:
        anchoring = anchor.anchoring_from_settings(services.settings)
        if anchoring is None:
            raise ConfigError("AUDIT_ANCHOR_URL: not set, so anchoring is not configured")

        async def write() -> dict[str, Any]:
            previous, forged = await read_anchors(anchoring)
            if forged:
                raise OperationFailed(f"not anchoring: {forged[0]}")
            async with services.sessions() as session:
                await chain.snapshot(session)
                cutoff = audit_cutoff(services.settings, utcnow())
                checked, problem, heads = await anchor.verify_since(session, previous, cutoff)
            if problem is not None:
                raise OperationFailed(f"not anchoring, audit chain broken: {problem.describe()}")
            anchored_at = utcnow()
            try:
                url = await anchoring.write(heads, anchored_at)
            except AnchorError as exc:
                raise OperationFailed(f"cannot write the anchor: {exc}") from None
            return {
                "url": url,
                "anchoredAt": anchored_at.isoformat(),
                "previous": previous.name if previous else None,
                "recordsChecked": checked,
                "heads": [anchor.head_json(head) for head in heads],
            }

        return await audited_operation(services, "audit.anchor", "C", "anchor the audit chain heads", write)

    written = with_services(run)
    since = f"since anchor {written['previous']}" if written["previous"] else "(first anchor: whole chains)"
    emit(
        written,
        as_json,
        [
            f"checked {written['recordsChecked']} records {since}",
            f"anchored {len(written['heads'])} chain heads to {written['url']}",
        ],
    )


@audit.command("report")
@click.option("--account-id", required=True)
@click.option("--since", required=True, type=click.DateTime(), help="Start (UTC), e.g. 2026-11-01.")
@click.option("--until", required=True, type=click.DateTime(), help="End (UTC, exclusive).")
@click.option("--format", "output", type=click.Choice(["json", "csv"]), default="json", show_default=True)
def audit_report(account_id: str, since: datetime, until: datetime, output: str) -> None:
    """Which patients' PHI fields were accessed, when, by which token and call; consents recorded."""
    from server.audit.report import breach_report

    if until <= since:
        raise click.BadParameter("--until must be after --since")

    async def run(services: Services) -> Any:
        await require_account(services, account_id)
        return await audited_operation(
            services,
            "audit.report",
            "R",
            f"breach report for account {account_id}",
            lambda: breach_report(services, account_id, since.replace(tzinfo=UTC), until.replace(tzinfo=UTC)),
        )

    report = with_services(run)
    click.echo(json.dumps(report.as_json()) if output == "json" else report.as_csv(), nl=output == "json")


# --- retention, PHI keys, follow-ups -------------------------------------------------------------------


@main.group()
def retention() -> None:
    """Data retention."""


@retention.command("purge")
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; delete nothing.")
@json_option
def retention_purge(dry_run: bool, as_json: bool) -> None:
    """Delete stored PHI past its configured age (never audit records younger than six years)."""
    from server.retention import purge

    async def run(services: Services) -> dict[str, int]:
        mode = "dry run" if dry_run else "purge"
        return await audited_operation(
            services, "retention.purge", "D", f"retention {mode}", lambda: purge(services, dry_run=dry_run)
        )

    counts = with_services(run)
    verb = "would delete" if dry_run else "deleted"
    emit({"dryRun": dry_run, "counts": counts}, as_json, [f"{verb} {n} from {table}" for table, n in counts.items()])


@main.group()
def phi() -> None:
    """PHI encryption keys."""


@phi.command("reencrypt")
@click.option("--dry-run", is_flag=True, help="Count envelopes on old keys; change nothing.")
@json_option
def phi_reencrypt(dry_run: bool, as_json: bool) -> None:
    """Re-encrypt stored PHI with the current key (after rotating PHI_ENCRYPTION_KEY)."""
    from server.phi.reencrypt import reencrypt

    async def run(services: Services) -> dict[str, int]:
        return await audited_operation(
            services, "phi.reencrypt", "U", "re-encrypt stored PHI", lambda: reencrypt(services, dry_run=dry_run)
        )

    counts = with_services(run)
    verb = "would re-encrypt" if dry_run else "re-encrypted"
    emit({"dryRun": dry_run, "counts": counts}, as_json, [f"{verb} {n} in {table}" for table, n in counts.items()])


@main.group()
def followups() -> None:
    """Changes recorded for the practice's staff (the PMS could not take them through Sikka)."""


@followups.command("list")
@click.option("--account-id", required=True)
@json_option
def followups_list(account_id: str, as_json: bool) -> None:
    """Open follow-ups, decrypted (contains PHI: for the practice's staff only)."""

    async def run(services: Services) -> list[dict[str, Any]]:
        await require_account(services, account_id)

        async def read() -> list[dict[str, Any]]:
            return [
                {
                    "id": row.id,
                    "kind": row.kind,
                    "createdAt": row.created_at.isoformat(),
                    "vapiCallId": row.vapi_call_id,
                    "details": details,
                }
                for row, details in await services.phi_records.open_followups(account_id)
            ]

        return await audited_operation(services, "followups.list", "R", f"staff follow-ups for {account_id}", read)

    items = with_services(run)
    emit(
        {"followups": items},
        as_json,
        [f"{i['id']}  {i['createdAt']}  {i['kind']}  {json.dumps(i['details'])}" for i in items]
        or ["no open follow-ups"],
    )


@followups.command("resolve")
@click.option("--id", "followup_id", required=True)
@json_option
def followups_resolve(followup_id: str, as_json: bool) -> None:
    """Mark a follow-up done."""

    async def run(services: Services) -> bool:
        return await audited_operation(
            services,
            "followups.resolve",
            "U",
            f"resolve follow-up {followup_id}",
            lambda: services.phi_records.resolve_followup(followup_id),
        )

    if not with_services(run):
        raise click.ClickException(f"no open follow-up {followup_id}")
    emit({"id": followup_id, "resolved": True}, as_json, [f"resolved {followup_id}"])


@main.group()
def messages() -> None:
    """Messages callers left for the practice's staff (takeMessage)."""


@messages.command("list")
@click.option("--account-id", required=True)
@json_option
def messages_list(account_id: str, as_json: bool) -> None:
    """Open messages, decrypted, with their delivery state (contains PHI: for the practice's staff only)."""

    async def run(services: Services) -> list[dict[str, Any]]:
        await require_account(services, account_id)

        async def read() -> list[dict[str, Any]]:
            return [message.as_json() for message in await services.messages.open_messages(account_id)]

        return await audited_operation(services, "messages.list", "R", f"staff messages for {account_id}", read)

    items = with_services(run)
    emit(
        {"messages": items},
        as_json,
        [
            f"{i['id']}  {i['createdAt']}  {i['urgency']:<7}  {i['delivery']:<9}  {i['callerName']}  "
            f"{i['callbackNumber']}  {i['reason']}"
            for i in items
        ]
        or ["no open messages"],
    )


@messages.command("resolve")
@click.option("--id", "message_id", required=True)
@json_option
def messages_resolve(message_id: str, as_json: bool) -> None:
    """Mark a message handled."""

    async def run(services: Services) -> bool:
        return await audited_operation(
            services,
            "messages.resolve",
            "U",
            f"resolve message {message_id}",
            lambda: services.messages.resolve(message_id),
        )

    if not with_services(run):
        raise click.ClickException(f"no open message {message_id}")
    emit({"id": message_id, "resolved": True}, as_json, [f"resolved {message_id}"])


# --- MCP over stdio, Vapi -------------------------------------------------------------------------------


@main.command()
@click.option("--account-id", required=True, help="The one practice this process serves.")
def stdio(account_id: str) -> None:
    """Serve the tools over stdio for a local agent (stdout carries the protocol; logs go to stderr)."""
    from contextlib import nullcontext

    from server.auth import AccountBinding
    from server.mcp import build_mcp_server, serve_stdio
    from server.services import open_services
    from tools import ALL_TOOLS

    settings = settings_or_exit()

    async def run() -> None:
        async with open_services(settings) as services:
            integration_id = await active_integration(services, account_id)
            binding = AccountBinding(account_id, "stdio", integration_id)
            server = build_mcp_server(ALL_TOOLS, lambda: nullcontext(services), bound_account=binding)
            await serve_stdio(server)

    run_async(run)


async def active_integration(services: Services, account_id: str) -> str:
    from sqlalchemy import select

    from server.db.models import IntegrationStatus, PmsIntegration

    async with services.sessions() as session:
        integration = await session.scalar(select(PmsIntegration).where(PmsIntegration.account_id == account_id))
    if integration is None or integration.status != IntegrationStatus.ACTIVE:
        raise OperationFailed(f"account {account_id} has no active practice integration")
    return integration.id


@main.command("vapi-config")
@click.option("--account-id", required=True)
@click.option("--url", required=True, help="The public MCP endpoint, e.g. https://mcp.example.com/mcp.")
@click.option("--credential-id", default=None, help="A Vapi Bearer credential id (preferred to a literal header).")
def vapi_config(account_id: str, url: str, credential_id: str | None) -> None:
    """Print the Vapi MCP tool JSON; without --credential-id, a new token is issued and embedded (shown once)."""
    from server.auth import issue_token
    from server.vapi import vapi_tool

    if not url.startswith("https://") and "127.0.0.1" not in url and "localhost" not in url:
        raise click.BadParameter("must be an https:// URL", param_hint="--url")

    async def run(services: Services) -> dict[str, Any]:
        await active_integration(services, account_id)
        if credential_id:
            return vapi_tool(url, credential_id=credential_id)
        issued = await audited_operation(
            services,
            "tokens.issue",
            "C",
            f"token for account {account_id} (vapi-config)",
            lambda: issue_token(services.sessions, account_id, "vapi"),
        )
        return vapi_tool(url, token=issued.token)

    click.echo(json.dumps(with_services(run), indent=2))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8100, show_default=True, type=click.IntRange(1, 65535))
@click.option("--latency-ms", default=0.0, show_default=True, type=click.FloatRange(0), help="Added per request.")
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
