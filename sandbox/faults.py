"""Fault injection: extra latency, Sikka error envelopes, malformed bodies, 429s and failing writebacks.

Rules are checked in the order they were added. Per request, every firing latency rule adds its latency
and the first firing rule with a response effect replaces the response (latency first, then the error).
Writeback rules act on writeback submissions only (POST /appointment, PUT/PATCH /appointments/{id},
POST /patient, PATCH /patient/{id}).
"""

from __future__ import annotations

import random
from typing import Any, NamedTuple, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.responses import JSONResponse, Response

from sandbox.envelopes import CATALOG, envelope

MALFORMED_BODY = b'{"items": ['


class FaultRule(BaseModel):
    """A fault: which calls it matches, what it does, and for how long.

    - match: `endpoint` ("patients", "appointment", "writeback_status", "request_key", ... or "*") and
      optionally `method` ("GET", ...).
    - response effects (at most one, plus `latency_seconds`): `error_code` (Sikka envelope from the catalog;
      HTTP status from the catalog unless `status` is given; a 200 status makes an "HTTP-200 error"),
      `malformed` (HTTP 200, body `{"items": [`), `rate_limit_reset` (HTTP 429, `X-Rate-Limit-Remaining: 0`,
      `X-Rate-Limit-Reset: <seconds>`, envelope `error_code` or API2012).
    - writeback effects (alone): `writeback_failure` (the writeback completes with `has_error` "True" and this
      result) and/or `writeback_delay_seconds` (completion delay of that writeback).
    - lifetime: the next `count` matching calls; or each matching call with probability `rate` (seeded); both
      combine; neither means until cleared. `count` counts down as the rule fires.
    """

    model_config = ConfigDict(extra="forbid")

    endpoint: str = "*"
    method: str | None = None
    latency_seconds: float = Field(default=0.0, ge=0)
    error_code: str | None = None
    status: int | None = Field(default=None, ge=100, le=599)
    malformed: bool = False
    rate_limit_reset: int | None = Field(default=None, ge=0)
    writeback_failure: str | None = None
    writeback_delay_seconds: float | None = Field(default=None, ge=0)
    count: int | None = Field(default=None, ge=1)
    rate: float | None = Field(default=None, gt=0, le=1)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.error_code is not None and self.error_code not in CATALOG:
            raise ValueError(f"unknown Sikka error code {self.error_code}")
        if self.status is not None and self.error_code is None and self.rate_limit_reset is None:
            raise ValueError("status needs error_code or rate_limit_reset")
        if self.malformed and (self.error_code is not None or self.rate_limit_reset is not None):
            raise ValueError("malformed excludes error_code and rate_limit_reset")
        if self.for_writebacks and (self.responds or self.latency_seconds):
            raise ValueError("writeback effects cannot be combined with response effects or latency")
        if not (self.for_writebacks or self.responds or self.latency_seconds):
            raise ValueError("a rule needs an effect")
        return self

    @property
    def responds(self) -> bool:
        return self.malformed or self.error_code is not None or self.rate_limit_reset is not None

    @property
    def for_writebacks(self) -> bool:
        return self.writeback_failure is not None or self.writeback_delay_seconds is not None

    def matches(self, endpoint: str, method: str) -> bool:
        return self.endpoint in ("*", endpoint) and self.method in (None, method.upper())

    def response(self) -> Response:
        """The response this rule substitutes."""
        if self.malformed:
            return Response(MALFORMED_BODY, status_code=200, media_type="application/json")
        if self.rate_limit_reset is not None:
            return JSONResponse(
                envelope(self.error_code or "API2012"),
                status_code=self.status or 429,
                headers={"X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": str(self.rate_limit_reset)},
            )
        assert self.error_code is not None
        return JSONResponse(
            envelope(self.error_code), status_code=self.status or int(CATALOG[self.error_code].http_code)
        )


class RequestFault(NamedTuple):
    latency_seconds: float
    response: Response | None


class WritebackFault(NamedTuple):
    failure: str | None
    delay_seconds: float | None


class FaultInjector:
    """The active fault rules of one sandbox."""

    def __init__(self, seed: int) -> None:
        self._rules: list[FaultRule] = []
        self._random = random.Random(seed)

    @property
    def rules(self) -> list[FaultRule]:
        return list(self._rules)

    def add(self, endpoint: str = "*", **options: Any) -> FaultRule:
        """Add a rule (keyword arguments as in FaultRule; invalid ones raise pydantic.ValidationError)."""
        rule = FaultRule(endpoint=endpoint, **options)
        self._rules.append(rule)
        return rule

    def clear(self) -> None:
        self._rules.clear()

    def on_request(self, endpoint: str, method: str) -> RequestFault:
        latency, response = 0.0, None
        for rule in self.rules:
            if rule.for_writebacks or (rule.responds and response is not None):
                continue
            if self._fires(rule, endpoint, method):
                latency += rule.latency_seconds
                if rule.responds:
                    response = rule.response()
        return RequestFault(latency, response)

    def on_writeback(self, endpoint: str, method: str) -> WritebackFault:
        for rule in self.rules:
            if rule.for_writebacks and self._fires(rule, endpoint, method):
                return WritebackFault(rule.writeback_failure, rule.writeback_delay_seconds)
        return WritebackFault(None, None)

    def _fires(self, rule: FaultRule, endpoint: str, method: str) -> bool:
        """Whether `rule` applies to this call; consumes one of its `count`."""
        if not rule.matches(endpoint, method):
            return False
        if rule.rate is not None and self._random.random() >= rule.rate:
            return False
        if rule.count is not None:
            rule.count -= 1
            if rule.count == 0:
                self._rules.remove(rule)
        return True
