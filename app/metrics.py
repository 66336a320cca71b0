"""Metrics over HTTP: the ASGI middleware that counts each request by route template, and `GET /metrics`."""

from __future__ import annotations

import time
from collections.abc import Sequence

from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.metrics import Metrics

# The `method` label's values: any other method a client invents is counted as "other" (bounded cardinality).
HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


class MetricsMiddleware:
    """Counts requests and their latency, labelled with the route template (never the raw path) and a known
    method (else "other")."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = _route_template(scope)
            method = scope["method"] if scope["method"] in HTTP_METHODS else "other"
            self.metrics.http_requests.labels(method, route, str(status)).inc()
            self.metrics.http_latency.labels(method, route).observe(time.perf_counter() - start)


def _route_template(scope: Scope) -> str:
    router = getattr(scope.get("app"), "router", None)
    return _match_route(getattr(router, "routes", ()), scope)


def _match_route(routes: Sequence[BaseRoute], scope: Scope) -> str:
    for route in routes:
        match, child_scope = route.matches(scope)
        if match is not Match.FULL:
            continue
        prefix = str(getattr(route, "path", ""))
        if isinstance(route, Mount):
            inner = _match_route(route.routes, {**scope, **child_scope})
            return prefix + inner if inner != "other" else prefix or "other"
        return prefix or "/"
    return "other"


async def metrics_endpoint(request: Request) -> Response:
    metrics: Metrics = request.app.state.metrics
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
