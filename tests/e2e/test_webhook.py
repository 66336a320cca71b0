"""The Sikka authorization webhook over real HTTP, with moto Secrets Manager and the sandbox."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import boto3
import httpx
import pytest
from botocore.exceptions import EndpointConnectionError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.main import create_app
from sandbox import (
    DEMO_APP_ID,
    DEMO_OFFICE_ID,
    DEMO_PRACTICE_ID,
    DEMO_SECRET_KEY,
    SandboxConfig,
    SandboxState,
    create_sandbox_app,
)
from server.auth import issue_token
from server.db.engine import create_engine, session_factory
from server.db.models import Account, IntegrationStatus, PmsIntegration, PracticeToken, WebhookEvent
from server.services import Services, build_services
from tests.support import mcp_client, serve, signed_webhook, stack_settings

pytestmark = pytest.mark.anyio
PREFIX = "parlae/pms/sikka"


@dataclass
class WebhookStack:
    sandbox: SandboxState
    app_services: Services  # the server's own (its thread and event loop): patch, don't query
    sessions: async_sessionmaker[AsyncSession]  # the test's view of the same database
    url: str
    kms_key_id: str
    secretsmanager: Any

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/api/sikka/webhook/authorize"


@pytest.fixture
async def stack(database_url: str, aws: None) -> AsyncIterator[WebhookStack]:
    kms_key_id = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["KeyId"]
    state = SandboxState(SandboxConfig(writeback_delay_seconds=0.2))
    engine = create_engine(database_url)
    with serve(create_sandbox_app(state)) as sandbox_server:
        settings = stack_settings(
            database_url, sandbox_server.url, secrets_backend="aws", secrets_kms_key_id=kms_key_id
        )
        services = build_services(settings)
        with serve(create_app(settings, services=services)) as app_server:
            yield WebhookStack(
                state,
                services,
                session_factory(engine),
                app_server.url,
                kms_key_id,
                boto3.client("secretsmanager", region_name="us-east-1"),
            )
    await engine.dispose()


def payload(event: str = "app.authorized", **overrides: str) -> dict[str, str]:
    body = {
        "event": event,
        "app_id": DEMO_APP_ID,
        "office_id": DEMO_OFFICE_ID,
        "secret_key": DEMO_SECRET_KEY,
        "practice_name": "Happy Dental Clinic",
        "practice_id": DEMO_PRACTICE_ID,
    }
    body.update(overrides)
    return body


def signed_headers(body: bytes, **options: Any) -> dict[str, str]:
    return signed_webhook(body, **options)[1]


async def deliver(stack: WebhookStack, body: dict[str, Any] | bytes, **header_options: Any) -> httpx.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(stack.webhook_url, content=raw, headers=signed_headers(raw, **header_options))


async def counts(stack: WebhookStack) -> tuple[int, int, int]:
    """(accounts, integrations, secrets under the prefix)."""
    async with stack.sessions() as session:
        accounts = await session.scalar(select(func.count()).select_from(Account))
        integrations = await session.scalar(select(func.count()).select_from(PmsIntegration))
    secrets = stack.secretsmanager.list_secrets(Filters=[{"Key": "name", "Values": [PREFIX]}])["SecretList"]
    return int(accounts or 0), int(integrations or 0), len(secrets)


async def test_a_signed_delivery_onboards_the_practice(stack: WebhookStack) -> None:
    response = await deliver(stack, payload())
    assert response.status_code == 200, response.text
    account_id = response.json()["accountId"]
    assert response.json()["status"] == "ACTIVE"
    assert await counts(stack) == (1, 1, 1)

    name = f"{PREFIX}/{account_id}"
    described = stack.secretsmanager.describe_secret(SecretId=name)
    assert described["KmsKeyId"].endswith(stack.kms_key_id)
    assert {"Key": "app", "Value": "parlae-mcp"} in described["Tags"]
    secret = json.loads(stack.secretsmanager.get_secret_value(SecretId=name)["SecretString"])
    assert secret["officeId"] == DEMO_OFFICE_ID
    assert secret["pmsType"] == "Dentrix"
    assert secret["timeZone"] == "America/New_York"
    assert secret["requestKey"]

    async with stack.sessions() as session:
        integration = await session.scalar(select(PmsIntegration))
    assert integration is not None
    assert integration.status == IntegrationStatus.ACTIVE
    assert integration.secret_name == name
    assert integration.secret_arn == described["ARN"]
    assert integration.features["new_appointment_writeback"] is True
    assert integration.meta["practice_management_system"] == "Dentrix"


async def test_redelivery_and_concurrent_duplicates_change_nothing_more(stack: WebhookStack) -> None:
    body = json.dumps(payload()).encode()
    first = await deliver(stack, body, webhook_id="msg_same")
    again = await deliver(stack, body, webhook_id="msg_same")
    assert again.status_code == first.status_code == 200
    assert again.json() == first.json()

    responses: list[httpx.Response] = []

    async def one(index: int) -> None:
        responses.append(await deliver(stack, body, webhook_id=f"msg_dup_{index}"))

    async with anyio.create_task_group() as group:
        for index in range(10):
            group.start_soon(one, index)
    assert {r.status_code for r in responses} == {200}
    assert {r.json()["accountId"] for r in responses} == {first.json()["accountId"]}
    assert await counts(stack) == (1, 1, 1)


async def test_concurrent_redeliveries_of_one_id_get_one_answer(stack: WebhookStack) -> None:
    body = json.dumps(payload()).encode()
    headers = signed_headers(body, webhook_id="msg_parallel")
    async with httpx.AsyncClient(timeout=30) as http:
        results: list[httpx.Response] = []

        async def one() -> None:
            results.append(await http.post(stack.webhook_url, content=body, headers=headers))

        async with anyio.create_task_group() as group:
            for _ in range(5):
                group.start_soon(one)
    assert {r.status_code for r in results} == {200}
    assert len({r.json()["accountId"] for r in results}) == 1
    async with stack.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(WebhookEvent)) == 1


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("bad signature", 401),
        ("stale timestamp", 401),
        ("no signature", 401),
        ("wrong app_id", 403),
        ("unknown office_id", 202),
        ("unconfirmed secret_key", 403),
        ("bad json", 400),
        ("missing field", 400),
        ("too large", 413),
    ],
)
async def test_refused_deliveries_leave_nothing(stack: WebhookStack, case: str, status: int) -> None:
    body = json.dumps(payload()).encode()
    headers = signed_headers(body)
    if case == "bad signature":
        headers["webhook-signature"] = signed_headers(b"other body")["webhook-signature"]
    elif case == "stale timestamp":
        headers = signed_headers(body, at=datetime.now(UTC) - timedelta(minutes=6))
    elif case == "no signature":
        del headers["webhook-signature"]
    elif case in ("wrong app_id", "unknown office_id", "unconfirmed secret_key"):
        field, value = {
            "wrong app_id": ("app_id", "x" * 32),
            "unknown office_id": ("office_id", "D99999"),
            "unconfirmed secret_key": ("secret_key", "not-the-secret"),
        }[case]
        body = json.dumps(payload(**{field: value})).encode()
        headers = signed_headers(body)
    elif case == "bad json":
        body = b"{not json"
        headers = signed_headers(body)
    elif case == "missing field":
        body = json.dumps({k: v for k, v in payload().items() if k != "office_id"}).encode()
        headers = signed_headers(body)
    elif case == "too large":
        body = json.dumps({**payload(), "padding": "x" * 70_000}).encode()
        headers = signed_headers(body)
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(stack.webhook_url, content=body, headers=headers)
    assert response.status_code == status, response.text
    assert DEMO_SECRET_KEY not in response.text
    assert await counts(stack) == (0, 0, 0)
    if case == "unknown office_id":
        assert response.json() == {"accountId": None, "status": "PENDING"}
    if case == "missing field":
        assert "office_id" in response.json()["error"]


async def test_secrets_manager_down_is_503_and_nothing_is_written(
    stack: WebhookStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = stack.app_services.vault.inner.client  # type: ignore[attr-defined]

    def down(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url="https://secretsmanager.us-east-1.amazonaws.com")

    monkeypatch.setattr(client, "create_secret", down)
    response = await deliver(stack, payload(), webhook_id="msg_down")
    assert response.status_code == 503
    assert await counts(stack) == (0, 0, 0)
    monkeypatch.undo()
    retried = await deliver(stack, payload(), webhook_id="msg_down")  # the sender retries the same delivery
    assert retried.status_code == 200
    assert await counts(stack) == (1, 1, 1)


async def test_sikka_down_is_503(stack: WebhookStack) -> None:
    stack.sandbox.faults.add(endpoint="authorized_practices", error_code="API2002", count=10)
    response = await deliver(stack, payload())
    assert response.status_code == 503
    assert await counts(stack) == (0, 0, 0)


async def test_deauthorization_needs_sikka_and_revokes_tokens(stack: WebhookStack) -> None:
    onboarded = await deliver(stack, payload())
    account_id = onboarded.json()["accountId"]
    token = (await issue_token(stack.sessions, account_id, "test")).token
    async with mcp_client(f"{stack.url}/mcp", token) as client:
        assert (await client.list_tools()).tools

    still_listed = await deliver(stack, payload("app.deauthorized"))
    assert still_listed.status_code == 409
    async with stack.sessions() as session:
        integration = await session.scalar(select(PmsIntegration))
        assert integration is not None
        assert integration.status == IntegrationStatus.ACTIVE

    stack.sandbox.set_listed(DEMO_OFFICE_ID, DEMO_PRACTICE_ID, False)
    revoked = await deliver(stack, payload("app.deauthorized"))
    assert revoked.status_code == 200
    assert revoked.json() == {"accountId": account_id, "status": "REVOKED"}
    async with stack.sessions() as session:
        integration = await session.scalar(select(PmsIntegration))
        tokens = (await session.scalars(select(PracticeToken))).all()
    assert integration is not None
    assert integration.status == IntegrationStatus.REVOKED
    assert all(t.revoked_at is not None for t in tokens)
    described = stack.secretsmanager.describe_secret(SecretId=f"{PREFIX}/{account_id}")
    assert "DeletedDate" in described  # scheduled for deletion (recovery window)

    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{stack.url}/mcp",
            json=body,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"},
        )
    assert response.status_code == 401


async def test_every_delivery_is_audited_without_secrets(stack: WebhookStack) -> None:
    from server.db.models import AuditLog

    await deliver(stack, payload())
    await deliver(stack, payload(app_id="wrong"))
    async with httpx.AsyncClient() as http:
        await http.post(stack.webhook_url, content=b"{}", headers={"webhook-signature": "v1,bad"})
    async with stack.sessions() as session:
        rows = (await session.scalars(select(AuditLog).where(AuditLog.action == "sikkaAuthorizationWebhook"))).all()
    assert [r.response_status for r in rows] == [200, 403, 401]
    assert rows[0].account_id != "system"
    assert [r.outcome for r in rows] == ["success", "denied", "denied"]
    for row in rows:
        assert DEMO_SECRET_KEY not in json.dumps({c.name: str(getattr(row, c.key)) for c in row.__table__.columns})
