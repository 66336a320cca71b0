"""`create_app`: the composition root: health, metrics, the Sikka webhook and `POST /mcp` in one Starlette app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, nullcontext

import anyio
import httpx
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import mcp_http, toolcalls
from app.limits import BodyLimit
from app.mcp import SdkTokenVerifier, auth_settings, build_mcp_server
from app.mcp_http import MCP_PATH, McpFront
from app.metrics import MetricsMiddleware, metrics_endpoint
from server.emf import EmfEmitter
from server.forwarded import ClientAddressMiddleware, TrustedProxies
from server.phi.keys import KeyProvider
from server.practice_sync import sync_on_schedule
from server.services import Services, build_services
from server.settings import Settings
from tools import ALL_TOOLS, ToolSpec
from webhook import routes as webhook

PHI_PATHS = frozenset({MCP_PATH, webhook.PATH, toolcalls.PATH})  # responses never cached (NoStore)
# Request bodies (BodyLimit): each route's own limit; the others take no body.
BODY_LIMITS = {
    webhook.PATH: webhook.MAX_BODY_BYTES,
    toolcalls.PATH: toolcalls.MAX_BODY_BYTES,
    MCP_PATH: mcp_http.MAX_BODY_BYTES,
}
DEFAULT_BODY_LIMIT = 64 * 1024


async def healthz(request: Request) -> Response:
    """The process is up (the load balancer's health check)."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """The database answers; 503 otherwise."""
    services: Services = request.app.state.services
    if await services.database_ready():
        return JSONResponse({"status": "ready"})
    return JSONResponse({"status": "unavailable", "reason": "database unreachable"}, status_code=503)


class NoStore:
    """`Cache-Control: no-store` on every response of the given paths, errors included: answers there may carry
    PHI, so no browser, proxy or CDN may keep a copy. A new PHI route opts in by adding its path."""

    def __init__(self, app: ASGIApp, paths: frozenset[str]) -> None:
        self.app = app
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return

        async def send_no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_no_store)


def transport_security(settings: Settings) -> TransportSecuritySettings:
    hosts = settings.parlae_allowed_hosts
    origins = [f"{scheme}://{host}" for host in hosts for scheme in ("https", "http")]
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins)


def create_app(
    settings: Settings,
    *,
    sikka_transport: httpx.AsyncBaseTransport | None = None,
    keys: KeyProvider | None = None,
    extra_routes: Sequence[BaseRoute] = (),
    services: Services | None = None,
    on_startup: Callable[[Services], Awaitable[None]] | None = None,
    tools: Sequence[ToolSpec] = ALL_TOOLS,
) -> Starlette:
    """The whole service. Tests and demo mode may pass a Sikka transport, PHI keys, or ready services; tests may
    serve other tools."""
    services = services or build_services(settings, sikka_transport=sikka_transport, keys=keys)
    mcp = build_mcp_server(tools, lambda: nullcontext(services))
    mcp_app = mcp.streamable_http_app(
        stateless_http=True,
        json_response=True,
        transport_security=transport_security(settings),
        auth=auth_settings(),
        token_verifier=SdkTokenVerifier(services.tokens),
    )
    session_manager = mcp.session_manager

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            if on_startup is not None:
                await on_startup(services)
            async with session_manager.run(), anyio.create_task_group() as background:
                background.start_soon(services.follower.run_forever)
                background.start_soon(services.delivery.run_forever)
                background.start_soon(services.prefetcher.run_forever)
                if settings.metrics_emf_interval_seconds > 0:
                    emitter = EmfEmitter(
                        services.metrics.registry, interval_seconds=settings.metrics_emf_interval_seconds
                    )
                    background.start_soon(emitter.run)
                if settings.practices_sync_interval_seconds:
                    background.start_soon(sync_on_schedule, services, settings.practices_sync_interval_seconds)
                yield
                background.cancel_scope.cancel()
        finally:
            await services.aclose()

    routes: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        *webhook.webhook_routes(),
        toolcalls.tool_calls_route(tools),
        *extra_routes,
        Mount("/", app=McpFront(mcp_app)),  # last, so the endpoint stays /mcp
    ]
    middleware = [
        Middleware(ClientAddressMiddleware, trusted=TrustedProxies.parse(settings.forwarded_allow_ips)),
        Middleware(MetricsMiddleware, metrics=services.metrics),
        Middleware(NoStore, paths=PHI_PATHS),
        Middleware(BodyLimit, limits=BODY_LIMITS, default=DEFAULT_BODY_LIMIT),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, middleware=middleware)
    app.state.services = services
    app.state.metrics = services.metrics
    return app


def app_from_environment() -> Starlette:
    """The app for `parlae-mcp serve` (each uvicorn worker calls this): settings and logging from the environment."""
    from server.logs import configure_logging
    from server.settings import load_settings

    settings = load_settings()
    configure_logging(settings.log_level)
    return create_app(settings)
