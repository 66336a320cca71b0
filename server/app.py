"""`create_app`: the composition root. Health, metrics, webhook and MCP routes in one Starlette app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from server.metrics import Metrics, MetricsMiddleware, metrics_endpoint
from server.services import Services, open_services
from server.settings import Settings


async def healthz(request: Request) -> Response:
    """The process is up (the load balancer's health check)."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """The database answers; 503 otherwise."""
    services: Services = request.app.state.services
    if await services.database_ready():
        return JSONResponse({"status": "ready"})
    return JSONResponse({"status": "unavailable", "reason": "database unreachable"}, status_code=503)


def create_app(settings: Settings) -> Starlette:
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_services(settings, metrics=metrics) as services:
            app.state.services = services
            yield

    routes: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes, lifespan=lifespan, middleware=[Middleware(MetricsMiddleware, metrics=metrics)]
    )
    app.state.metrics = metrics
    return app
