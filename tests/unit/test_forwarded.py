"""The client address behind trusted proxies: the entry the trusted proxy appended, never what the client wrote."""

from __future__ import annotations

from typing import Any

import pytest

from server.forwarded import ClientAddressMiddleware, TrustedProxies

pytestmark = pytest.mark.anyio
ALB_SUBNETS = "10.0.0.0/24, 10.0.1.0/24"


@pytest.mark.parametrize(
    ("trusted", "peer", "forwarded_for", "client"),
    [
        # `*`: whoever connects is the ALB; the client is what it appended (the rightmost entry).
        ("*", "10.0.0.9", ["203.0.113.7"], "203.0.113.7"),
        ("*", "10.0.0.9", ["1.1.1.1", "203.0.113.7"], "203.0.113.7"),
        ("*", "10.0.0.9", ["x" * 500, "203.0.113.7"], "203.0.113.7"),
        ("*", "10.0.0.9", ["203.0.113.7", "junk"], "junk"),  # recorded as sent; the audit writer flags it
        # A list: the rightmost hop that is not a trusted proxy.
        (ALB_SUBNETS, "10.0.0.9", ["1.1.1.1", "203.0.113.7"], "203.0.113.7"),
        (ALB_SUBNETS, "10.0.0.9", ["1.1.1.1", "203.0.113.7", "10.0.1.4"], "203.0.113.7"),
        (ALB_SUBNETS, "10.0.0.9", ["10.0.1.5", "10.0.1.4"], "10.0.1.5"),
        # An untrusted peer's header means nothing.
        (ALB_SUBNETS, "198.51.100.2", ["127.0.0.1"], "198.51.100.2"),
        ("127.0.0.1", "198.51.100.2", ["10.0.0.1"], "198.51.100.2"),
        ("127.0.0.1", "127.0.0.1", [], "127.0.0.1"),
    ],
)
async def test_client_address(trusted: str, peer: str, forwarded_for: list[str], client: str) -> None:
    headers = [(b"x-forwarded-for", ", ".join(forwarded_for).encode())] if forwarded_for else []
    seen = await through_middleware(trusted, peer, headers)
    assert seen["client"][0] == client


async def test_several_headers_are_one_list_and_the_scheme_follows_a_trusted_proxy() -> None:
    headers = [(b"x-forwarded-for", b"1.1.1.1"), (b"x-forwarded-for", b"203.0.113.7"), (b"x-forwarded-proto", b"https")]
    seen = await through_middleware("*", "10.0.0.9", headers)
    assert (seen["client"][0], seen["scheme"]) == ("203.0.113.7", "https")
    untrusted = await through_middleware("10.0.0.0/24", "198.51.100.2", headers)
    assert (untrusted["client"][0], untrusted["scheme"]) == ("198.51.100.2", "http")
    odd = await through_middleware("*", "10.0.0.9", [(b"x-forwarded-proto", b"gopher")])
    assert odd["scheme"] == "http"


async def through_middleware(trusted: str, peer: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.update(scope)

    scope = {"type": "http", "client": (peer, 51000), "scheme": "http", "headers": headers, "path": "/mcp"}
    await ClientAddressMiddleware(app, TrustedProxies.parse(trusted))(scope, None, None)  # type: ignore[arg-type]
    return seen
