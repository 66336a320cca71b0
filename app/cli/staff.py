"""`followups` and `messages`: what the tools recorded for the practice's staff (decrypted, audited)."""

from __future__ import annotations

import json
from typing import Any

import click

from app.cli.common import (
    audited_operation,
    emit,
    json_option,
    require_account,
    with_services,
)
from server.services import Services


@click.group()
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


@click.group()
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
