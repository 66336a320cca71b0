"""`/_admin` routes: inspect and steer a running sandbox over HTTP. No authentication (a test double), so they
answer only requests made on this machine: a loopback client and no `X-Forwarded-For` (403 otherwise). Practice
summaries never include the practice's secret_key.

GET    /_admin/counters                                    {"GET /patients": 3, ...}
DELETE /_admin/counters                                    reset (204)
GET    /_admin/faults                                      active rules
POST   /_admin/faults          FaultRule fields            add a rule (201, the rule)
DELETE /_admin/faults                                      clear all rules (204)
GET    /_admin/practices                                   practice summaries
POST   /_admin/practices       SandboxState.add_practice keyword arguments (201, the summary); a location
                               added later to an office appears in `authorized_practices?show=all`
POST   /_admin/practices/{office_id}/{practice_id}/listed  {"listed": bool}: authorize / delist a location
POST   /_admin/practices/{office_id}/{practice_id}/data_ready  the location's data is uploaded (no body)
POST   /_admin/practices/{office_id}/{practice_id}/data_insert {"in_progress": bool}: a data reload
POST   /_admin/practices/{office_id}/{practice_id}/spu     {"online": bool}: stop or start the practice's SPU
GET    /_admin/practices/{office_id}/{practice_id}/{appointments|patients|writebacks}
POST   /_admin/keys/expire                                 every issued request_key expires now (204)
GET    /_admin/config                                      the run-time settings
POST   /_admin/config          {"latency_seconds", "latency_p99_seconds", "writeback_delay_seconds",
                                "writeback_delay_max_seconds", "key_ttl_seconds", "rate_limit_per_minute"}
                               (any subset; see SandboxConfig). Setting a latency or writeback delay restarts
                               the seeded draws: a run that sets them gets the same sequence of draws each time
GET    /_admin/requests?after=<seq>                        {"last_seq": n, "requests": [{"seq", "request":
                               "GET /patients", "query", "started", "finished"}, ...]}: the requests answered
                               after `seq` (of the last 10,000), times in seconds on the sandbox's monotonic clock
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, validate_call
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from sandbox.practice import Practice
from sandbox.state import SandboxState


class ConfigUpdate(BaseModel):
    """The settings `POST /_admin/config` may change."""

    model_config = ConfigDict(extra="forbid")

    latency_seconds: float | None = Field(default=None, ge=0)
    latency_p99_seconds: float | None = Field(default=None, ge=0)
    writeback_delay_seconds: float | None = Field(default=None, ge=0)
    writeback_delay_max_seconds: float | None = Field(default=None, ge=0)
    key_ttl_seconds: float | None = Field(default=None, gt=0)
    rate_limit_per_minute: int | None = Field(default=None, ge=1)


TIMING_SETTINGS = frozenset(
    {"latency_seconds", "latency_p99_seconds", "writeback_delay_seconds", "writeback_delay_max_seconds"}
)


class Listed(BaseModel):
    model_config = ConfigDict(extra="forbid")

    listed: bool


class Spu(BaseModel):
    model_config = ConfigDict(extra="forbid")

    online: bool


class DataInsert(BaseModel):
    model_config = ConfigDict(extra="forbid")

    in_progress: bool


def _state(request: Request) -> SandboxState:
    state: SandboxState = request.app.state.sandbox
    return state


def _summary(practice: Practice) -> dict[str, Any]:
    return {
        "office_id": practice.office_id,
        "practice_id": practice.practice_id,
        "name": practice.name,
        "pms": practice.pms,
        "time_zone": practice.time_zone,
        "state": practice.state,
        "cust_id": practice.cust_id,
        "listed": practice.listed,
        "access": practice.access,
        "uploaded": practice.uploaded,
        "reloading": practice.reloading,
        "spu_online": practice.spu_online,
        "patients": len(practice.patients),
        "appointments": len(practice.appointments),
        "writeback_delay_seconds": practice.writeback_delay_seconds,
    }


def _settings(state: SandboxState) -> dict[str, Any]:
    return {name: getattr(state.config, name) for name in ConfigUpdate.model_fields}


async def _body(request: Request) -> dict[str, Any]:
    body = await request.json()
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    return body


def _guarded(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """Answer bad input with 422 and unknown practices with 404, as `{"detail": ...}`."""

    async def guarded(request: Request) -> Response:
        try:
            return await handler(request)
        except ValidationError as error:
            return JSONResponse({"detail": error.errors(include_url=False, include_context=False)}, 422)
        except ValueError as error:
            return JSONResponse({"detail": str(error)}, 422)
        except KeyError as error:
            return JSONResponse({"detail": f"not found: {error}"}, 404)

    return guarded


async def counters(request: Request) -> Response:
    return JSONResponse(dict(_state(request).counters))


async def reset_counters(request: Request) -> Response:
    _state(request).reset_counters()
    return Response(status_code=204)


async def served(request: Request) -> Response:
    timeline = _state(request).timeline
    served = timeline.after(int(request.query_params.get("after") or 0))
    return JSONResponse({"last_seq": timeline.last_seq, "requests": [asdict(item) for item in served]})


async def faults(request: Request) -> Response:
    return JSONResponse([rule.model_dump() for rule in _state(request).faults.rules])


async def add_fault(request: Request) -> Response:
    rule = _state(request).faults.add(**await _body(request))
    return JSONResponse(rule.model_dump(), 201)


async def clear_faults(request: Request) -> Response:
    _state(request).faults.clear()
    return Response(status_code=204)


async def practices(request: Request) -> Response:
    return JSONResponse([_summary(practice) for practice in _state(request).practices()])


async def add_practice(request: Request) -> Response:
    practice = validate_call(_state(request).add_practice)(**await _body(request))
    return JSONResponse(_summary(practice), 201)


async def set_listed(request: Request) -> Response:
    office_id, practice_id = request.path_params["office_id"], request.path_params["practice_id"]
    listed = Listed.model_validate(await _body(request)).listed
    _state(request).set_listed(office_id, practice_id, listed)
    return JSONResponse(_summary(_state(request).practice(office_id, practice_id)))


async def data_ready(request: Request) -> Response:
    office_id, practice_id = request.path_params["office_id"], request.path_params["practice_id"]
    _state(request).set_uploaded(office_id, practice_id)
    return JSONResponse(_summary(_state(request).practice(office_id, practice_id)))


async def data_insert(request: Request) -> Response:
    office_id, practice_id = request.path_params["office_id"], request.path_params["practice_id"]
    in_progress = DataInsert.model_validate(await _body(request)).in_progress
    _state(request).set_reloading(office_id, practice_id, in_progress)
    return JSONResponse(_summary(_state(request).practice(office_id, practice_id)))


async def set_spu(request: Request) -> Response:
    office_id, practice_id = request.path_params["office_id"], request.path_params["practice_id"]
    online = Spu.model_validate(await _body(request)).online
    _state(request).set_spu_online(office_id, practice_id, online)
    return JSONResponse(_summary(_state(request).practice(office_id, practice_id)))


async def records(request: Request) -> Response:
    state, params = _state(request), request.path_params
    practice = state.practice(params["office_id"], params["practice_id"])
    writebacks = state.writebacks_of(practice.office_id, practice.practice_id)
    collections: dict[str, Iterable[Any]] = {
        "appointments": practice.appointments.values(),
        "patients": practice.patients.values(),
        "writebacks": (writeback.status_row() for writeback in writebacks),
    }
    return JSONResponse(list(collections[params["collection"]]))


async def expire_keys(request: Request) -> Response:
    _state(request).expire_request_keys()
    return Response(status_code=204)


async def config(request: Request) -> Response:
    state = _state(request)
    if request.method == "POST":
        update = ConfigUpdate.model_validate(await _body(request))
        changes = update.model_dump(exclude_none=True)
        for name, value in changes.items():
            setattr(state.config, name, value)
        if TIMING_SETTINGS & changes.keys():
            state.restart_timing()
    return JSONResponse(_settings(state))


def is_local(request: Request) -> bool:
    """Sent from this machine, directly: a loopback peer, and no proxy forwarded it for someone else."""
    if request.client is None or "x-forwarded-for" in request.headers:
        return False
    try:
        return ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:
        return False


class LocalOnly:
    """Refuses (403) every request that `is_local` does not accept."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not is_local(Request(scope)):
            response = JSONResponse({"detail": "the sandbox admin answers only requests from this machine"}, 403)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


ADMIN_ROUTES = [
    Route("/counters", counters, methods=["GET"]),
    Route("/counters", reset_counters, methods=["DELETE"]),
    Route("/requests", _guarded(served), methods=["GET"]),
    Route("/faults", faults, methods=["GET"]),
    Route("/faults", _guarded(add_fault), methods=["POST"]),
    Route("/faults", clear_faults, methods=["DELETE"]),
    Route("/practices", practices, methods=["GET"]),
    Route("/practices", _guarded(add_practice), methods=["POST"]),
    Route("/practices/{office_id}/{practice_id}/listed", _guarded(set_listed), methods=["POST"]),
    Route("/practices/{office_id}/{practice_id}/data_ready", _guarded(data_ready), methods=["POST"]),
    Route("/practices/{office_id}/{practice_id}/data_insert", _guarded(data_insert), methods=["POST"]),
    Route("/practices/{office_id}/{practice_id}/spu", _guarded(set_spu), methods=["POST"]),
    Route("/practices/{office_id}/{practice_id}/{collection}", _guarded(records), methods=["GET"]),
    Route("/keys/expire", expire_keys, methods=["POST"]),
    Route("/config", _guarded(config), methods=["GET", "POST"]),
]
