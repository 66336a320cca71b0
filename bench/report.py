"""Figures, goals and the machine they came from: a table on stdout and `bench/results/latest.json`."""

from __future__ import annotations

import json
import math
import os
import platform
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.measure import Throughput, ToolRecord, percentile
from bench.paths import CONNECTION_BASELINES, PATHS, PathRecord

RESULTS = Path(__file__).parent / "results" / "latest.json"
PATH_LABELS = {
    "tool_calls_new_connection": "POST /vapi/tool-calls, new connection",
    "tool_calls_reused_connection": "POST /vapi/tool-calls, connection kept",
    "mcp_new_connection_initialize": "MCP: new connection, initialize, call",
    "mcp_reused_connection": "MCP: connection kept, tools/call",
}
OVERHEAD_P50_MS = 3.0
OVERHEAD_P99_MS = 15.0
TOOL_CALLS_P50_MS = 3.0  # the tool-calls path, over the direct Sikka request, on a new connection per POST
TOOL_CALLS_P99_MS = 8.0
CALLS_PER_SECOND = 300.0
GOAL_CONCURRENCY = 50
READ_TOOLS = (
    "searchPatients",
    "getPatientInfo",
    "checkAvailability",
    "getPracticeInfo",
    "getProviders",
    "checkInsuranceAccepted",
    "getPatientBalance",
    "getPatientInsurance",
)


def cpu_model() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor()
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "")


def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "python": platform.python_version(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average_at_start": [round(load, 2) for load in os.getloadavg()],
    }


def rounded(value: float, digits: int = 2) -> float | None:
    return None if math.isnan(value) else round(value, digits)


def latency(samples: Sequence[float]) -> dict[str, Any]:
    return {"n": len(samples), "p50": rounded(percentile(samples, 50)), "p99": rounded(percentile(samples, 99))}


def tool_figures(record: ToolRecord) -> dict[str, Any]:
    tool, floor = latency(record.tool_ms), latency(record.floor_ms)
    calls, floors = max(record.calls, 1), max(len(record.floor_ms), 1)
    p50_tool, p50_floor = percentile(record.tool_ms, 50), percentile(record.floor_ms, 50)
    return {
        "tool": record.label.split(" ")[0],
        "tool_ms": tool,
        "floor_ms": floor,
        "overhead_ms": {
            "p50": rounded(p50_tool - p50_floor),
            "p99": rounded(percentile(record.tool_ms, 99) - percentile(record.floor_ms, 99)),
        },
        "ratio_p50": rounded(p50_tool / p50_floor) if record.floor_upstream else None,  # no floor: no ratio
        "served_ms": latency(record.served_ms),
        "overhead_split_ms_p50": {
            "server": rounded(percentile(record.served_ms, 50) - p50_floor),
            "client_and_http": rounded(p50_tool - percentile(record.served_ms, 50)),
        },
        "upstream_per_call": round(sum(record.upstream.values()) / calls, 2),
        "floor_upstream_per_call": round(sum(record.floor_upstream.values()) / floors, 2),
        "upstream_by_endpoint": {name: round(n / calls, 2) for name, n in sorted(record.upstream.items())},
        "server_cpu_ms_per_call": round(record.server_cpu_seconds * 1000 / calls, 2),
        "outcomes": dict(record.outcomes),
        "errors": len(record.errors),
        "error_samples": record.errors[:5],
    }


def path_figures(record: PathRecord) -> dict[str, Any]:
    floor = record.ms["floor"]

    def over(ms: list[float], q: float) -> float | None:
        return rounded(percentile(ms, q) - percentile(floor, q))

    return {
        "tool": "searchPatients (phone)",
        "floor_ms": latency(floor),
        "paths": {
            name: {
                "ms": latency(record.ms[name]),
                "overhead_ms": {"p50": over(record.ms[name], 50), "p99": over(record.ms[name], 99)},
            }
            for name in PATHS
        },
        "connection_ms": {name: latency(record.ms[name]) for name in CONNECTION_BASELINES},
        "new_connection_cost_ms_p50": rounded(
            percentile(record.ms[CONNECTION_BASELINES[0]], 50) - percentile(record.ms[CONNECTION_BASELINES[1]], 50)
        ),
        "errors": len(record.errors),
        "error_samples": record.errors[:5],
    }


def throughput_figures(run: Throughput) -> dict[str, Any]:
    calls = max(run.calls, 1)
    return {
        "concurrency": run.concurrency,
        "seconds": round(run.seconds, 2),
        "calls": run.calls,
        "calls_per_second": round(run.calls_per_second, 1),
        "latency_ms": latency(run.latency_ms),
        "errors": len(run.errors),
        "error_samples": run.errors[:5],
        "server_cpu_ms_per_call": round(run.cpu_seconds["server"] * 1000 / calls, 2),
        "cpu_cores_used": {name: round(seconds / run.seconds, 2) for name, seconds in run.cpu_seconds.items()},
    }


def goal(name: str, met: bool, detail: str) -> dict[str, Any]:
    return {"goal": name, "met": met, "detail": detail}


def goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    tools: dict[str, dict[str, Any]] = results["tools"]
    p50 = {label: t["overhead_ms"]["p50"] for label, t in tools.items()}
    p99 = {label: t["overhead_ms"]["p99"] for label, t in tools.items()}
    reads = {label: t for label, t in tools.items() if t["tool"] in READ_TOOLS}
    extra = {label: t for label, t in reads.items() if t["upstream_per_call"] > t["floor_upstream_per_call"]}
    top = next((t for t in results["throughput"] if t["concurrency"] == GOAL_CONCURRENCY), None)
    errors = sum(t["errors"] for t in tools.values()) + sum(t["errors"] for t in results["throughput"])
    errors += results["paths"]["errors"]
    tool_calls = results["paths"]["paths"]["tool_calls_new_connection"]["overhead_ms"]

    def over(values: dict[str, float | None], limit: float) -> str:
        missed = [f"{label} {value:.1f}" for label, value in values.items() if value is None or value > limit]
        return "missed by " + ", ".join(missed) if missed else "every tool"

    return [
        goal(
            f"overhead p50 <= {OVERHEAD_P50_MS:g} ms at concurrency 1",
            all(v is not None and v <= OVERHEAD_P50_MS for v in p50.values()),
            over(p50, OVERHEAD_P50_MS),
        ),
        goal(
            f"overhead p99 <= {OVERHEAD_P99_MS:g} ms at concurrency 1",
            all(v is not None and v <= OVERHEAD_P99_MS for v in p99.values()),
            over(p99, OVERHEAD_P99_MS),
        ),
        goal(
            f"tool-calls path (new connection per POST) overhead p50 <= {TOOL_CALLS_P50_MS:g} ms, "
            f"p99 <= {TOOL_CALLS_P99_MS:g} ms",
            tool_calls["p50"] is not None
            and tool_calls["p99"] is not None
            and tool_calls["p50"] <= TOOL_CALLS_P50_MS
            and tool_calls["p99"] <= TOOL_CALLS_P99_MS,
            f"p50 {_fmt(tool_calls['p50'])} ms, p99 {_fmt(tool_calls['p99'])} ms",
        ),
        goal(
            "warm reads make the minimum upstream requests",
            not extra,
            ", ".join(f"{label} {t['upstream_per_call']:g}" for label, t in reads.items()),
        ),
        goal(
            f">= {CALLS_PER_SECOND:g} calls/s at {GOAL_CONCURRENCY} concurrent clients",
            top is not None and top["calls_per_second"] >= CALLS_PER_SECOND,
            f"{top['calls_per_second']:g} calls/s" if top else "not measured",
        ),
        goal("0 errors", errors == 0, f"{errors} errors"),
    ]


def _row(cells: Sequence[object], widths: Sequence[int]) -> str:
    return "  ".join(
        str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
    )


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def render(results: dict[str, Any]) -> str:
    """The human-readable table."""
    setup, lines = results["setup"], []
    lines.append(
        f"Tools at concurrency 1 (sandbox latency {setup['latency_ms']:g} ms per request; ms; "
        "overhead = tool - floor at the same percentile)"
    )
    lines.append(
        "server / client: where the p50 overhead goes: server (its time to answer, per /metrics, minus the floor) and "
        "client (SDK client and HTTP: tool minus server time); upstream / floor: Sikka requests per call; "
        "CPU ms: server CPU per call"
    )
    header = ["tool", "n", "tool p50", "p99", "floor p50", "p99", "over p50", "p99", "ratio"]
    header += ["server", "client", "upstream", "floor", "CPU ms"]
    widths = [22, 4, 8, 6, 9, 6, 8, 6, 5, 6, 6, 8, 5, 6]
    lines.append(_row(header, widths))
    for label, t in results["tools"].items():
        cells = [
            label,
            t["tool_ms"]["n"],
            _fmt(t["tool_ms"]["p50"]),
            _fmt(t["tool_ms"]["p99"]),
            _fmt(t["floor_ms"]["p50"]),
            _fmt(t["floor_ms"]["p99"]),
            _fmt(t["overhead_ms"]["p50"]),
            _fmt(t["overhead_ms"]["p99"]),
            f"{t['ratio_p50']:.2f}" if t["ratio_p50"] is not None else "-",
            _fmt(t["overhead_split_ms_p50"]["server"]),
            _fmt(t["overhead_split_ms_p50"]["client_and_http"]),
            f"{t['upstream_per_call']:g}",
            f"{t['floor_upstream_per_call']:g}",
            f"{t['server_cpu_ms_per_call']:.1f}",
        ]
        lines.append(_row(cells, widths))
    base = results["baselines"]
    cold = base["cold_check_availability"]
    lines.append("")
    lines.append(
        f"Baselines: GET /healthz p50 {_fmt(base['healthz_ms']['p50'])} ms; searchPatients with a new SDK client "
        f"per call (tools/call + tools/list) p50 {_fmt(base['fresh_client_ms']['p50'])} ms; cold checkAvailability "
        f"{_fmt(cold['ms'])} ms, {cold['upstream']} upstream requests"
    )
    paths = results["paths"]
    lines.append("")
    lines.append(
        f"Paths: warm {paths['tool']} as Vapi reaches it, bare HTTP client, matched with the floor "
        f"(p50 {_fmt(paths['floor_ms']['p50'])}, p99 {_fmt(paths['floor_ms']['p99'])} ms)"
    )
    header, widths = ["path", "n", "p50", "p99", "over p50", "p99"], [44, 4, 6, 6, 8, 6]
    lines.append(_row(header, widths))
    for name, path in paths["paths"].items():
        cells = [
            PATH_LABELS[name],
            path["ms"]["n"],
            _fmt(path["ms"]["p50"]),
            _fmt(path["ms"]["p99"]),
            _fmt(path["overhead_ms"]["p50"]),
            _fmt(path["overhead_ms"]["p99"]),
        ]
        lines.append(_row(cells, widths))
    new, kept = (paths["connection_ms"][name]["p50"] for name in CONNECTION_BASELINES)
    lines.append(
        f"A new connection costs {_fmt(paths['new_connection_cost_ms_p50'])} ms at p50 "
        f"(GET /healthz on a new connection {_fmt(new)} ms, on a kept one {_fmt(kept)} ms)"
    )
    lines.append("")
    lines.append(f"Throughput, read mix ({' + '.join(setup['mix'])}), one SDK client per worker")
    header = ["clients", "calls/s", "p50", "p99", "errors", "CPU ms", "cores: server", "sandbox", "bench"]
    widths = [7, 7, 6, 6, 6, 6, 13, 7, 5]
    lines.append(_row(header, widths))
    for t in results["throughput"]:
        cores = t["cpu_cores_used"]
        cells = [
            t["concurrency"],
            f"{t['calls_per_second']:.0f}",
            _fmt(t["latency_ms"]["p50"]),
            _fmt(t["latency_ms"]["p99"]),
            t["errors"],
            f"{t['server_cpu_ms_per_call']:.1f}",
            f"{cores['server']:.2f}",
            f"{cores['sandbox']:.2f}",
            f"{cores['bench']:.2f}",
        ]
        lines.append(_row(cells, widths))
    rss = results["peak_rss_mb"]
    lines.append("")
    lines.append(f"Peak RSS: server {rss['server']:.0f} MB, sandbox {rss['sandbox']:.0f} MB")
    lines.append("")
    lines.append("Goals")
    lines.extend(f"  [{'met ' if g['met'] else 'MISS'}] {g['goal']}: {g['detail']}" for g in results["goals"])
    m = results["machine"]
    lines.append("")
    lines.append(
        f"Machine: {m['cpu_model']}, {m['cpus']} CPUs, {m['platform']}, Python {m['python']}, {m['date']}, "
        f"run took {results['run_seconds']:.0f} s"
    )
    return "\n".join(lines)


def write(results: dict[str, Any], path: Path = RESULTS) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
