"""`tokens issue|revoke`: practice access tokens (Bearer tokens for /mcp and /vapi/tool-calls)."""

from __future__ import annotations

from typing import Any

import click

from app.cli.common import audited_operation, emit, json_option, require_account, with_services
from server.auth import issue_token, revoke_token
from server.services import Services


@click.group()
def tokens() -> None:
    """Practice access tokens (Bearer tokens for /mcp)."""


@tokens.command("issue")
@click.option("--account-id", required=True)
@click.option("--label", default="", help="A note for operators, e.g. the Vapi assistant's name.")
@json_option
def tokens_issue(account_id: str, label: str, as_json: bool) -> None:
    """Create a token for one practice; it is printed once and stored only as a SHA-256 hash."""

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
