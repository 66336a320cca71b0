"""What one request may carry: a body size per path (one middleware for the whole app), and a number of calls.

`BodyLimit` answers 413 before any route runs. A declared `Content-Length` over the limit is refused unread; a
body sent without one is read up to the limit (its chunks joined once, no quadratic copying) and handed to the
route whole, so every route below reads a body that is known to fit.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Calls answered per POST: tool calls in one Vapi tool-calls message, messages in one JSON-RPC batch on /mcp.
MAX_CALLS_PER_REQUEST = 20


def replaying(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands out `body` as the whole request, then whatever the connection sends next
    (a disconnect)."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class BodyLimit:
    """At most `limits[path]` bytes of request body (`default` for any other path), else 413."""

    def __init__(self, app: ASGIApp, limits: Mapping[str, int], default: int) -> None:
        self.app = app
        self.limits = dict(limits)
        self.default = default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.get(scope["path"], self.default)
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await self.too_large(limit)(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before its body was complete: nobody to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self.too_large(limit)(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, replaying(b"".join(chunks), receive), send)

    @staticmethod
    def too_large(limit: int) -> JSONResponse:
        return JSONResponse({"error": f"the body exceeds {limit} bytes"}, status_code=413)
