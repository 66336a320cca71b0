"""Figures, goals and the machine they came from: a table on stdout and `bench/results/latest.json`."""

from __future__ import annotations

import json
import math
import os
import platform
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.measure import Throughput, ToolRecord, percentile
from bench.paths import CONNECTION_BASELINES, PATHS, PathRecord
from bench.prefetch import PrefetchRun
from bench.realistic import BUDGETS_SECONDS, MEDIAN_MS, P99_MS, WRITEBACK_SECONDS, Realistic, Samples

RESULTS = Path(__file__).parent / "results" / "latest.json"
PATH_LABELS = {
    "tool_calls_new_connection": "POST /vapi/tool-calls, new connection",
    "tool_calls_reused_connection": "POST /vapi/tool-calls, connection kept",
    "mcp_new_connection_initialize": "MCP: new connection, initialize, call",
    "mcp_reused_connection": "MCP: connection kept, tools/call",
}
PREFETCHED_P50_MS = 60.0  # searchPatients by the caller's number, checkAvailability for tomorrow, once prefetched
GOAL_ROUND_TRIPS = 1.3  # getPatientInfo without prefetch, its wait at a constant 250 ms per Sikka request
OVERHEAD_P50_MS = 3.0
OVERHEAD_P99_MS = 15.0
TOOL_CALLS_P50_MS = 3.0  # the tool-calls path, over the direct Sikka request, on a new connection per POST
TOOL_CALLS_P99_MS = 8.0
MCP_P50_MS = 5.0  # MCP as Vapi uses it, the handshake included
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
        "round_trips": round_trips(record.round_trips),
        "floor_upstream_per_call": round(sum(record.floor_upstream.values()) / floors, 2),
        "upstream_by_endpoint": {name: round(n / calls, 2) for name, n in sorted(record.upstream.items())},
        "server_cpu_ms_per_call": round(record.server_cpu_seconds * 1000 / calls, 2),
        "outcomes": dict(record.outcomes),
        "errors": len(record.errors),
        "error_samples": record.errors[:5],
    }


def round_trips(counts: Sequence[int]) -> dict[str, Any]:
    """Sequential Sikka round trips per call: mean, median and most."""
    if not counts:
        return {"mean": None, "p50": None, "max": None}
    return {"mean": round(sum(counts) / len(counts), 2), "p50": percentile(counts, 50), "max": max(counts)}


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


def samples_figures(record: Samples, per_request_ms: float | None = None) -> dict[str, Any]:
    """A tool's waits and round trips; with a constant latency, its p50 wait in round trips of that latency."""
    waits = record.wait_ms
    figures: dict[str, Any] = {
        "wait_ms": {
            "n": len(waits),
            "p50": rounded(percentile(waits, 50)),
            "p90": rounded(percentile(waits, 90)),
            "max": rounded(max(waits)) if waits else None,
        },
        "round_trips": round_trips(record.round_trips),
        "round_trips_before_write": round_trips(record.before_write),
        "requests_per_call": round(sum(record.requests) / max(len(record.requests), 1), 2),
        "outcomes": dict(record.outcomes),
        "errors": len(record.errors),
        "error_samples": record.errors[:5],
    }
    if per_request_ms:
        figures["wait_in_round_trips_p50"] = rounded(percentile(waits, 50) / per_request_ms)
    return figures


def realistic_figures(run: Realistic) -> dict[str, Any]:
    completed = [w.completed_after_seconds for w in run.writebacks if w.completed_after_seconds is not None]
    low, high = WRITEBACK_SECONDS
    return {
        "setup": {
            "path": "POST /vapi/tool-calls, a new connection per POST (as Vapi posts server tools)",
            "lognormal_latency_ms": {"median": MEDIAN_MS, "p99": P99_MS},
            "constant_latency_ms": MEDIAN_MS,
            "writeback_delay_seconds": {"uniform_from": low, "to": high},
            "seconds": round(run.seconds, 1),
        },
        "tools_constant": {r.label: samples_figures(r, MEDIAN_MS) for r in run.constant},
        "tools_lognormal": {r.label: samples_figures(r) for r in run.lognormal},
        "typical_call": {
            "steps": {label: samples_figures(r) for label, r in run.calls.steps.items()},
            "total_wait_ms": latency(run.calls.total_wait_ms)
            | {"max": rounded(max(run.calls.total_wait_ms)) if run.calls.total_wait_ms else None},
        },
        "writebacks": {
            "n": len(run.writebacks),
            "tool_outcomes": dict(Counter(w.tool_outcome for w in run.writebacks)),
            "completed_after_seconds": {
                "n": len(completed),
                "min": min(completed) if completed else None,
                "p50": rounded(percentile(completed, 50)),
                "max": max(completed) if completed else None,
            },
            "confirmed_within_budget": {
                f"{budget:g}": round(sum(1 for c in completed if c <= budget) / max(len(run.writebacks), 1), 2)
                for budget in BUDGETS_SECONDS
            },
        },
    }


def prefetch_figures(run: PrefetchRun) -> dict[str, Any]:
    return {
        "setup": {
            "path": "POST /vapi/tool-calls: status-update (in-progress), the tools once the prefetch is stored, "
            "end-of-call-report",
            "constant_latency_ms": MEDIAN_MS,
            "day": run.day,
            "seconds": round(run.seconds, 1),
        },
        "status_update_ms": latency(run.status_update_ms),
        "ready_after_ms": latency(run.ready_ms),
        "prefetch_outcomes": dict(run.outcomes),
        "tools": {label: samples_figures(r) for label, r in run.steps.items()},
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
    """The goals of the profiles the run measured."""
    found = default_goals(results) if "tools" in results else []
    found += realistic_goals(results["realistic"]) if "realistic" in results else []
    return found + (prefetch_goals(results["prefetch"]) if "prefetch" in results else [])


def default_goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    tools: dict[str, dict[str, Any]] = results["tools"]
    p50 = {label: t["overhead_ms"]["p50"] for label, t in tools.items()}
    p99 = {label: t["overhead_ms"]["p99"] for label, t in tools.items()}
    reads = {label: t for label, t in tools.items() if t["tool"] in READ_TOOLS}
    extra = {label: t for label, t in reads.items() if t["upstream_per_call"] > t["floor_upstream_per_call"]}
    top = next((t for t in results["throughput"] if t["concurrency"] == GOAL_CONCURRENCY), None)
    errors = sum(t["errors"] for t in tools.values()) + sum(t["errors"] for t in results["throughput"])
    errors += results["paths"]["errors"]
    tool_calls = results["paths"]["paths"]["tool_calls_new_connection"]["overhead_ms"]
    mcp = results["paths"]["paths"]["mcp_new_connection_initialize"]["overhead_ms"]["p50"]

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
            f"MCP as Vapi uses it (new connection, initialize, call) overhead p50 <= {MCP_P50_MS:g} ms",
            mcp is not None and mcp <= MCP_P50_MS,
            f"p50 {_fmt(mcp)} ms",
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


def realistic_goals(realistic: dict[str, Any]) -> list[dict[str, Any]]:
    constant: dict[str, dict[str, Any]] = realistic["tools_constant"]
    info = constant["getPatientInfo"]["wait_in_round_trips_p50"]
    more = {label: t["round_trips"]["max"] for label, t in constant.items() if (t["round_trips"]["max"] or 0) > 1}
    errors = sum(t["errors"] for part in ("tools_constant", "tools_lognormal") for t in realistic[part].values())
    errors += sum(t["errors"] for t in realistic["typical_call"]["steps"].values())
    return [
        goal(
            f"getPatientInfo without prefetch answers in <= {GOAL_ROUND_TRIPS:g} round trips "
            f"({MEDIAN_MS:g} ms per Sikka request)",
            info is not None and info <= GOAL_ROUND_TRIPS,
            f"{info:.2f} round trips at p50" if info is not None else "not measured",
        ),
        goal(
            "every read tool waits for one sequential Sikka round trip (p50)",
            all((t["round_trips"]["p50"] or 0) <= 1 for t in constant.values()),
            "at most one in every call"
            if not more
            else "more in some calls: " + ", ".join(f"{label} {n}" for label, n in more.items()),
        ),
        goal("0 errors with realistic latency", errors == 0, f"{errors} errors"),
    ]


def prefetch_goals(prefetch: dict[str, Any]) -> list[dict[str, Any]]:
    tools: dict[str, dict[str, Any]] = prefetch["tools"]
    fast = {label: t["wait_ms"]["p50"] for label, t in tools.items() if not label.startswith("getPatientInfo")}
    outcomes: dict[str, int] = prefetch["prefetch_outcomes"]
    errors = sum(t["errors"] for t in tools.values()) + outcomes.get("failed", 0) + outcomes.get("not_done", 0)
    return [
        goal(
            f"after call-start prefetch, searchPatients by the caller's number and checkAvailability for tomorrow "
            f"answer in <= {PREFETCHED_P50_MS:g} ms p50 ({MEDIAN_MS:g} ms per Sikka request)",
            all(v is not None and v <= PREFETCHED_P50_MS for v in fast.values()),
            ", ".join(f"{label} {_fmt(v)} ms" for label, v in fast.items()),
        ),
        goal("0 errors with prefetch", errors == 0, f"{errors} errors, failed prefetches or none in time"),
    ]


def _row(cells: Sequence[object], widths: Sequence[int]) -> str:
    return "  ".join(
        str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
    )


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def render(results: dict[str, Any]) -> str:
    """The human-readable tables of the profiles measured, the goals and the machine."""
    lines = default_lines(results) if "tools" in results else []
    if "realistic" in results:
        lines += realistic_lines(results["realistic"])
    if "prefetch" in results:
        lines += prefetch_lines(results["prefetch"])
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


def default_lines(results: dict[str, Any]) -> list[str]:
    """The default profile: overhead per tool, paths, baselines, throughput."""
    setup, lines = results["setup"], []
    lines.append(
        f"Tools at concurrency 1 (sandbox latency {setup['latency_ms']:g} ms per request; ms; "
        "overhead = tool - floor at the same percentile)"
    )
    lines.append(
        "server / client: where the p50 overhead goes: server (its time to answer, per /metrics, minus the floor) and "
        "client (SDK client and HTTP: tool minus server time); upstream / floor: Sikka requests per call; "
        "rounds: sequential Sikka round trips per call (mean); CPU ms: server CPU per call"
    )
    header = ["tool", "n", "tool p50", "p99", "floor p50", "p99", "over p50", "p99", "ratio"]
    header += ["server", "client", "upstream", "floor", "rounds", "CPU ms"]
    widths = [22, 4, 8, 6, 9, 6, 8, 6, 5, 6, 6, 8, 5, 6, 6]
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
            _fmt(t["round_trips"]["mean"]),
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
    return lines


def _samples_row(label: str, t: dict[str, Any], widths: Sequence[int], *extra: object) -> str:
    wait, rounds = t["wait_ms"], t["round_trips"]
    cells = [label, wait["n"], _fmt(wait["p50"]), _fmt(wait["p90"]), _fmt(wait["max"])]
    cells += [f"{rounds['mean']:.2f}" if rounds["mean"] is not None else "-", rounds["max"] or "-"]
    cells += [f"{t['requests_per_call']:g}", t["errors"], *extra]
    return _row(cells, widths)


def realistic_lines(realistic: dict[str, Any]) -> list[str]:
    """The realistic profile: waits and round trips per read tool, the typical call, the writebacks."""
    setup = realistic["setup"]
    lognormal, writebacks = setup["lognormal_latency_ms"], setup["writeback_delay_seconds"]
    lines = [
        "",
        f"Realistic Sikka ({setup['path']}; {setup['seconds']:.0f} s): what the caller waits for (ms) and the "
        "sequential Sikka round trips (rounds: mean, max) and requests per call",
    ]
    header = ["tool", "n", "wait p50", "p90", "max", "rounds", "max", "requests", "errors"]
    widths = [30, 4, 8, 6, 6, 6, 3, 8, 6]
    lines.append(f"At a constant {setup['constant_latency_ms']:g} ms per request (p50 wait in round trips):")
    lines.append(_row([*header, "in rounds"], [*widths, 9]))
    for label, t in realistic["tools_constant"].items():
        lines.append(_samples_row(label, t, [*widths, 9], _fmt(t["wait_in_round_trips_p50"])))
    lines.append(f"Lognormal, median {lognormal['median']:g} ms, p99 {lognormal['p99']:g} ms per request:")
    lines.append(_row(header, widths))
    for label, t in realistic["tools_lognormal"].items():
        lines.append(_samples_row(label, t, widths))
    call = realistic["typical_call"]
    lines.append(
        f"A typical call (lognormal; writebacks complete {writebacks['uniform_from']:g}-{writebacks['to']:g} s "
        "after they are sent): rounds before the write in the last column"
    )
    lines.append(_row([*header, "pre-write"], [*widths, 9]))
    for label, t in call["steps"].items():
        before = t["round_trips_before_write"]["mean"]
        lines.append(_samples_row(label, t, [*widths, 9], f"{before:.2f}" if before is not None else "-"))
    total = call["total_wait_ms"]
    lines.append(f"Whole call: the caller waits {_fmt(total['p50'])} ms at p50 ({_fmt(total['max'])} ms at most)")
    done = realistic["writebacks"]
    after = done["completed_after_seconds"]
    within = ", ".join(f"{budget} s {share:.0%}" for budget, share in done["confirmed_within_budget"].items())
    lines.append(
        f"Bookings' writebacks: {done['n']} ({done['tool_outcomes']}), completed {_fmt(after['min'])}-"
        f"{_fmt(after['max'])} s after they were sent (p50 {_fmt(after['p50'])}); confirmed within a budget of "
        f"{within}"
    )
    return lines


def prefetch_lines(prefetch: dict[str, Any]) -> list[str]:
    """The prefetch profile: the tools' waits once the call's start was prefetched."""
    setup, ready, started = prefetch["setup"], prefetch["ready_after_ms"], prefetch["status_update_ms"]
    outcomes = ", ".join(f"{n} {outcome}" for outcome, n in prefetch["prefetch_outcomes"].items())
    lines = [
        "",
        f"Prefetch at call start (constant {setup['constant_latency_ms']:g} ms per Sikka request; "
        f"{setup['seconds']:.0f} s): the status-update answered in {_fmt(started['p50'])} ms p50; the prefetch was "
        f"stored {_fmt(ready['p50'])} ms after it (p99 {_fmt(ready['p99'])}; prefetches: {outcomes}); then:",
    ]
    header = ["tool", "n", "wait p50", "p90", "max", "rounds", "max", "requests", "errors"]
    widths = [30, 4, 8, 6, 6, 6, 3, 8, 6]
    lines.append(_row(header, widths))
    for label, t in prefetch["tools"].items():
        lines.append(_samples_row(label, t, widths))
    return lines


def write(results: dict[str, Any], path: Path = RESULTS) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
