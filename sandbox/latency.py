"""How long Sikka takes: each request's latency and each writeback's delay, constant or drawn from a seeded
distribution (`SandboxConfig.latency_p99_seconds`, `writeback_delay_max_seconds`), and a timeline of the
requests served, from which the sequential round trips of a tool call can be read.

A real Sikka request is a round trip to a cloud API in front of the practice's own server: its latency is
skewed, most requests near the median and a long tail. The sandbox models it as lognormal, given by its median
and its 99th percentile. A writeback completes when the practice's Sikka Practice Utility has applied it, which
real practices report as tens of seconds: modelled as uniform between a low and a high delay.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from statistics import NormalDist

Z_99 = NormalDist().inv_cdf(0.99)  # the standard normal's 99th percentile (2.326)
TIMELINE_LENGTH = 10_000  # requests kept for `GET /_admin/requests`


def request_latency(median_seconds: float, p99_seconds: float, rng: random.Random) -> float:
    """`median_seconds` when `p99_seconds` is not above it; otherwise a lognormal draw with that median and p99."""
    if median_seconds <= 0 or p99_seconds <= median_seconds:
        return median_seconds
    sigma = math.log(p99_seconds / median_seconds) / Z_99
    return rng.lognormvariate(math.log(median_seconds), sigma)


def writeback_delay(low_seconds: float, high_seconds: float, rng: random.Random) -> float:
    """`low_seconds` when `high_seconds` is not above it; otherwise uniform in [low, high]."""
    return rng.uniform(low_seconds, high_seconds) if high_seconds > low_seconds else low_seconds


@dataclass(frozen=True)
class Served:
    """One `/v4` request: its place in the sandbox's order, "METHOD /endpoint" (as counted), its query string, and
    when it arrived and was answered (seconds on the sandbox's monotonic clock)."""

    seq: int
    request: str
    query: str
    started: float
    finished: float


class Timeline:
    """The last TIMELINE_LENGTH requests served, in the order they were answered."""

    def __init__(self) -> None:
        self._served: deque[Served] = deque(maxlen=TIMELINE_LENGTH)
        self._seq = 0

    @property
    def last_seq(self) -> int:
        return self._seq

    def add(self, request: str, query: str, started: float, finished: float) -> None:
        self._seq += 1
        self._served.append(Served(self._seq, request, query, started, finished))

    def after(self, seq: int) -> list[Served]:
        """The requests answered after `seq` (those still kept)."""
        return [served for served in self._served if served.seq > seq]


def sequential_round_trips(served: Iterable[Served]) -> int:
    """The critical path of a group of requests: the most of them that ran one after another, none overlapping
    the next. Requests sent at once overlap and count once; a request sent after another's answer counts again.
    (Taking the earliest-answered request that starts after the last one chosen gives the longest such chain.)"""
    chain, free_at = 0, -math.inf
    for request in sorted(served, key=lambda s: s.finished):
        if request.started >= free_at:
            chain, free_at = chain + 1, request.finished
    return chain
