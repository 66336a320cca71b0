"""Prometheus metrics: one registry per app, an ASGI middleware for HTTP, counters for tools and Sikka, and the
health signals the CloudWatch alarms read (through server/emf.py)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0)
# The `method` label's values: any other method a client invents is counted as "other" (bounded cardinality).
HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


class Metrics:
    """The service's metrics, registered in their own registry (several apps can live in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.http_requests = Counter(
            "parlae_http_requests_total",
            "HTTP requests by route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "parlae_http_request_duration_seconds",
            "HTTP request latency by route.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.tool_calls = Counter(
            "parlae_tool_calls_total",
            "Tool calls by tool and outcome.",
            ["tool", "outcome"],
            registry=self.registry,
        )
        self.tool_latency = Histogram(
            "parlae_tool_duration_seconds",
            "Tool latency.",
            ["tool"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.sikka_requests = Counter(
            "parlae_sikka_requests_total",
            "Requests to Sikka by endpoint and result.",
            ["endpoint", "result"],
            registry=self.registry,
        )
        self.sikka_latency = Histogram(
            "parlae_sikka_request_duration_seconds",
            "Sikka request latency by endpoint.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.key_renewal_failures = Counter(
            "parlae_key_renewal_failures_total",
            "Request-key renewals that failed (Sikka refused both grants or did not answer).",
            registry=self.registry,
        )
        self.writebacks_pending_oldest = Gauge(
            "parlae_writebacks_pending_oldest_seconds",
            "Age of the oldest writeback still pending (0 when none), as the writeback follower last saw it.",
            registry=self.registry,
        )

    def render(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


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
    return metrics.render()
