"""`retention purge` and `phi reencrypt`: stored PHI past its age, and after a key rotation."""

from __future__ import annotations

import click

from app.cli.common import audited_operation, emit, json_option, with_services
from server.phi.reencrypt import reencrypt
from server.retention import purge
from server.services import Services


@click.group()
def retention() -> None:
    """Data retention."""


@retention.command("purge")
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; delete nothing.")
@json_option
def retention_purge(dry_run: bool, as_json: bool) -> None:
    """Delete stored PHI past its configured age (never audit records younger than six years)."""

    async def run(services: Services) -> dict[str, int]:
        mode = "dry run" if dry_run else "purge"
        return await audited_operation(
            services, "retention.purge", "D", f"retention {mode}", lambda: purge(services, dry_run=dry_run)
        )

    counts = with_services(run)
    verb = "would delete" if dry_run else "deleted"
    emit({"dryRun": dry_run, "counts": counts}, as_json, [f"{verb} {n} from {table}" for table, n in counts.items()])


@click.group()
def phi() -> None:
    """PHI encryption keys."""


@phi.command("reencrypt")
@click.option("--dry-run", is_flag=True, help="Count envelopes on old keys; change nothing.")
@json_option
def phi_reencrypt(dry_run: bool, as_json: bool) -> None:
    """Re-encrypt stored PHI with the current key (after rotating PHI_ENCRYPTION_KEY)."""

    async def run(services: Services) -> dict[str, int]:
        return await audited_operation(
            services, "phi.reencrypt", "U", "re-encrypt stored PHI", lambda: reencrypt(services, dry_run=dry_run)
        )

    counts = with_services(run)
    verb = "would re-encrypt" if dry_run else "re-encrypted"
    emit({"dryRun": dry_run, "counts": counts}, as_json, [f"{verb} {n} in {table}" for table, n in counts.items()])
