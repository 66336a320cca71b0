"""Demo mode (`parlae-mcp serve --demo`, what `make run` does): SQLite, the local vault, the Sikka sandbox in
this process, and the demo practice onboarded through the same flow as a real one."""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path

import click
import httpx
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.routing import Mount

from app.main import create_app
from app.toolcalls import PATH as TOOL_CALLS_PATH
from app.vapi import vapi_tool
from sandbox import (
    DEMO_APP_ID,
    DEMO_APP_KEY,
    DEMO_OFFICE_ID,
    DEMO_PRACTICE_ID,
    DEMO_PRACTICE_NAME,
    DEMO_SECRET_KEY,
    SandboxConfig,
    SandboxState,
    create_sandbox_app,
)
from server.auth import issue_token, revoke_account_tokens, token_hash
from server.db import migrate
from server.db.models import PracticeToken
from server.onboarding import Onboarding, PracticeRef
from server.services import Services, build_services
from server.settings import Settings

DEMO_TOKEN_LABEL = "demo"  # noqa: S105 (a label, not a secret)
SANDBOX_PATH = "/sikka-sandbox"
DEMO_WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"parlae demo webhook secret, not for production").decode()


def demo_phi_key(folder: Path) -> str:
    """A local PHI key kept under var/ (created once, owner-only), so restarts can read what was stored."""
    path = folder / "demo-phi.key"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(base64.b64encode(secrets.token_bytes(32)).decode())
    return path.read_text().strip()


def demo_settings(settings: Settings, host: str, port: int) -> Settings:
    """The operator's settings with the demo's Sikka, vault and key (validated like any other settings)."""
    return Settings.model_validate(
        {
            **settings.model_dump(),
            "sikka_api_url": f"http://{host}:{port}{SANDBOX_PATH}/v4",
            "sikka_app_id": settings.sikka_app_id or DEMO_APP_ID,
            "sikka_app_key": settings.sikka_app_key or DEMO_APP_KEY,
            "sikka_webhook_secret": settings.sikka_webhook_secret or DEMO_WEBHOOK_SECRET,
            "secrets_backend": "local",
            "phi_encryption_key": settings.phi_encryption_key or demo_phi_key(Path("var")),
            "phi_kms_key_id": None,
        }
    )


async def ensure_demo_token(services: Services, account_id: str, wanted: str | None) -> str:
    """PARLAE_DEMO_TOKEN if set (registered once), else a new token replacing the previous demo token."""
    if wanted:
        async with services.sessions() as session:
            known = await session.scalar(select(PracticeToken.id).where(PracticeToken.token_hash == token_hash(wanted)))
        if known is None:
            await issue_token(services.sessions, account_id, DEMO_TOKEN_LABEL, token=wanted)
        return wanted
    async with services.sessions.begin() as session:
        await revoke_account_tokens(session, account_id, label=DEMO_TOKEN_LABEL)
    return (await issue_token(services.sessions, account_id, DEMO_TOKEN_LABEL)).token


def sync_schedule(settings: Settings) -> str:
    """Demo mode syncs like production: the in-process sandbox lists a second location, which the first sync
    onboards (a harmless local call every interval)."""
    interval = settings.practices_sync_interval_seconds
    return f"every {interval} s, starting now" if interval else "off"


def demo_app(settings: Settings, *, host: str, port: int) -> Starlette:
    settings = demo_settings(settings, host, port)
    sandbox_app = create_sandbox_app(SandboxState(SandboxConfig(app_id=DEMO_APP_ID, app_key=DEMO_APP_KEY)))
    # The gateway reaches the sandbox in-process; it is also mounted for people to browse.
    services = build_services(settings, sikka_transport=httpx.ASGITransport(app=sandbox_app, root_path=SANDBOX_PATH))
    wanted = settings.parlae_demo_token.get_secret_value() if settings.parlae_demo_token else None

    async def start(services: Services) -> None:
        await migrate.upgrade(services.engine)
        practice = PracticeRef(DEMO_OFFICE_ID, DEMO_PRACTICE_ID, DEMO_SECRET_KEY, DEMO_PRACTICE_NAME)
        result = await Onboarding(services).authorize(practice)
        assert result.account_id is not None, "the sandbox always lists the demo practice"
        token = await ensure_demo_token(services, result.account_id, wanted)
        url = f"http://{host}:{port}/mcp"
        click.echo(
            f"\nParlae demo: {DEMO_PRACTICE_NAME} (account {result.account_id})\n"
            f"  MCP endpoint : {url}\n"
            f"  Vapi server tools: http://{host}:{port}{TOOL_CALLS_PATH} (parlae-mcp vapi-config --server-tools)\n"
            f"  Practice token (shown once): {token}\n"
            f"  Sikka sandbox: http://{host}:{port}{SANDBOX_PATH}/v4 (admin: {SANDBOX_PATH}/_admin/counters)\n"
            f"  Practice sync: {sync_schedule(settings)} (PRACTICES_SYNC_INTERVAL_SECONDS)\n"
            f"  Vapi tool JSON:\n{json.dumps(vapi_tool(url, token=token), indent=2)}\n"
        )

    return create_app(
        settings, services=services, extra_routes=[Mount(SANDBOX_PATH, app=sandbox_app)], on_startup=start
    )
