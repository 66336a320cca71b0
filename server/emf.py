"""CloudWatch Embedded Metric Format (EMF): the service's health metrics as one JSON line on stdout.

Every `METRICS_EMF_INTERVAL_SECONDS` the emitter reads the app's own Prometheus registry (server/metrics.py)
and prints one line: counters as the change since the previous line, gauges as their current value. On ECS the
awslogs driver ships stdout to CloudWatch Logs, which turns the line into metrics in the `Parlae/PMS`
namespace; the Terraform alarms read them. The line holds fixed metric names and numbers only (no label values,
no dimensions), so nothing a request carries can reach it; it is written straight to stdout, not through the
logger.

A metric whose Prometheus family does not exist (yet) is left out of the line rather than reported as zero.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
from prometheus_client import CollectorRegistry
from prometheus_client.samples import Sample

from server.logs import get_logger

log = get_logger(__name__)

NAMESPACE = "Parlae/PMS"
NOT_2XX = r"(?!2\d\d$).+"  # any Sikka result but an HTTP 2xx status ("error" included)


@dataclass(frozen=True, slots=True)
class EmfMetric:
    """One EMF metric: the sum of the Prometheus samples named `sample` whose labels match `labels` (label name
    -> regular expression, matched in full). `delta` reports the change since the previous line, `gauge` the
    current value."""

    name: str
    sample: str
    labels: Mapping[str, str] = field(default_factory=dict)
    kind: Literal["delta", "gauge"] = "delta"
    unit: str = "Count"

    def value(self, samples: Iterable[Sample]) -> float:
        return sum(
            sample.value
            for sample in samples
            if sample.name == self.sample
            and all(re.fullmatch(pattern, sample.labels.get(label, "")) for label, pattern in self.labels.items())
        )


# What the alarms in terraform/alarms.tf read (PracticeSyncFailures: failed full syncs, server/practice_sync.py).
METRICS: tuple[EmfMetric, ...] = (
    EmfMetric("SikkaRequests", "parlae_sikka_requests_total"),
    EmfMetric("SikkaErrors", "parlae_sikka_requests_total", {"result": NOT_2XX}),
    EmfMetric("AuditWriteFailures", "parlae_tool_calls_total", {"outcome": "audit_failed"}),
    EmfMetric("KeyRenewalFailures", "parlae_key_renewal_failures_total"),
    EmfMetric("WritebacksPendingOldestSeconds", "parlae_writebacks_pending_oldest_seconds", {}, "gauge", "Seconds"),
    EmfMetric("StaffDeliveriesDead", "parlae_staff_deliveries_total", {"result": "dead"}),
    EmfMetric("PracticeSyncFailures", "parlae_practice_sync_runs_total", {"result": "failure"}),
)


def registered_samples(registry: CollectorRegistry) -> tuple[set[str], list[Sample]]:
    """The sample names the registry's families can produce (even before any sample exists), and its samples."""
    names: set[str] = set()
    samples: list[Sample] = []
    for family in registry.collect():
        names.add(family.name)
        if family.type == "counter":
            names.add(f"{family.name}_total")
        samples.extend(family.samples)
    return names, samples


Reading = tuple[EmfMetric, float]


def emf_document(readings: Sequence[Reading], timestamp_ms: int) -> dict[str, Any]:
    """One EMF log event: the metadata directive under `_aws` (no dimensions), then each metric's value."""
    directive = {
        "Namespace": NAMESPACE,
        "Dimensions": [[]],
        "Metrics": [{"Name": metric.name, "Unit": metric.unit} for metric, _ in readings],
    }
    document: dict[str, Any] = {"_aws": {"Timestamp": timestamp_ms, "CloudWatchMetrics": [directive]}}
    for metric, value in readings:
        document[metric.name] = int(value) if float(value).is_integer() else round(value, 3)
    return document


def write_stdout(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class EmfEmitter:
    """Prints one EMF line per interval with the metrics in `metrics` that the registry has."""

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        interval_seconds: float,
        metrics: Sequence[EmfMetric] = METRICS,
        write: Callable[[str], None] = write_stdout,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if interval_seconds <= 0:
            raise ValueError("interval_seconds must be positive")
        self.registry = registry
        self.interval_seconds = interval_seconds
        self.metrics = tuple(metrics)
        self.write = write
        self.clock = clock
        self._previous: dict[str, float] = {}

    def collect(self) -> list[Reading]:
        """Current values of the metrics whose family exists; counters become deltas since the last call."""
        names, samples = registered_samples(self.registry)
        readings: list[Reading] = []
        for metric in self.metrics:
            if metric.sample not in names:
                continue
            current = metric.value(samples)
            if metric.kind == "delta":
                readings.append((metric, current - self._previous.get(metric.name, 0.0)))
                self._previous[metric.name] = current
            else:
                readings.append((metric, current))
        return readings

    def line(self) -> str | None:
        """The next EMF line, or None when no metric's family exists."""
        readings = self.collect()
        if not readings:
            return None
        return json.dumps(emf_document(readings, int(self.clock() * 1000)), separators=(",", ":"))

    def emit(self) -> None:
        """Write the next line; a closed or broken stdout is logged (by type only), never raised."""
        line = self.line()
        if line is None:
            return
        try:
            self.write(line)
        except (OSError, ValueError) as exc:
            log.warning("metrics line not written", error=type(exc).__name__)

    async def run(self) -> None:
        """Emit every interval until cancelled, then once more so the last counts are not lost."""
        try:
            while True:
                await anyio.sleep(self.interval_seconds)
                self.emit()
        finally:
            self.emit()
