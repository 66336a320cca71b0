"""A Sikka ONE API v4 sandbox: an in-process or stand-alone test double of Sikka's REST API.

It reproduces the documented shapes and quirks (every value a string, 204 on empty results, page-index
`offset`, API1025 as HTTP 400, array-wrapped `writeback_status`, asynchronous writebacks) for a
deterministic demo practice, and lets tests inject faults and inspect what happened.

Python API::

    from sandbox import SandboxConfig, SandboxState, create_sandbox_app

    state = SandboxState(SandboxConfig(clock=fake_clock, writeback_delay_seconds=1.0))
    app = create_sandbox_app(state)              # Starlette; the state is app.state.sandbox
    # base URL for clients: http://<host>/v4 (httpx.ASGITransport(app=app) in-process)

- `SandboxConfig(app_id=DEMO_APP_ID, app_key=DEMO_APP_KEY, key_ttl_seconds=86400, writeback_delay_seconds=1.0,
  latency_seconds=0.0, rate_limit_per_minute=10000, clock=<UTC now>, seed=20261125)`: mutable at run time.
- `SandboxState(config=None)`, created with the demo practice (DEMO_OFFICE_ID / DEMO_PRACTICE_ID /
  DEMO_SECRET_KEY, "Happy Dental Clinic", Dentrix, "Eastern Standard Time", NY):
  - `add_practice(office_id, practice_id="1", *, secret_key, name, pms="Dentrix",
    time_zone="Eastern Standard Time", state="NY", listed=True, patients=200, seed=None,
    writeback_delay_seconds=None) -> Practice`
  - `practice(office_id, practice_id="1") -> Practice` (due writebacks applied first); its `patients` and
    `appointments` (dicts by id, every get_all key), `providers`, `operatories`, `schedule`, `statuses`,
    `writeback_delay_seconds` (per-practice override)
  - `practices(office_id=None)`, `set_listed(office_id, practice_id, listed)`, `expire_request_keys()`
  - `writebacks_of(office_id, practice_id=None) -> list[Writeback]` (`status_row()` is the
    /writeback_status item); `writebacks` is the queue of all of them
  - `counters` (Counter: "GET /patients", "POST /appointment", "PUT /appointments", ...,
    "POST /request_key", "POST /request_key:request_key", "POST /request_key:refresh_key"),
    `reset_counters()`
  - `faults`: the FaultInjector — `faults.add(endpoint="*", **FaultRule fields) -> FaultRule`,
    `faults.clear()`, `faults.rules` (see sandbox.faults)
- `create_sandbox_app(state=None) -> Starlette`; `/_admin/...` routes are listed in sandbox.admin.
- Command line: `python -m sandbox --host 127.0.0.1 --port 8100 [--latency-ms 0] [--writeback-delay 1.0]
  [--key-ttl 86400]`.
"""

from sandbox.app import create_sandbox_app
from sandbox.config import DEMO_APP_ID, DEMO_APP_KEY, SandboxConfig
from sandbox.data import DEMO_OFFICE_ID, DEMO_PRACTICE_ID, DEMO_PRACTICE_NAME, DEMO_SECRET_KEY
from sandbox.faults import FaultInjector, FaultRule
from sandbox.practice import Practice
from sandbox.state import SandboxState
from sandbox.writebacks import Writeback

__all__ = [
    "DEMO_APP_ID",
    "DEMO_APP_KEY",
    "DEMO_OFFICE_ID",
    "DEMO_PRACTICE_ID",
    "DEMO_PRACTICE_NAME",
    "DEMO_SECRET_KEY",
    "FaultInjector",
    "FaultRule",
    "Practice",
    "SandboxConfig",
    "SandboxState",
    "Writeback",
    "create_sandbox_app",
]
