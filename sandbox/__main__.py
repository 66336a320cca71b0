"""`python -m sandbox`: serve the Sikka v4 sandbox with uvicorn."""

from __future__ import annotations

import argparse

import uvicorn

from sandbox.app import create_sandbox_app
from sandbox.config import SandboxConfig
from sandbox.state import SandboxState


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description="Serve the Sikka v4 sandbox.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="latency per request (the median with --latency-p99-ms)"
    )
    parser.add_argument(
        "--latency-p99-ms",
        type=float,
        default=0.0,
        help="above --latency-ms: each request's latency is lognormal with this 99th percentile (seeded by --seed)",
    )
    parser.add_argument("--writeback-delay", type=float, default=1.0, help="writeback delay in seconds")
    parser.add_argument(
        "--writeback-delay-max",
        type=float,
        default=0.0,
        help="above --writeback-delay: each writeback's delay is uniform between the two (seeded by --seed)",
    )
    parser.add_argument("--key-ttl", type=float, default=86400, help="request_key lifetime in seconds")
    parser.add_argument("--seed", type=int, default=SandboxConfig.seed)
    args = parser.parse_args(argv)
    config = SandboxConfig(
        latency_seconds=args.latency_ms / 1000,
        latency_p99_seconds=args.latency_p99_ms / 1000,
        writeback_delay_seconds=args.writeback_delay,
        writeback_delay_max_seconds=args.writeback_delay_max,
        key_ttl_seconds=args.key_ttl,
        seed=args.seed,
    )
    uvicorn.run(create_sandbox_app(SandboxState(config)), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
