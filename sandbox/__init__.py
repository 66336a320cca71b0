"""A Sikka ONE API v4 sandbox: an in-process or stand-alone test double of Sikka's REST API.

It imitates Sikka as documented (docs/sikka-reference.md), not as any client expects: where the docs are
explicit it is exactly as strict, where they are ambiguous it takes the least convenient reading, and the
module that implements each choice says so (sandbox.schedule, sandbox.query, sandbox.rules, sandbox.pms,
sandbox.details, sandbox.billing, sandbox.app, sandbox.state). It reproduces the documented shapes and quirks (every
value a string, 204 on empty results, page-index `offset`, API1025 as HTTP 400, array-wrapped
`writeback_status`, asynchronous writebacks checked per PMS at submission) for a deterministic demo
office, and lets tests inject faults and inspect what happened.

Python API::

    from sandbox import SandboxConfig, SandboxState, create_sandbox_app

    state = SandboxState(SandboxConfig(clock=fake_clock, writeback_delay_seconds=1.0))
    app = create_sandbox_app(state)              # Starlette; the state is app.state.sandbox
    # base URL for clients: http://<host>/v4 (httpx.ASGITransport(app=app) in-process)

- `SandboxConfig(app_id=DEMO_APP_ID, app_key=DEMO_APP_KEY, key_ttl_seconds=86400, writeback_delay_seconds=1.0,
  writeback_delay_max_seconds=0.0, latency_seconds=0.0, latency_p99_seconds=0.0, rate_limit_per_minute=10000,
  clock=<UTC now>, seed=20261125)`: mutable at run time. A `latency_p99_seconds` above `latency_seconds`
  makes each request's latency a seeded lognormal draw (that median and p99); a `writeback_delay_max_seconds`
  above `writeback_delay_seconds` makes each writeback's delay a seeded uniform draw (sandbox.latency).
- `SandboxState(config=None)`, created with the demo office DEMO_OFFICE_ID (secret DEMO_SECRET_KEY, Dentrix,
  "Eastern Standard Time", NY) and its two locations: DEMO_PRACTICE_ID "1" (DEMO_PRACTICE_NAME, "Happy
  Dental Clinic", 200 patients) and DEMO_SECOND_PRACTICE_ID "2" ("Happy Dental Clinic Brooklyn", 120
  patients; listed by `authorized_practices` only with `show=all`), each with its own cust_id,
  providers, chairs, hours, patients and bookings:
  - `add_practice(office_id, practice_id="1", *, secret_key, name, pms="Dentrix",
    time_zone="Eastern Standard Time", state="NY", listed=True, patients=200, seed=None,
    writeback_delay_seconds=None, uploaded=True, access=True) -> Practice`; `pms` is one of sandbox.pms.PMSES
    (Dentrix, Eaglesoft, Open Dental, OrthoTrac, Dolphin, ClearDent, Planet DDS, CornerStone, Curve
    Dental); a further location of an office gets its own ids and chair names (sandbox.roster)
  - `practice(office_id, practice_id="1") -> Practice` (due writebacks applied first); its `patients` and
    `appointments` (dicts by id, every get_all key), `providers`, `users` (/pms_users), `operatories`,
    `schedule` (week rows), `statuses` (AppointmentStatus: `text` as appointments show it, `value` the
    practice_variables code writes send), `insurance_companies`, `coverage`, `debts`, `cust_id`,
    `access`, `uploaded`, `reloading`, `writeback_delay_seconds` (per-practice override)
  - `practices(office_id=None)`, `set_listed(office_id, practice_id, listed)`,
    `set_uploaded(office_id, practice_id, uploaded=True)`, `set_reloading(office_id, practice_id,
    reloading)`, `set_access(office_id, practice_ids, on)`, `set_spu_online(office_id, practice_id, online)`
    (while a practice's SPU is off its writebacks stay queued and `check_spu=true` answers 412 API2017),
    `expire_request_keys()`
  - `writebacks_of(office_id, practice_id=None) -> list[Writeback]` (`status_row()` is the
    /writeback_status item); `writebacks` is the queue of all of them
  - `counters` (Counter: "GET /patients", "POST /appointment", "PUT /appointments", ...,
    "POST /request_key", "POST /request_key:request_key", "POST /request_key:refresh_key"),
    `reset_counters()`; `timeline` (sandbox.latency.Timeline): each request served, when it arrived and was
    answered
  - `faults`: the FaultInjector — `faults.add(endpoint="*", **FaultRule fields) -> FaultRule`,
    `faults.clear()`, `faults.rules` (see sandbox.faults)
- `registration_handshake(practice, status="Active"|"Cancelled", *, at=None) -> dict`: the PascalCase
  purchase/cancellation body integrators report Sikka posting (sandbox.handshake).
- `open_hours(schedule, day, *, provider_id="", operatory="")` (sandbox.schedule): the open spans, in
  minutes after midnight, that a practice's week rows give a day.
- `create_sandbox_app(state=None) -> Starlette`; `/_admin/...` routes are listed in sandbox.admin.
- Command line: `python -m sandbox --host 127.0.0.1 --port 8100 [--latency-ms 0] [--latency-p99-ms 0]
  [--writeback-delay 1.0] [--writeback-delay-max 0] [--key-ttl 86400] [--seed 20261125]`.
"""

from sandbox.app import create_sandbox_app
from sandbox.config import DEMO_APP_ID, DEMO_APP_KEY, SandboxConfig
from sandbox.data import (
    DEMO_OFFICE_ID,
    DEMO_PRACTICE_ID,
    DEMO_PRACTICE_NAME,
    DEMO_SECOND_PRACTICE_ID,
    DEMO_SECOND_PRACTICE_NAME,
    DEMO_SECRET_KEY,
)
from sandbox.faults import FaultInjector, FaultRule
from sandbox.handshake import registration_handshake
from sandbox.practice import AppointmentStatus, Practice
from sandbox.schedule import open_hours
from sandbox.state import SandboxState
from sandbox.writebacks import Writeback

__all__ = [
    "DEMO_APP_ID",
    "DEMO_APP_KEY",
    "DEMO_OFFICE_ID",
    "DEMO_PRACTICE_ID",
    "DEMO_PRACTICE_NAME",
    "DEMO_SECOND_PRACTICE_ID",
    "DEMO_SECOND_PRACTICE_NAME",
    "DEMO_SECRET_KEY",
    "AppointmentStatus",
    "FaultInjector",
    "FaultRule",
    "Practice",
    "SandboxConfig",
    "SandboxState",
    "Writeback",
    "create_sandbox_app",
    "open_hours",
    "registration_handshake",
]
