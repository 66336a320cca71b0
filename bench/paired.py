"""`python -m bench.paired --against DIR`: this checkout's server and another checkout's, side by side, each with
its own sandbox at 20 ms per request; their samples interleaved one at a time (which side goes first alternates),
so the machine's drift and noise fall on both alike. Per tool: the overhead over the floor at p50 on each side,
and the median of the per-sample differences (this minus other) with a bootstrap 95 % interval. Across separate
runs this machine's overheads move by ±4 ms; paired like this, a difference of 1-2 ms shows.

DIR is a checkout with its own virtual environment (`make .venv/.installed-dev` there), e.g. a `git worktree` of
the revision to compare with. Writes are one phone call per sample (book, move, cancel, register), as in the
default profile; `--reads` pairs the identity-checked reads and the searches instead."""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack, ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from bench import processes, report, scenarios
from bench.__main__ import SANDBOX_RATE_LIMIT, progress, warm_up
from bench.client import tool_client
from bench.measure import Meter, ToolRecord, percentile
from bench.processes import Stack
from bench.upstream import Admin, Sikka

LATENCY_MS = 20.0
WRITEBACK_DELAY = 0.2
READS_PER_ROUND = 4
BOOTSTRAP_DRAWS = 4000
Scenario = Callable[[Meter, scenarios.Fixtures, int], Awaitable[ToolRecord]]
READS: tuple[Scenario, ...] = (
    scenarios.search_by_phone,
    scenarios.get_patient_info,
    scenarios.check_availability,
    scenarios.get_patient_balance,
    scenarios.get_patient_insurance,
)


@dataclass
class Side:
    meter: Meter
    fixtures: scenarios.Fixtures
    records: dict[str, ToolRecord]

    def round_of(self, index: int, offset: int) -> scenarios.Fixtures:
        """The fixtures for one round: a run id of its own (unique call ids, names and phones), one write day."""
        run = f"{(int(self.fixtures.run) + 13 * index + offset) % 100_000:05d}"
        slots = self.fixtures.write_slots[index : index + 1]
        return replace(self.fixtures, run=run, write_slots=slots)

    def add(self, records: list[ToolRecord]) -> None:
        for record in records:
            into = self.records.setdefault(record.label, ToolRecord(record.label))
            into.tool_ms += record.tool_ms
            into.floor_ms += record.floor_ms
            into.served_ms += record.served_ms
            into.server_cpu_seconds += record.server_cpu_seconds
            into.errors += record.errors


async def prepare(stack: Stack, exits: AsyncExitStack, write_samples: int) -> Side:
    http = await exits.enter_async_context(httpx.AsyncClient(timeout=30))
    admin = Admin(http, stack.sandbox_url)
    await admin.configure(rate_limit_per_minute=SANDBOX_RATE_LIMIT)
    sikka = await Sikka.connect(http, stack.sikka_url)
    fixtures = await scenarios.Fixtures.load(admin, sikka)
    tools = await exits.enter_async_context(tool_client(stack.mcp_url, stack.token))
    await warm_up(tools, fixtures, write_samples, 0)
    return Side(Meter(stack, tools, sikka, admin), fixtures, {})


async def one_round(side: Side, index: int, offset: int, reads: bool) -> list[ToolRecord]:
    fixtures = side.round_of(index, offset)
    if reads:
        return [await scenario(side.meter, fixtures, READS_PER_ROUND) for scenario in READS]
    return (await scenarios.writes(side.meter, fixtures, 1)).all()


async def measure(stacks: list[Stack], rounds: int, reads: bool) -> list[Side]:
    async with AsyncExitStack() as exits:
        sides = [await prepare(stack, exits, 0 if reads else rounds) for stack in stacks]
        for index in range(rounds):
            for number in (0, 1) if index % 2 == 0 else (1, 0):
                sides[number].add(await one_round(sides[number], index, number, reads))
            progress(f"round {index + 1}/{rounds}")
        return sides


def overheads(record: ToolRecord) -> list[float]:
    return [tool - floor for tool, floor in zip(record.tool_ms, record.floor_ms, strict=True)]


def compared(this: ToolRecord, other: ToolRecord, draws: random.Random) -> dict[str, Any]:
    """Both sides' p50 overhead, and the median of the paired differences with its bootstrap 95 % interval."""
    differences = [a - b for a, b in zip(overheads(this), overheads(other), strict=False)]
    medians = sorted(statistics.median(draws.choices(differences, k=len(differences))) for _ in range(BOOTSTRAP_DRAWS))
    return {
        "samples": len(differences),
        "overhead_p50_ms": {"this": rounded(this), "other": rounded(other)},
        "difference_median_ms": round(statistics.median(differences), 2),
        "difference_95_ms": [round(medians[BOOTSTRAP_DRAWS // 40], 2), round(medians[-BOOTSTRAP_DRAWS // 40], 2)],
        "errors": {"this": len(this.errors), "other": len(other.errors)},
    }


def rounded(record: ToolRecord) -> float:
    return round(percentile(record.tool_ms, 50) - percentile(record.floor_ms, 50), 2)


def render(figures: dict[str, dict[str, Any]]) -> str:
    lines = [
        "Paired overhead over the floor, p50 ms; difference = this - other, median of per-sample differences",
        f"{'tool':24} {'n':>3} {'this':>7} {'other':>7} {'difference':>11}  95 % interval",
    ]
    for label, row in figures.items():
        low, high = row["difference_95_ms"]
        lines.append(
            f"{label:24} {row['samples']:3d} {row['overhead_p50_ms']['this']:7.1f} "
            f"{row['overhead_p50_ms']['other']:7.1f} {row['difference_median_ms']:+11.1f}  {low:+.1f} .. {high:+.1f}"
        )
    return "\n".join(lines)


def parse_options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.paired", description=__doc__)
    parser.add_argument("--against", type=Path, required=True, help="the other checkout (with its .venv)")
    parser.add_argument("--rounds", type=int, default=40, help="paired samples per write tool (default)")
    parser.add_argument("--reads", action="store_true", help=f"pair reads, {READS_PER_ROUND} per tool and round")
    parser.add_argument("--output", type=Path, default=report.RESULTS.with_name("paired.json"))
    return parser.parse_args()


def main() -> None:
    options = parse_options()
    other_bin = options.against.resolve() / ".venv" / "bin"
    if not (other_bin / "parlae-mcp").exists():
        raise SystemExit(f"{options.against} has no .venv: run `make .venv/.installed-dev` there first")
    machine = report.machine()
    with ExitStack() as cleanup:
        stacks = []
        for bin_dir in (processes.BIN, other_bin):
            workdir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="parlae-paired-")))
            progress(f"starting the sandbox and the server of {bin_dir.parent.parent}")
            stack = processes.running_stack(workdir, LATENCY_MS, WRITEBACK_DELAY, bin_dir=bin_dir)
            stacks.append(cleanup.enter_context(stack))
        sides = asyncio.run(measure(stacks, options.rounds, options.reads))
    draws = random.Random(0)
    figures = {label: compared(this, sides[1].records[label], draws) for label, this in sides[0].records.items()}
    results = {"machine": machine, "against": str(options.against), "reads": options.reads, "tools": figures}
    options.output.write_text(json.dumps(results, indent=2) + "\n")
    print(render(figures), flush=True)
    progress(f"wrote {options.output}")


if __name__ == "__main__":
    main()
