"""Prometheus metrics: one registry per app, counters for HTTP (counted by app/metrics.py), tools and Sikka, and
the health signals the CloudWatch alarms read (through server/emf.py), the practice sync's among them."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0)


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
            "Age of the oldest open write no person has taken over yet (0 when none), as the follower last saw it.",
            registry=self.registry,
        )
        self.writes_open = Gauge(
            "parlae_writes_open",
            "Writes recorded and not final yet (pending at Sikka, or being looked up), as the follower last saw it.",
            registry=self.registry,
        )
        self.staff_deliveries = Counter(
            "parlae_staff_deliveries_total",
            "Staff inbox deliveries by channel (email, webhook) and result (delivered, retry, dead).",
            ["channel", "result"],
            registry=self.registry,
        )
        self.practice_sync_runs = Counter(
            "parlae_practice_sync_runs_total",
            "Full practice syncs with Sikka's authorized_practices by result (success, failure).",
            ["result"],
            registry=self.registry,
        )
        self.practice_sync_last_success = Gauge(
            "parlae_practice_sync_last_success_timestamp_seconds",
            "When this replica last completed a full practice sync (Unix time).",
            registry=self.registry,
        )
        self.practice_sync_locations = Counter(
            "parlae_practice_sync_locations_total",
            "Practice locations the sync put into service (added), took out of it (removed), kept although not"
            " listed, the listing being implausible (held), or could not bring in (failed: access, keys, time zone).",
            ["change"],
            registry=self.registry,
        )
        self.prefetches = Counter(
            "parlae_prefetches_total",
            "Call-start prefetches by result: stored, exists (the call had one), over_budget (the practice's prefetch"
            " requests per minute were spent), superseded (the call ended or wrote meanwhile), failed, dropped (the"
            " queue was full), off.",
            ["result"],
            registry=self.registry,
        )
        self.prefetch_reads = Counter(
            "parlae_prefetch_reads_total",
            "Listings a read tool of a call looked up in the call's prefetch: hit (no Sikka request) or miss.",
            ["result"],
            registry=self.registry,
        )
        for result in ("success", "failure"):  # exported at 0 from the start, so alarms have data
            self.practice_sync_runs.labels(result)
        for change in ("added", "removed", "held", "failed"):
            self.practice_sync_locations.labels(change)
