"""`POST /api/sikka/webhook/authorize`: every delivery audited; two kinds of body.

Our signed authorization event (`app.authorized`/`app.deauthorized`): verify, parse, confirm with Sikka,
onboard. 401 bad or stale signature · 400 bad JSON or schema (with the reason) · 403 wrong
app_id or a practice Sikka does not confirm · 409 a deauthorisation Sikka contradicts · 503 Sikka or the vault
is unavailable (the sender retries; nothing was written) · 200/202 otherwise. Redeliveries replay the first answer.

Sikka's registration handshake (PascalCase, unsigned; recognised by its shape before any signature check,
webhook/handshake.py): 400 without a valid `MasterCustomerID` · otherwise 202, whether or not
Sikka lists the office (Sikka retries other answers and disables a webhook after five failures); the sync it
may start runs after the answer.

A body over `MAX_BODY_BYTES` (64 KiB) never reaches this route: the app's body limit (app/limits.py) answers 413
before any route runs, so such a request is neither read nor audited.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from server.audit import AuditEntry, AuditUnavailable
from server.caller import Caller
from server.logs import get_logger
from server.onboarding import IntegrationStatus, NotConfirmed, Onboarding, PracticeRef, StillAuthorized
from server.once import UNCLAIMED, Unclaimed, once
from server.services import Services
from server.sikka import Deadline, SikkaError
from server.vault import VaultError
from server.webhook_events import DeliveryRows
from webhook.handshake import Sync, handshake_fields, start_office_sync
from webhook.models import AuthorizationEvent, RegistrationHandshake
from webhook.signature import SignatureInvalid, verify

log = get_logger(__name__)

PATH = "/api/sikka/webhook/authorize"
MAX_BODY_BYTES = 64 * 1024  # enforced by the app (app/limits.py), like every route's limit
REPLAY_WAIT_SECONDS = 10.0


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    error_code: str | None = None
    then: Sync | None = None  # work to run once the answer has been sent

    def audit_outcome(self) -> tuple[str, int, str | None]:
        if self.status < 300:
            return "success", self.status, None
        return ("denied" if self.status in (401, 403, 409) else "failed"), self.status, self.error_code

    def response(self) -> JSONResponse:
        return JSONResponse(self.body, self.status, background=BackgroundTask(self.then) if self.then else None)


def refuse(status: int, code: str, reason: str) -> Answer:
    return Answer(status, {"error": reason}, code)


def parse(body: bytes) -> AuthorizationEvent | Answer:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return refuse(400, "invalid_json", "body is not valid JSON")
    try:
        return AuthorizationEvent.model_validate(data)
    except ValidationError as exc:
        return invalid_fields(exc)


def invalid_fields(exc: ValidationError) -> Answer:
    """400 naming the fields (never their values)."""
    fields = sorted({".".join(str(part) for part in e["loc"]) or "body" for e in exc.errors(include_input=False)})
    return refuse(400, "invalid_payload", f"invalid or missing fields: {', '.join(fields)}")


async def handle(entry: AuditEntry, services: Services, request: Request) -> Answer:
    settings = services.settings
    body = await request.body()  # at most MAX_BODY_BYTES (the app's body limit)
    handshake = handshake_fields(body)
    if handshake is not None:
        return await on_handshake(entry, services, handshake)
    secret = settings.sikka_webhook_secret.get_secret_value() if settings.sikka_webhook_secret else ""
    try:
        webhook_id = verify(request.headers, body, secret, accept_callback_key=settings.webhook_accept_callback_key)
    except SignatureInvalid as exc:
        log.info("webhook refused", reason=str(exc))
        return refuse(401, "invalid_signature", "invalid or missing signature")
    parsed = parse(body)
    if isinstance(parsed, Answer):
        return parsed
    entry.summary = f"{parsed.event} office {parsed.office_id} practice {parsed.practice_id}"
    entry.crud = "C" if parsed.event == "app.authorized" else "D"
    our_app_id = settings.sikka_app_id.get_secret_value() if settings.sikka_app_id else ""
    if not hmac.compare_digest(parsed.app_id.encode(), our_app_id.encode()):
        return refuse(403, "wrong_app_id", "app_id does not match this service")
    answer = await once_per_delivery(services, webhook_id, parsed, lambda: process(services, parsed))
    if answer.body.get("accountId"):
        entry.account_id = str(answer.body["accountId"])
    return answer


async def on_handshake(entry: AuditEntry, services: Services, fields: dict[str, Any]) -> Answer:
    """Unverified: it may only start a sync of the office it names (rate-limited); 202 whatever Sikka lists."""
    entry.summary = "registration handshake"
    try:
        handshake = RegistrationHandshake.model_validate(fields)
    except ValidationError as exc:
        return invalid_fields(exc)
    sync = await start_office_sync(services, handshake.office_id)
    outcome = "started" if sync else "deferred"
    entry.summary = f"registration handshake ({handshake.event}) for office {handshake.office_id}: sync {outcome}"
    log.info("registration handshake", office_id=handshake.office_id, sync=outcome)
    return Answer(202, {"status": "accepted", "sync": outcome}, then=sync)


async def process(services: Services, event: AuthorizationEvent) -> Answer:
    onboarding = Onboarding(services)
    try:
        if event.event == "app.authorized":
            practice = PracticeRef(
                event.office_id, event.practice_id, event.secret_key.get_secret_value(), event.practice_name
            )
            result = await onboarding.authorize(practice)
        else:
            result = await onboarding.deauthorize(event.office_id, event.practice_id)
    except NotConfirmed:
        return refuse(403, "not_confirmed", "Sikka does not confirm this practice authorisation")
    except StillAuthorized:
        return refuse(409, "still_authorized", "Sikka still lists this practice as authorised")
    except (SikkaError, VaultError) as exc:
        log.warning("webhook deferred", error=type(exc).__name__)
        return refuse(503, "upstream_unavailable", "temporarily unable to confirm with Sikka; retry later")
    status = 202 if result.status == IntegrationStatus.PENDING else 200
    return Answer(status, {"accountId": result.account_id, "status": str(result.status)})


@dataclass(frozen=True)
class Deliveries:
    """One delivery id's claim, then its answer (503s are never kept)."""

    rows: DeliveryRows
    event: AuthorizationEvent

    async def claim(self) -> bool:
        return await self.rows.claim(self.event.event, self.event.office_id, self.event.practice_id)

    async def settled(self) -> Answer | Unclaimed | None:
        stored = await self.rows.read()
        if stored is None:
            return UNCLAIMED
        if not stored.status:
            return None
        return Answer(stored.status, stored.body, None if stored.status < 300 else stored.outcome)

    async def settle(self, outcome: Answer) -> None:
        await self.rows.settle(outcome.status, outcome.body, outcome.error_code or "processed")

    async def let_go(self) -> None:
        await self.rows.release()


async def once_per_delivery(
    services: Services, webhook_id: str, event: AuthorizationEvent, work: Callable[[], Awaitable[Answer]]
) -> Answer:
    """Process a webhook id once; a redelivery replays the stored answer. 503s are not stored (retry)."""
    waiting = Deadline.after(REPLAY_WAIT_SECONDS)
    return await once(
        Deliveries(DeliveryRows(services.sessions, webhook_id), event),
        work,
        keep=lambda answer: answer.status < 500,
        busy=lambda: refuse(409, "in_progress", "this delivery is still being processed"),
        may_wait=lambda: waiting.remaining() > 0,
    )


async def authorize_endpoint(request: Request) -> Response:
    services: Services = request.app.state.services
    delivery = Caller.system("webhook", client_ip=request.client.host if request.client else None)
    try:
        async with services.audit.record("sikkaAuthorizationWebhook", delivery, crud="E", phi_fields=()) as entry:
            answer = entry.answered(await handle(entry, services, request))
    except AuditUnavailable:
        return JSONResponse({"error": "temporarily unavailable"}, status_code=503)
    return answer.response()


def webhook_routes() -> list[BaseRoute]:
    return [Route(PATH, authorize_endpoint, methods=["POST"])]
