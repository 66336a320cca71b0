"""`messages list|resolve`: the practice's staff inbox — callers' messages, writes that need a person, requests
the PMS cannot take — decrypted for staff, every read audited."""

from __future__ import annotations

from typing import Any

import click

from app.cli.common import audited_operation, emit, json_option, require_account, with_services
from server.services import Services
from server.text import visible


@click.group()
def messages() -> None:
    """The staff inbox: callers' messages, writes that need a person, requests recorded for staff."""


@messages.command("list")
@click.option("--account-id", required=True)
@json_option
def messages_list(account_id: str, as_json: bool) -> None:
    """Open items, decrypted, with their kind and deliveries (contains PHI: for the practice's staff only). Line
    breaks, control and bidi characters are printed as escapes, so no item can forge or reorder lines."""

    async def run(services: Services) -> list[dict[str, Any]]:
        await require_account(services, account_id)

        async def read() -> list[dict[str, Any]]:
            return [item.as_json() for item in await services.inbox.open_items(account_id)]

        return await audited_operation(services, "messages.list", "R", f"staff inbox of {account_id}", read)

    items = with_services(run)
    emit({"messages": items}, as_json, [line(item) for item in items] or ["no open items"])


def line(item: dict[str, Any]) -> str:
    """One item on one line: its text cannot break the listing (controls and bidi marks shown as escapes)."""
    deliveries = ",".join(f"{d['channel']}:{d['status']}" for d in item["deliveries"]) or "not delivered"
    who = " ".join(part for part in (item["callerName"], item["callbackNumber"]) if part)
    what = "; ".join(part for part in (item["request"], item["reason"], item["sikkaSaid"]) if part)
    return visible(
        f"{item['id']}  {item['createdAt']}  {item['kind']:<18}  {item['urgency']:<7}  {deliveries}  {who}  {what}"
    )


@messages.command("resolve")
@click.option("--id", "item_id", required=True)
@json_option
def messages_resolve(item_id: str, as_json: bool) -> None:
    """Mark an item handled."""

    async def run(services: Services) -> bool:
        resolve = services.inbox.resolve
        return await audited_operation(
            services, "messages.resolve", "U", f"resolve item {item_id}", lambda: resolve(item_id)
        )

    if not with_services(run):
        raise click.ClickException(f"no open item {item_id}")
    emit({"id": item_id, "resolved": True}, as_json, [f"resolved {item_id}"])
