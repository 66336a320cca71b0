"""HTTP to Sikka: one pooled httpx client, deadlines, retries, credentials, and response normalisation.

Every request goes through `SikkaClient.send` (lists through `SikkaClient.listing`) with its `Credentials`: the
app's keys (`SikkaClient.app_keys`), a practice's request key (server/sikka/keys.py, renewed once when Sikka
rejects it), or fixed headers.

Normalisation covers Sikka's documented quirks: the list envelope, the array-wrapped envelope
(`writeback_status`), HTTP 204 / empty bodies as "no items", error envelopes that arrive with HTTP 200,
and `offset` as a page index when paging.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx

from server.logs import get_logger
from server.metrics import Metrics
from server.sikka.errors import RateLimited, SikkaAuthError, SikkaError, SikkaNoAnswer, SikkaUnavailable, classify

log = get_logger(__name__)

Item = dict[str, Any]
Params = Mapping[str, str | int]

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
MAX_ATTEMPTS = 4
BACKOFF_BASE_SECONDS = 0.2
BACKOFF_CAP_SECONDS = 2.0
CONNECT_TIMEOUT_SECONDS = 3.0
DEFAULT_PAGE_SIZE = 500
MAX_PAGES = 200

RequestHook = Callable[[str, str], None]
"""Told (method, endpoint) of every request before it is sent: the audit records which ones a call made."""


@dataclass(frozen=True, slots=True)
class Outbound:
    """One request as `SikkaClient.send` sends it, with the credentials' headers of that send."""

    method: str
    endpoint: str
    headers: Mapping[str, str]
    params: Params | None
    json_body: Any


@dataclass(frozen=True, slots=True)
class Deadline:
    """A point in monotonic time by which an operation (retries included) must finish."""

    expires_at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    def remaining(self) -> float:
        return max(0.0, self.expires_at - time.monotonic())


class Credentials(Protocol):
    """How a request says who sends it: a strategy `SikkaClient.send` asks before each send."""

    async def headers(self) -> Mapping[str, str]:
        """The headers to send now."""
        ...

    async def rejected(self) -> bool:
        """Sikka rejected the headers last sent (API1025/API1004/401): renew them and say True to send again (the
        next `headers` are the renewed ones), or False to let the rejection stand."""
        ...


@dataclass(frozen=True, slots=True)
class Fixed:
    """Credentials sent as they are and never renewed: the app's keys, a key being revoked, or none at all."""

    values: Mapping[str, str] = field(default_factory=dict)

    async def headers(self) -> Mapping[str, str]:
        return self.values

    async def rejected(self) -> bool:
        return False


NO_CREDENTIALS = Fixed()  # `POST /request_key` carries the app's keys in its body


@dataclass(frozen=True, slots=True)
class Paging:
    """How a listing is read: pages of `size` items, following `pagination.next` unless `every` is False."""

    size: int = DEFAULT_PAGE_SIZE
    every: bool = True


EVERY_PAGE = Paging()


@dataclass(frozen=True, slots=True)
class Listing:
    """A list endpoint's items, and whether Sikka said it is reloading the practice's data meanwhile
    (`Data-Insert: in progress`: the items may be incomplete, so nothing derived from them is cached)."""

    items: list[Item]
    reloading: bool = False


@dataclass(slots=True)
class SikkaResponse:
    status: int
    headers: httpx.Headers
    body: Any = None

    @property
    def envelope(self) -> Item | None:
        """The list/error envelope, unwrapping the documented `[{...}]` form."""
        body = self.body
        if isinstance(body, list) and len(body) == 1 and isinstance(body[0], dict):
            body = body[0]
        return body if isinstance(body, dict) else None

    @property
    def items(self) -> list[Item]:
        envelope = self.envelope
        if envelope is None:
            if isinstance(self.body, list):  # a bare array of items
                return [item for item in self.body if isinstance(item, dict)]
            return []
        items = envelope.get("items")
        return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []

    @property
    def reloading(self) -> bool:
        return str(self.headers.get("data-insert", "")).strip().lower() == "in progress"

    def next_offset(self) -> str | None:
        """The page index of `pagination.next`, or None on the last page."""
        envelope = self.envelope or {}
        pagination = envelope.get("pagination")
        link = pagination.get("next") if isinstance(pagination, dict) else None
        if not isinstance(link, str) or not link.strip():
            return None
        values = parse_qs(urlsplit(link).query).get("offset")
        return values[0] if values else None


@dataclass
class SikkaClient:
    """Sends requests to Sikka. One per process; the httpx client (and its pool) is shared."""

    http: httpx.AsyncClient
    base_url: str
    app_id: str
    app_key: str
    metrics: Metrics | None = None
    on_request: RequestHook | None = None
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep
    jitter: Callable[[], float] = field(default=random.random)

    @property
    def app_keys(self) -> Fixed:
        """The app's own credentials (App-Id/App-Key): the support endpoints."""
        return Fixed({"App-Id": self.app_id, "App-Key": self.app_key})

    async def send(
        self,
        method: str,
        endpoint: str,
        *,
        credentials: Credentials,
        deadline: Deadline,
        params: Params | None = None,
        json_body: Any = None,
    ) -> SikkaResponse:
        """The one path of every request to Sikka, sent with `credentials`; when Sikka rejects them and they can
        be renewed, renewed once and sent again (each send with its own retries); a second rejection stands."""
        renewed = False
        while True:
            request = Outbound(method, endpoint, await credentials.headers(), params, json_body)
            try:
                return await self._retried(request, deadline)
            except SikkaAuthError:
                if renewed or not await credentials.rejected():
                    raise
                renewed = True

    async def _retried(self, request: Outbound, deadline: Deadline) -> SikkaResponse:
        """One send. GETs retry transient failures with jittered backoff inside the deadline;
        writes retry only when the request provably never reached Sikka (connection not established)."""
        idempotent = request.method == "GET"
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._attempt(request, deadline)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                error: SikkaError = SikkaUnavailable(f"cannot connect to Sikka ({type(exc).__name__})")
                retryable = True
            except httpx.TransportError as exc:
                error = SikkaNoAnswer(f"Sikka did not answer ({type(exc).__name__})")
                retryable = idempotent
            except TimeoutError:
                raise SikkaNoAnswer("Sikka did not answer before the deadline") from None
            except SikkaError as exc:
                error = exc
                retryable = idempotent and exc.status in RETRYABLE_STATUSES
            delay = self._backoff(attempt, error)
            if not retryable or attempt >= MAX_ATTEMPTS or delay >= deadline.remaining():
                raise error
            log.info(
                "sikka retry", endpoint=request.endpoint, method=request.method, attempt=attempt, status=error.status
            )
            await self.sleep(delay)

    def _backoff(self, attempt: int, error: SikkaError) -> float:
        exponential: float = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2.0 ** (attempt - 1))
        delay = exponential * (0.5 + self.jitter() / 2)
        if isinstance(error, RateLimited) and error.retry_after is not None:
            delay = max(delay, error.retry_after)
        return delay

    async def _attempt(self, request: Outbound, deadline: Deadline) -> SikkaResponse:
        method, endpoint = request.method, request.endpoint
        remaining = deadline.remaining()
        if remaining <= 0:
            raise SikkaUnavailable("the deadline passed before the request was sent")
        if self.on_request is not None:
            self.on_request(method, endpoint)
        timeout = httpx.Timeout(remaining, connect=min(CONNECT_TIMEOUT_SECONDS, remaining))
        started = time.perf_counter()
        result = "error"
        try:
            with anyio.fail_after(remaining):
                response = await self.http.request(
                    method,
                    f"{self.base_url}/{endpoint}",
                    params=request.params,
                    json=request.json_body,
                    headers=request.headers,
                    timeout=timeout,
                )
            parsed = _parse(response)
            result = str(parsed.status)
            return parsed
        finally:
            elapsed = time.perf_counter() - started
            if self.metrics is not None:
                resource = endpoint.split("/", 1)[0]  # "appointments/70001" -> "appointments": bounded labels
                self.metrics.sikka_requests.labels(resource, result).inc()
                self.metrics.sikka_latency.labels(resource).observe(elapsed)
            log.debug("sikka request", endpoint=endpoint, method=method, status=result, duration_ms=elapsed * 1000)

    async def listing(
        self,
        endpoint: str,
        *,
        credentials: Credentials,
        deadline: Deadline,
        params: Params | None = None,
        paging: Paging = EVERY_PAGE,
    ) -> Listing:
        """A list endpoint's items, one `send` per page: follows `pagination.next` (offset is a page index) unless
        told not to, and notes whether any page said the practice's data is being reloaded."""
        query: dict[str, str | int] = {**(params or {}), "limit": paging.size, "offset": 0}
        items: list[Item] = []
        reloading = False
        seen_offsets: set[str] = set()
        for _ in range(MAX_PAGES):
            response = await self.send("GET", endpoint, credentials=credentials, deadline=deadline, params=query)
            page = response.items
            items.extend(page)
            reloading = reloading or response.reloading
            next_offset = response.next_offset()
            if not paging.every or not page or next_offset is None or next_offset in seen_offsets:
                break
            seen_offsets.add(str(query["offset"]))
            query = {**query, "offset": next_offset}
        return Listing(items, reloading)


def _parse(response: httpx.Response) -> SikkaResponse:
    """Decode the body and raise the error it represents (whatever the HTTP status says)."""
    retry_after = _rate_limit_reset(response.headers)
    body: Any = None
    if response.status_code != 204 and response.content.strip():
        try:
            body = json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            if response.status_code >= 400:
                raise classify(response.status_code, None, retry_after) or SikkaUnavailable(
                    "unreadable error from Sikka", status=response.status_code
                ) from None
            raise SikkaUnavailable("Sikka sent a malformed response", status=response.status_code) from None
    parsed = SikkaResponse(response.status_code, response.headers, body)
    error = classify(response.status_code, parsed.envelope, retry_after)
    if error is not None:
        raise error
    return parsed


def _rate_limit_reset(headers: httpx.Headers) -> float | None:
    value = headers.get("x-rate-limit-reset") or headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        reset_at: float = parsedate_to_datetime(value).timestamp()
        return max(0.0, reset_at - time.time())
    except (TypeError, ValueError):
        return None
