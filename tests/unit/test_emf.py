"""The EMF emitter: counter deltas, gauges, metric families that do not exist yet, and the line's structure."""

from __future__ import annotations

import json
import re
from typing import Any

import anyio
import pytest
from prometheus_client import Counter

from server.emf import METRICS, NAMESPACE, NOT_2XX, EmfEmitter, EmfMetric
from server.metrics import Metrics

# The units CloudWatch accepts that these metrics may use.
CLOUDWATCH_UNITS = {"Count", "Seconds", "Milliseconds", "Percent", "None"}
FIXED_CLOCK = 1_750_000_000.25


class Lines:
    """Collects the emitter's output lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        self.lines.append(line)

    def documents(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines]


def emitter(metrics: Metrics, lines: Lines, interval: float = 60) -> EmfEmitter:
    return EmfEmitter(metrics.registry, interval_seconds=interval, write=lines, clock=lambda: FIXED_CLOCK)


def values(document: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key != "_aws"}


def sikka(metrics: Metrics, result: str, times: int = 1) -> None:
    for _ in range(times):
        metrics.sikka_requests.labels("patients", result).inc()


def test_counters_are_reported_as_changes_since_the_previous_line() -> None:
    metrics, lines = Metrics(), Lines()
    source = emitter(metrics, lines)
    sikka(metrics, "200", 3)
    sikka(metrics, "error")
    metrics.sikka_requests.labels("appointments", "404").inc()
    metrics.tool_calls.labels("bookAppointment", "audit_failed").inc(2)
    metrics.tool_calls.labels("bookAppointment", "success").inc(5)
    metrics.key_renewal_failures.inc()
    source.emit()
    sikka(metrics, "200", 2)
    sikka(metrics, "503")
    source.emit()
    source.emit()

    first, second, third = (values(document) for document in lines.documents())
    assert first == {
        "SikkaRequests": 5,
        "SikkaErrors": 2,
        "AuditWriteFailures": 2,
        "KeyRenewalFailures": 1,
        "WritebacksPendingOldestSeconds": 0,
        "StaffDeliveriesDead": 0,
        "PracticeSyncFailures": 0,
    }
    assert second == {**dict.fromkeys(first, 0), "SikkaRequests": 3, "SikkaErrors": 1}
    assert third == dict.fromkeys(first, 0)


def test_gauges_are_reported_as_their_current_value() -> None:
    metrics, lines = Metrics(), Lines()
    source = emitter(metrics, lines)
    metrics.writebacks_pending_oldest.set(1234.5678)
    source.emit()
    source.emit()
    metrics.writebacks_pending_oldest.set(0)
    source.emit()
    assert [document["WritebacksPendingOldestSeconds"] for document in lines.documents()] == [1234.568, 1234.568, 0]


def test_a_metric_whose_family_does_not_exist_yet_is_left_out_then_appears() -> None:
    metrics, lines = Metrics(), Lines()
    later = EmfMetric("LaterFailures", "parlae_later_runs_total", {"result": "failure"})
    source = EmfEmitter(metrics.registry, interval_seconds=60, metrics=(*METRICS, later), write=lines)
    source.emit()
    assert "LaterFailures" not in lines.documents()[0]

    runs = Counter("parlae_later_runs", "Runs of something registered later.", ["result"], registry=metrics.registry)
    source.emit()
    assert lines.documents()[1]["LaterFailures"] == 0  # registered, nothing failed yet
    runs.labels("success").inc(4)
    runs.labels("failure").inc()
    source.emit()
    assert lines.documents()[2]["LaterFailures"] == 1


def test_practice_sync_failures_are_in_every_line() -> None:
    metrics, lines = Metrics(), Lines()
    source = emitter(metrics, lines)
    source.emit()
    metrics.practice_sync_runs.labels("success").inc(4)
    metrics.practice_sync_runs.labels("failure").inc()
    source.emit()
    assert [document["PracticeSyncFailures"] for document in lines.documents()] == [0, 1]


def test_no_line_when_no_family_exists() -> None:
    metrics, lines = Metrics(), Lines()
    absent = EmfMetric("Nothing", "parlae_not_registered_total")
    EmfEmitter(metrics.registry, interval_seconds=60, metrics=[absent], write=lines).emit()
    assert lines.lines == []


def test_the_line_is_valid_embedded_metric_format() -> None:
    metrics, lines = Metrics(), Lines()
    sikka(metrics, "200")
    metrics.tool_calls.labels("searchPatients", "audit_failed").inc()
    emitter(metrics, lines).emit()

    (line,) = lines.lines
    assert "\n" not in line
    assert len(line.encode()) < 1024
    document = json.loads(line)
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert document["_aws"]["Timestamp"] == int(FIXED_CLOCK * 1000)
    assert set(document["_aws"]) == {"Timestamp", "CloudWatchMetrics"}
    assert directive["Namespace"] == NAMESPACE == "Parlae/PMS"
    assert directive["Dimensions"] == [[]], "no dimensions: nothing per practice, tool or endpoint"
    declared = [metric["Name"] for metric in directive["Metrics"]]
    assert declared == list(values(document))
    for metric in directive["Metrics"]:
        assert metric["Unit"] in CLOUDWATCH_UNITS
        assert isinstance(document[metric["Name"]], int | float)
    assert "searchPatients" not in line
    assert "patients" not in line.lower().replace("parlae", ""), "label values never reach the line"


def test_metric_names_follow_cloudwatch_rules_and_are_unique() -> None:
    names = [metric.name for metric in METRICS]
    assert len(names) == len(set(names))
    for metric in METRICS:
        assert re.fullmatch(r"[A-Za-z][A-Za-z0-9]{0,254}", metric.name)
        assert metric.unit in CLOUDWATCH_UNITS


@pytest.mark.parametrize(("result", "is_error"), [("200", False), ("204", False), ("error", True), ("404", True)])
def test_sikka_errors_are_results_that_are_not_2xx(result: str, is_error: bool) -> None:
    assert bool(re.fullmatch(NOT_2XX, result)) is is_error


def test_a_broken_stdout_is_logged_not_raised() -> None:
    metrics = Metrics()

    def broken(line: str) -> None:
        raise BrokenPipeError

    EmfEmitter(metrics.registry, interval_seconds=60, write=broken).emit()


@pytest.mark.parametrize("interval", [0, -1])
def test_the_interval_must_be_positive(interval: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        EmfEmitter(Metrics().registry, interval_seconds=interval)


@pytest.mark.anyio
async def test_run_emits_once_more_when_cancelled() -> None:
    metrics, lines = Metrics(), Lines()
    sikka(metrics, "200", 2)
    with anyio.move_on_after(0.05):
        await emitter(metrics, lines, interval=3600).run()
    (document,) = lines.documents()
    assert document["SikkaRequests"] == 2


@pytest.mark.anyio
async def test_run_emits_every_interval_until_cancelled() -> None:
    metrics, lines = Metrics(), Lines()
    with anyio.CancelScope() as scope:

        def write(line: str) -> None:
            lines(line)
            sikka(metrics, "200")
            if len(lines.lines) == 3:
                scope.cancel()

        await EmfEmitter(metrics.registry, interval_seconds=0.01, write=write).run()
    assert [document["SikkaRequests"] for document in lines.documents()] == [0, 1, 1, 1]


def test_dead_lettered_staff_deliveries_are_counted_whatever_the_channel() -> None:
    metrics, lines = Metrics(), Lines()
    source = emitter(metrics, lines)
    metrics.staff_deliveries.labels("email", "dead").inc()
    metrics.staff_deliveries.labels("webhook", "dead").inc()
    metrics.staff_deliveries.labels("email", "delivered").inc(7)
    source.emit()
    assert lines.documents()[0]["StaffDeliveriesDead"] == 2
