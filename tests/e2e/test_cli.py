"""The operator CLI against the sandbox: connect, tokens, sync, list, vapi-config, stdio, retention, report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client, StdioServerParameters

from app.main import create_app
from sandbox import (
    DEMO_APP_ID,
    DEMO_APP_KEY,
    DEMO_OFFICE_ID,
    DEMO_SECRET_KEY,
    SandboxConfig,
    SandboxState,
    create_sandbox_app,
)
from tests.conftest import new_phi_key
from tests.support import (
    SECOND_OFFICE,
    SECOND_SECRET,
    ThreadedServer,
    call,
    mcp_client,
    practice_today,
    serve,
    stack_settings,
)
from tools import ALL_TOOLS

pytestmark = pytest.mark.anyio


@dataclass
class Cli:
    env: dict[str, str]
    sandbox: SandboxState
    sandbox_server: ThreadedServer

    def run(
        self, *args: str, check: bool = True, stdin: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "app", *args],
            env={**self.env, **(env or {})},
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check:
            assert result.returncode == 0, result.stderr
        return result

    def json(self, *args: str) -> dict[str, Any]:
        answer: dict[str, Any] = json.loads(self.run(*args, "--json").stdout)
        return answer


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    state = SandboxState(SandboxConfig(writeback_delay_seconds=0.2))
    state.add_practice(SECOND_OFFICE, secret_key=SECOND_SECRET, name="Second Smile Dental", seed=7, listed=False)
    with serve(create_sandbox_app(state)) as sandbox_server:
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
            "SIKKA_API_URL": f"{sandbox_server.url}/v4",
            "SIKKA_APP_ID": DEMO_APP_ID,
            "SIKKA_APP_KEY": DEMO_APP_KEY,
            "PHI_ENCRYPTION_KEY": new_phi_key(),
            "LOG_LEVEL": "WARNING",
        }
        runner = Cli(env, state, sandbox_server)
        runner.run("db", "upgrade")
        yield runner


def serve_app(cli: Cli) -> ThreadedServer:
    settings = stack_settings(
        cli.env["DATABASE_URL"],
        cli.sandbox_server.url,
        phi_encryption_key=cli.env["PHI_ENCRYPTION_KEY"],
        token_cache_seconds=0,
    )
    return ThreadedServer(create_app(settings)).start()


async def test_connect_then_issue_gives_a_working_token_and_revoke_stops_it(cli: Cli) -> None:
    connected = cli.json("practices", "connect", "--office-id", DEMO_OFFICE_ID, "--secret-key", DEMO_SECRET_KEY)
    assert set(connected) == {"accountId", "status", "tokenId", "token"}
    assert connected["status"] == "ACTIVE"
    issued = cli.json("tokens", "issue", "--account-id", str(connected["accountId"]))
    assert set(issued) == {"accountId", "tokenId", "token"}
    server = serve_app(cli)
    try:
        async with mcp_client(f"{server.url}/mcp", str(issued["token"])) as client:
            found = await call(client, "searchPatients", {"name": "Smith"})
        assert found["outcome"] in ("ok", "not_found", "needs_verification")
        cli.run("tokens", "revoke", "--token-id", str(issued["tokenId"]))
        async with httpx.AsyncClient() as http:
            response = await http.post(
                f"{server.url}/mcp",
                json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                headers={"Authorization": f"Bearer {issued['token']}", "Accept": "application/json, text/event-stream"},
            )
        assert response.status_code == 401
    finally:
        server.stop()


def test_connect_refuses_a_wrong_secret_and_an_unlisted_practice(cli: Cli) -> None:
    wrong = cli.run("practices", "connect", "--office-id", DEMO_OFFICE_ID, "--secret-key", "nope", check=False)
    assert wrong.returncode == 1
    assert "does not confirm" in wrong.stderr
    unlisted = cli.run("practices", "connect", "--office-id", SECOND_OFFICE, "--secret-key", SECOND_SECRET, check=False)
    assert unlisted.returncode == 1
    assert "does not list this practice yet" in unlisted.stderr
    assert cli.json("practices", "list") == {"practices": []}


def test_connect_reads_the_secret_key_from_stdin_or_the_environment(cli: Cli) -> None:
    from_stdin = cli.run(
        "practices",
        "connect",
        "--office-id",
        DEMO_OFFICE_ID,
        "--secret-key",
        "-",
        "--json",
        stdin=DEMO_SECRET_KEY + "\n",
    )
    assert json.loads(from_stdin.stdout)["status"] == "ACTIVE"
    cli.sandbox.add_practice("D36002", secret_key="e" * 32, name="Env Dental")
    from_env = cli.run("practices", "connect", "--office-id", "D36002", "--json", env={"PARLAE_SECRET_KEY": "e" * 32})
    assert json.loads(from_env.stdout)["status"] == "ACTIVE"
    wrong = cli.run("practices", "connect", "--office-id", "D36002", "--secret-key", "-", stdin="nope\n", check=False)
    assert wrong.returncode == 1
    assert "does not confirm" in wrong.stderr
    empty = cli.run("practices", "connect", "--office-id", DEMO_OFFICE_ID, "--secret-key", "-", stdin="", check=False)
    assert empty.returncode == 2
    assert "stdin, which was empty" in empty.stderr
    missing = cli.run("practices", "connect", "--office-id", DEMO_OFFICE_ID, check=False)
    assert missing.returncode == 2
    assert "PARLAE_SECRET_KEY" in cli.run("practices", "connect", "--help").stdout


def test_sync_onboards_listed_locations_and_deactivates_those_missing_twice(cli: Cli) -> None:
    first = cli.json("practices", "sync")
    assert first["activated"] == 2  # the demo office's two locations
    assert {c["change"] for c in first["changes"]} == {"activated"}
    cli.sandbox.set_listed(SECOND_OFFICE, "1", True)
    second = cli.json("practices", "sync")
    assert (second["activated"], second["unchanged"]) == (1, 2)
    cli.sandbox.set_listed(DEMO_OFFICE_ID, "1", False)
    assert cli.json("practices", "sync")["missed"] == 1
    printed = cli.run("practices", "sync").stdout
    assert "deactivated: 1" in printed
    assert f"deactivated  {DEMO_OFFICE_ID}/1" in printed
    listed = cli.json("practices", "list")["practices"]
    assert sorted((p["officeId"], p["practiceId"], p["status"], p["apiAccess"], p["missedSyncs"]) for p in listed) == [
        (DEMO_OFFICE_ID, "1", "INACTIVE", "on", 2),
        (DEMO_OFFICE_ID, "2", "ACTIVE", "on", 0),
        (SECOND_OFFICE, "1", "ACTIVE", "on", 0),
    ]
    assert all(p["lastSyncedAt"] for p in listed)
    assert all(p["lastError"] is None for p in listed)


def test_sync_fails_without_changes_when_sikka_cannot_be_read(cli: Cli) -> None:
    cli.sandbox.faults.add(endpoint="authorized_practices", error_code="API2002", count=100)
    result = cli.run("practices", "sync", "--json", check=False)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "cannot read Sikka (SikkaUnavailable); nothing changed" in result.stderr
    assert cli.json("practices", "list") == {"practices": []}


def test_vapi_config_prints_the_mcp_tool(cli: Cli) -> None:
    account = cli.json("practices", "connect", "--office-id", DEMO_OFFICE_ID, "--secret-key", DEMO_SECRET_KEY)
    printed = json.loads(
        cli.run("vapi-config", "--account-id", str(account["accountId"]), "--url", "https://mcp.example.com/mcp").stdout
    )
    assert printed["type"] == "mcp"
    assert printed["metadata"] == {"protocol": "shttp"}
    assert printed["server"]["url"] == "https://mcp.example.com/mcp"
    assert printed["server"]["headers"]["Authorization"].startswith("Bearer pmt_")
    with_credential = json.loads(
        cli.run(
            "vapi-config",
            "--account-id",
            str(account["accountId"]),
            "--url",
            "https://mcp.example.com/mcp",
            "--credential-id",
            "cred_123",
        ).stdout
    )
    assert with_credential["server"] == {
        "url": "https://mcp.example.com/mcp",
        "timeoutSeconds": 20,
        "credentialId": "cred_123",
    }
    insecure = cli.run("vapi-config", "--account-id", "x", "--url", "http://mcp.example.com/mcp", check=False)
    assert insecure.returncode == 2


def test_vapi_config_prints_the_system_prompt_lines_with_the_practices_date_and_time(cli: Cli) -> None:
    account = cli.json("practices", "connect", "--office-id", DEMO_OFFICE_ID, "--secret-key", DEMO_SECRET_KEY)
    printed = json.loads(
        cli.run(
            "vapi-config", "--account-id", str(account["accountId"]), "--url", "https://h.example", "--system-prompt"
        ).stdout
    )
    assert printed["timeZone"] == "America/New_York"
    assert '{{"now" | date: "%A, %B %-e, %Y", "America/New_York"}}' in printed["systemPrompt"]
    assert '{{"now" | date: "%-l:%M %p", "America/New_York"}}' in printed["systemPrompt"]
    assert "Bearer" not in json.dumps(printed)  # no token issued for it


def test_vapi_config_prints_server_tools_for_the_tool_calls_endpoint(cli: Cli) -> None:
    account = cli.json("practices", "connect", "--office-id", DEMO_OFFICE_ID, "--secret-key", DEMO_SECRET_KEY)
    account_id = str(account["accountId"])
    printed = json.loads(
        cli.run("vapi-config", "--account-id", account_id, "--url", "https://mcp.example.com", "--server-tools").stdout
    )
    assert [tool["function"]["name"] for tool in printed] == [tool.name for tool in ALL_TOOLS]
    servers = {json.dumps(tool["server"], sort_keys=True) for tool in printed}
    assert len(servers) == 1, "one token for every tool"
    server = printed[0]["server"]
    assert server["url"] == "https://mcp.example.com/vapi/tool-calls"
    assert server["headers"]["Authorization"].startswith("Bearer pmt_")
    mcp = json.loads(cli.run("vapi-config", "--account-id", account_id, "--url", "https://mcp.example.com/").stdout)
    assert mcp["server"]["url"] == "https://mcp.example.com/mcp"


async def test_stdio_serves_one_account(cli: Cli) -> None:
    account = cli.json("practices", "connect", "--office-id", DEMO_OFFICE_ID, "--secret-key", DEMO_SECRET_KEY)
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "app", "stdio", "--account-id", str(account["accountId"])], env=cli.env
    )
    async with Client(params, mode="legacy") as client:
        tools = await client.list_tools()
        assert len(tools.tools) == len(ALL_TOOLS)
        result = await client.call_tool(
            "checkAvailability", {"date": (practice_today() + timedelta(days=9)).isoformat()}
        )
    assert result.structured_content is not None
    assert result.structured_content["outcome"] in ("ok", "not_found")


def test_stdio_refuses_an_unknown_account(cli: Cli) -> None:
    result = cli.run("stdio", "--account-id", "nope", check=False)
    assert result.returncode == 1
    assert "no active practice integration" in result.stderr


def test_retention_report_and_reencrypt_commands(cli: Cli) -> None:
    account = cli.json("practices", "connect", "--office-id", DEMO_OFFICE_ID, "--secret-key", DEMO_SECRET_KEY)
    dry = cli.json("retention", "purge", "--dry-run")
    assert dry["dryRun"] is True
    assert set(dry["counts"]) >= {"pending_patients", "idempotency_keys", "pms_audit_logs"}
    report = json.loads(
        cli.run(
            "audit",
            "report",
            "--account-id",
            str(account["accountId"]),
            "--since",
            "2020-01-01",
            "--until",
            "2100-01-01",
        ).stdout
    )
    assert report["accountId"] == account["accountId"]
    csv = cli.run(
        "audit",
        "report",
        "--account-id",
        str(account["accountId"]),
        "--since",
        "2020-01-01",
        "--until",
        "2100-01-01",
        "--format",
        "csv",
    ).stdout
    assert csv.splitlines()[0].startswith("patientRef,recordedAt")
    rotated = {**cli.env, "PHI_ENCRYPTION_KEY": new_phi_key(), "PHI_ENCRYPTION_OLD_KEYS": cli.env["PHI_ENCRYPTION_KEY"]}
    moved = json.loads(
        subprocess.run(
            [sys.executable, "-m", "app", "phi", "reencrypt", "--json"],
            env=rotated,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
    )
    assert moved["counts"]["vault_secrets"] == 1
    cli.env = rotated
    assert cli.json("phi", "reencrypt", "--dry-run")["counts"]["vault_secrets"] == 0
    assert cli.json("audit", "verify")["intact"] is True


def test_bad_usage_and_configuration_exit_2(cli: Cli) -> None:
    assert cli.run("tokens", "issue", check=False).returncode == 2
    missing_key = {k: v for k, v in cli.env.items() if k != "PHI_ENCRYPTION_KEY"}
    result = subprocess.run(
        [sys.executable, "-m", "app", "practices", "list"],
        env=missing_key,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "configuration error: PHI_ENCRYPTION_KEY or PHI_KMS_KEY_ID: a PHI key source is required"
    )
