"""`practices connect|sync|list|notify-url|staff-email`: practice locations, their integrations, and where their
staff inbox is delivered."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

import click
from sqlalchemy import select

from app.cli.common import (
    FROM_STDIN,
    SYNC_WAIT_SECONDS,
    OperationFailed,
    audited_operation,
    emit,
    json_option,
    require_account,
    with_services,
)
from server.auth import issue_token
from server.db.models import Account, PmsIntegration
from server.mail import StaffAddress, check_address
from server.notify import EndpointSet, check_notify_url
from server.onboarding import NotConfirmed, Onboarding, PracticeRef
from server.practice_sync import Change, claim, run_sync
from server.services import Services
from server.sikka import SikkaError
from server.vault import VaultError


@click.group()
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
    """Every location: status, PMS, API access, when a sync (or onboarding) last saw Sikka list it, and why a
    listed location is not served (lastError, e.g. an unknown time zone)."""

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
                    "lastError": integration.last_error,
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
            + (f"  ({p['lastError']})" if p["lastError"] else "")
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

    if (url is None) == (not clear):
        raise click.UsageError("give --url or --clear")
    if url is not None:
        try:
            url = check_notify_url(url)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--url") from None

    async def run(services: Services) -> EndpointSet | bool:
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
    if isinstance(outcome, bool):
        emit({"accountId": account_id, "cleared": bool(outcome)}, as_json, [f"notify URL cleared: {bool(outcome)}"])
        return
    emit(
        {"accountId": account_id, "url": url, "secret": outcome.secret, "queued": outcome.queued},
        as_json,
        [
            f"staff messages for {account_id} go to {url}",
            f"signing secret (shown once): {outcome.secret}",
            f"open inbox items queued for delivery: {outcome.queued}",
        ],
    )


@practices.command("staff-email")
@click.option("--account-id", required=True)
@click.option("--email", "address", default=None, help="The address the practice's staff read.")
@click.option(
    "--booking-notices/--no-booking-notices",
    default=False,
    show_default=True,
    help="Also send a notice of every booking the assistant makes (by email and to the notify URL).",
)
@click.option("--clear", is_flag=True, help="Stop emailing the inbox (items stay listed for staff).")
@json_option
def practices_staff_email(
    account_id: str, address: str | None, booking_notices: bool, clear: bool, as_json: bool
) -> None:
    """Where this practice's staff inbox is emailed (Amazon SES, TLS required); open items are queued for it."""
    if (address is None) == (not clear):
        raise click.UsageError("give --email or --clear")
    if address is not None:
        try:
            address = check_address(address)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--email") from None

    async def run(services: Services) -> StaffAddress | bool:
        await require_account(services, account_id)
        emails = services.staff_emails
        if address is None:
            clear_it = lambda: emails.clear(account_id)  # noqa: E731
            return await audited_operation(
                services, "practices.staff_email", "D", f"clear staff email of {account_id}", clear_it
            )
        set_it = lambda: emails.set(account_id, address, booking_notices=booking_notices)  # noqa: E731
        return await audited_operation(
            services, "practices.staff_email", "U", f"set staff email of {account_id}", set_it
        )

    outcome = with_services(run)
    if isinstance(outcome, bool):
        emit({"accountId": account_id, "cleared": outcome}, as_json, [f"staff email cleared: {outcome}"])
        return
    notices = "with" if outcome.booking_notices else "without"
    emit(
        {
            "accountId": account_id,
            "email": outcome.address,
            "bookingNotices": outcome.booking_notices,
            "queued": outcome.queued,
        },
        as_json,
        [
            f"the staff inbox of {account_id} is emailed to {outcome.address} ({notices} booking notices)",
            f"open inbox items queued for email: {outcome.queued}",
        ],
    )
