"""The app's one body limit (app/limits.py): per path, a declared length over it refused before the route runs,
a body sent in chunks without a length read only up to it, and a body within it handed to the route whole."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from app.limits import BodyLimit

pytestmark = pytest.mark.anyio


class Route:
    """Records what reached it: the request messages its body came in."""

    def __init__(self) -> None:
        self.bodies: list[list[bytes]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        self.bodies.append(chunks)
        await JSONResponse({"size": sum(map(len, chunks))})(scope, receive, send)


def client(route: Route) -> httpx.AsyncClient:
    app = BodyLimit(route, limits={"/small": 10, "/large": 1000}, default=100)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def chunked(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_each_path_has_its_limit_and_a_body_within_it_reaches_the_route_whole() -> None:
    route = Route()
    async with client(route) as http:
        assert (await http.post("/small", content=b"x" * 10)).json() == {"size": 10}
        assert (await http.post("/large", content=chunked(*[b"y" * 100] * 10))).json() == {"size": 1000}
        assert (await http.post("/other", content=b"z" * 100)).json() == {"size": 100}
        assert (await http.get("/other")).json() == {"size": 0}
    assert [len(chunks) for chunks in route.bodies] == [1, 1, 1, 1]  # one message, however it was sent


async def test_a_body_over_the_limit_never_reaches_the_route() -> None:
    route = Route()
    async with client(route) as http:
        declared = await http.post("/small", content=b"x" * 11)
        sent_in_chunks = await http.post("/large", content=chunked(*[b"y" * 100] * 11))
        other = await http.post("/other", content=b"z" * 101)
    assert [r.status_code for r in (declared, sent_in_chunks, other)] == [413, 413, 413]
    assert declared.json() == {"error": "the body exceeds 10 bytes"}
    assert sent_in_chunks.json() == {"error": "the body exceeds 1000 bytes"}
    assert route.bodies == []
