"""`audit verify|anchor|report`: the audit chain, its anchors and the breach report."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

import click

from app.cli.common import OperationFailed, audited_operation, emit, json_option, require_account, with_services
from server.audit import anchor, chain
from server.audit.anchor import Anchor, AnchorError, Anchoring
from server.audit.report import breach_report
from server.db.models import utcnow
from server.retention import audit_cutoff
from server.services import Services
from server.settings import ConfigError


@click.group()
def audit() -> None:
    """The audit log: chain verification, anchoring and the breach report."""


@audit.command("verify")
@click.option("--account-id", default=None, help="Only this account's chain.")
@json_option
def audit_verify(account_id: str | None, as_json: bool) -> None:
    """Exit 0 when every chain is intact and agrees with the newest anchor; 1 naming the first problem."""

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
    """Write every account's chain head, signed, to AUDIT_ANCHOR_URL (run it every few minutes). Refuses (exit 1)
    when a chain disagrees with the previous anchor, so a rolled-back chain is never anchored."""

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
