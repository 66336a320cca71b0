"""Timing: matched tool/floor samples with what each tool call cost, and throughput under concurrency."""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
import httpx

from bench.client import ToolClient, tool_client
from bench.processes import Child, Stack
from bench.upstream import Admin, Sikka
from sandbox.latency import sequential_round_trips

T = TypeVar("T")
Call = tuple[str, dict[str, Any]]  # (tool, arguments)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linearly interpolated; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


MCP_SECONDS = 'parlae_http_request_duration_seconds_sum{method="POST",route="/mcp"}'


async def served_seconds(http: httpx.AsyncClient, server_url: str) -> float:
    """Cumulative seconds the server spent answering `POST /mcp` (from its `/metrics`)."""
    for line in (await http.get(f"{server_url}/metrics")).text.splitlines():
        if line.startswith(MCP_SECONDS):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@dataclass
class ToolRecord:
    """Matched samples of one tool: latency through `/mcp` and of its floor, and what the tool calls cost."""

    label: str
    tool_ms: list[float] = field(default_factory=list)
    floor_ms: list[float] = field(default_factory=list)
    served_ms: list[float] = field(default_factory=list)  # per call: time inside the server, request to response
    upstream: Counter[str] = field(default_factory=Counter)  # the tool calls' Sikka requests, by endpoint
    round_trips: list[int] = field(default_factory=list)  # per call: its sequential Sikka round trips
    floor_upstream: Counter[str] = field(default_factory=Counter)
    server_cpu_seconds: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    @property
    def calls(self) -> int:
        return len(self.tool_ms) + len(self.errors)


class Meter:
    """Runs tool calls and floors one at a time, recording latency, server CPU and upstream requests."""

    def __init__(self, stack: Stack, tools: ToolClient, sikka: Sikka, admin: Admin, *, split: bool = True) -> None:
        """`split`: read the server's own time from `/metrics` (one process only: each worker has its own)."""
        self.split = split
        self.server = stack.server
        self.server_url = stack.server_url
        self.tools = tools
        self.sikka = sikka
        self.admin = admin

    async def tool(self, record: ToolRecord, call: Call, call_id: str) -> dict[str, Any] | None:
        """The result, or None when the call failed (recorded as an error)."""
        served = await served_seconds(self.admin.http, self.server_url) if self.split else 0.0
        await self.admin.mark()
        cpu = self.server.cpu_seconds()
        started = time.perf_counter()
        result: dict[str, Any] | None = None
        try:
            result = await self.tools.call(*call, call_id)
        except Exception as exc:  # every failure is counted, none stops the run
            record.errors.append(f"{type(exc).__name__}: {exc}"[:200])
        latency = elapsed_ms(started)
        upstream = await self.admin.served_since_mark()
        record.upstream += Counter(request.request for request in upstream)
        record.server_cpu_seconds += self.server.cpu_seconds() - cpu
        if result is not None:
            record.tool_ms.append(latency)
            record.round_trips.append(sequential_round_trips(upstream))
            if self.split:
                record.served_ms.append((await served_seconds(self.admin.http, self.server_url) - served) * 1000)
            record.outcomes[str(result.get("outcome"))] += 1
        return result

    async def floor(self, record: ToolRecord, work: Callable[[], Awaitable[T]]) -> T:
        sent = self.sikka.sent.copy()
        started = time.perf_counter()
        value = await work()
        record.floor_ms.append(elapsed_ms(started))
        record.floor_upstream += self.sikka.sent - sent
        return value

    async def pair(
        self, index: int, record: ToolRecord, call: Call, call_id: str, work: Callable[[], Awaitable[T]]
    ) -> tuple[dict[str, Any] | None, T]:
        """Tool and floor back to back, alternating which goes first so drift affects both alike."""
        if index % 2:
            value = await self.floor(record, work)
            return await self.tool(record, call, call_id), value
        result = await self.tool(record, call, call_id)
        return result, await self.floor(record, work)


async def timed_block(count: int, work: Callable[[int], Awaitable[object]]) -> list[float]:
    """Latency of `work(i)` for i in range(count), one after another."""
    samples = []
    for index in range(count):
        started = time.perf_counter()
        await work(index)
        samples.append(elapsed_ms(started))
    return samples


@dataclass
class Throughput:
    """A fixed-duration run of a call mix at one concurrency."""

    concurrency: int
    seconds: float
    latency_ms: list[float]
    errors: list[str]
    cpu_seconds: dict[str, float]  # per process over the run: server, sandbox, bench (the clients)

    @property
    def calls(self) -> int:
        return len(self.latency_ms) + len(self.errors)

    @property
    def calls_per_second(self) -> float:
        return len(self.latency_ms) / self.seconds


def cpu_snapshot(children: Sequence[Child]) -> dict[str, float]:
    return {**{child.name: child.cpu_seconds() for child in children}, "bench": time.process_time()}


async def throughput(
    stack: Stack, mix: Callable[[int], tuple[Call, str]], concurrency: int, seconds: float
) -> Throughput:
    """`concurrency` workers, each with its own connected client, call `mix(n)` back to back for `seconds`."""
    counter: Iterator[int] = itertools.count()
    latency: list[float] = []
    errors: list[str] = []

    async def worker(client: ToolClient, until: float) -> None:
        while time.perf_counter() < until:
            call, call_id = mix(next(counter))
            started = time.perf_counter()
            try:
                await client.call(*call, call_id)
            except Exception as exc:  # counted; the run goes on
                errors.append(f"{type(exc).__name__}: {exc}"[:200])
            else:
                latency.append(elapsed_ms(started))

    async with AsyncExitStack() as clients:
        workers = [
            await clients.enter_async_context(tool_client(stack.mcp_url, stack.token)) for _ in range(concurrency)
        ]
        before = cpu_snapshot([stack.server, stack.sandbox])
        started = time.perf_counter()
        async with anyio.create_task_group() as group:
            for client in workers:
                group.start_soon(worker, client, started + seconds)
        duration = time.perf_counter() - started
        after = cpu_snapshot([stack.server, stack.sandbox])
    cpu = {name: after[name] - before[name] for name in before}
    return Throughput(concurrency, duration, latency, errors, cpu)
