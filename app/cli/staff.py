"""`followups` and `messages`: what the tools recorded for the practice's staff (decrypted, audited)."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

import click

from app.cli.common import audited_operation, emit, json_option, require_account, with_services
from server.services import Services
from server.text import visible


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
                for row, details in await services.phi_store.open_followups(account_id)
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
    mark_resolved("follow-up", "followups.resolve", followup_id, as_json, lambda s: s.phi_store.resolve_followup)


@click.group()
def messages() -> None:
    """Messages callers left for the practice's staff (takeMessage)."""


@messages.command("list")
@click.option("--account-id", required=True)
@json_option
def messages_list(account_id: str, as_json: bool) -> None:
    """Open messages, decrypted, with their delivery state (contains PHI: for the practice's staff only).
    Line breaks, control and bidi characters are printed as escapes, so no message can forge or reorder lines."""

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
            f"{i['id']}  {i['createdAt']}  {i['urgency']:<7}  {i['delivery']:<9}  {visible(i['callerName'])}  "
            f"{visible(i['callbackNumber'])}  {visible(i['reason'])}"
            for i in items
        ]
        or ["no open messages"],
    )


@messages.command("resolve")
@click.option("--id", "message_id", required=True)
@json_option
def messages_resolve(message_id: str, as_json: bool) -> None:
    """Mark a message handled."""
    mark_resolved("message", "messages.resolve", message_id, as_json, lambda s: s.messages.resolve)


def mark_resolved(
    kind: str,
    action: str,
    item_id: str,
    as_json: bool,
    resolver: Callable[[Services], Callable[[str], Coroutine[Any, Any, bool]]],
) -> None:
    """Resolve one open item, audited; exit 1 when there is no such open item."""

    async def run(services: Services) -> bool:
        resolve = resolver(services)
        return await audited_operation(services, action, "U", f"resolve {kind} {item_id}", lambda: resolve(item_id))

    if not with_services(run):
        raise click.ClickException(f"no open {kind} {item_id}")
    emit({"id": item_id, "resolved": True}, as_json, [f"resolved {item_id}"])
