"""The sandbox and the server as child processes on free loopback ports, and what they cost (CPU, peak RSS)."""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from sandbox import DEMO_APP_ID, DEMO_APP_KEY, DEMO_OFFICE_ID, DEMO_SECRET_KEY

BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
STARTUP_SECONDS = 30.0
STOP_SECONDS = 10.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago (bound to port 0, then released)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class Child:
    """A child process whose stderr goes to a log file."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def processes(self) -> list[int]:
        """This process and its descendants (uvicorn workers)."""
        parents: dict[int, int] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:  # exited meanwhile
                continue
            parents[int(stat.parent.name)] = int(fields[1])
        tree = [self.pid]
        for pid in tree:
            tree += [child for child, parent in parents.items() if parent == pid]
        return tree

    def cpu_seconds(self) -> float:
        """User + system CPU time so far of the process tree, all threads (`/proc/<pid>/stat` fields 14, 15)."""
        total = 0
        for pid in self.processes():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])
        return total / CLOCK_TICKS

    def peak_rss_mb(self) -> float:
        """Peak resident set size (`VmHWM`), summed over the process tree."""
        total = 0
        for pid in self.processes():
            try:
                lines = Path(f"/proc/{pid}/status").read_text().splitlines()
            except OSError:
                continue
            total += sum(int(line.split()[1]) for line in lines if line.startswith("VmHWM:"))
        return total / 1024

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM (uvicorn shuts down gracefully), then SIGKILL if it lingers."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass(frozen=True)
class Stack:
    """The running sandbox and server, and the demo practice's token."""

    sandbox: Child
    server: Child
    sandbox_url: str
    server_url: str
    token: str

    @property
    def sikka_url(self) -> str:
        return f"{self.sandbox_url}/v4"

    @property
    def mcp_url(self) -> str:
        return f"{self.server_url}/mcp"


def spawn(name: str, argv: list[str], env: dict[str, str], workdir: Path) -> Child:
    log = workdir / f"{name}.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=stderr, cwd=workdir)
    return Child(name, process, log)


def wait_until_up(child: Child, url: str) -> None:
    """Poll `url` until it answers 200; fail with the child's log if it exits or takes too long."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise RuntimeError(f"{child.name} exited with {child.process.returncode}:\n{child.log_tail()}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{child.name} did not come up at {url}:\n{child.log_tail()}")


def server_env(database_url: str, sikka_url: str) -> dict[str, str]:
    """Production-mode settings: the sandbox as Sikka, a fresh PHI key, audit on."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "SIKKA_API_URL": sikka_url,
        "SIKKA_APP_ID": DEMO_APP_ID,
        "SIKKA_APP_KEY": DEMO_APP_KEY,
        "PHI_ENCRYPTION_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "PRACTICES_SYNC_INTERVAL_SECONDS": "0",  # no background sync among the measured calls
        "PREFETCH_REQUESTS_PER_MINUTE": "200",  # every sampled call prefetched: Sikka's whole allowance, not a share
        "LOG_LEVEL": "WARNING",
    }


def cli(env: dict[str, str], workdir: Path, *args: str, bin_dir: Path = BIN) -> str:
    """Run a `parlae-mcp` command; its stdout."""
    done = subprocess.run(
        [str(bin_dir / "parlae-mcp"), *args], env=env, cwd=workdir, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"parlae-mcp {' '.join(args[:2])} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return done.stdout


@contextmanager
def running_stack(
    workdir: Path,
    latency_ms: float,
    writeback_delay: float,
    database_url: str | None = None,
    workers: int = 1,
    bin_dir: Path = BIN,
) -> Iterator[Stack]:
    """Start the sandbox, migrate and onboard the demo practice, start the server; stop both on exit.
    The database is SQLite in `workdir` unless `database_url` names another (it should be empty); `bin_dir` is
    the virtual environment whose sandbox and server run (another checkout's, for `bench.paired`)."""
    with ExitStack() as cleanup:
        sandbox_port, server_port = free_port(), free_port()
        sandbox_url, server_url = f"http://{HOST}:{sandbox_port}", f"http://{HOST}:{server_port}"
        latency = ["--latency-ms", str(latency_ms), "--writeback-delay", str(writeback_delay)]
        sandbox = spawn(
            "sandbox",
            [str(bin_dir / "python"), "-m", "sandbox", "--host", HOST, "--port", str(sandbox_port), *latency],
            dict(os.environ),
            workdir,
        )
        cleanup.callback(sandbox.stop)
        wait_until_up(sandbox, f"{sandbox_url}/_admin/config")
        env = server_env(database_url or f"sqlite+aiosqlite:///{workdir / 'bench.db'}", f"{sandbox_url}/v4")
        cli(env, workdir, "db", "upgrade", bin_dir=bin_dir)
        connect = ("practices", "connect", "--office-id", DEMO_OFFICE_ID, "--secret-key", DEMO_SECRET_KEY, "--json")
        token = json.loads(cli(env, workdir, *connect, bin_dir=bin_dir))["token"]
        address = ["--host", HOST, "--port", str(server_port)]
        serve = [str(bin_dir / "parlae-mcp"), "serve", *address, "--workers", str(workers)]
        server = spawn("server", serve, env, workdir)
        cleanup.callback(server.stop)
        wait_until_up(server, f"{server_url}/readyz")
        yield Stack(sandbox, server, sandbox_url, server_url, token)
