"""The client address behind trusted proxies (`FORWARDED_ALLOW_IPS`), as audit rows record it.

Every proxy appends the address it received the request from to `X-Forwarded-For`; whatever the client wrote
into the header itself comes first and proves nothing. So, starting from the connection's peer: while the peer
is a trusted proxy, the next address inward is the last entry it appended. `*` trusts the peer whoever it is
(behind the ALB only the load balancer reaches a task) for one hop: the client is the rightmost entry, the
address the ALB appended, never the leftmost. A list of addresses and networks trusts those proxies only,
through as many hops as they form. The entry is recorded as sent; the audit writer stores anything that is not
an IP address as null with `ip_invalid` set.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
SCHEMES = frozenset({"http", "https"})


@dataclass(frozen=True)
class TrustedProxies:
    """`*` (any peer, one hop) or the networks of trusted proxies."""

    any_peer: bool
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, value: str) -> TrustedProxies:
        """`*`, or comma-separated IP addresses and CIDR networks; raises ValueError naming a bad entry."""
        entries = [entry.strip() for entry in value.split(",") if entry.strip()]
        if entries == ["*"]:
            return cls(any_peer=True)
        networks = []
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ValueError(f"{entry[:64]!r} is not an IP address or network (or use * alone)") from None
        return cls(any_peer=False, networks=tuple(networks))

    def trusts(self, host: str) -> bool:
        if self.any_peer:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def client(self, forwarded_for: list[str]) -> str:
        """The client's address behind a trusted peer, from the header's entries (oldest first, not empty)."""
        if self.any_peer:
            return forwarded_for[-1]
        for hop in reversed(forwarded_for):
            if not self.trusts(hop):
                return hop
        return forwarded_for[0]  # every hop is a trusted proxy: the first one is the origin


def header_values(scope: Scope, name: bytes) -> list[str]:
    """Every comma-separated entry of every occurrence of header `name`, in order."""
    values = [value.decode("latin-1") for key, value in scope["headers"] if key == name]
    return [entry.strip() for value in values for entry in value.split(",")]


class ClientAddressMiddleware:
    """Sets the request's client (and scheme) from `X-Forwarded-For` (`-Proto`) when a trusted proxy sent it."""

    def __init__(self, app: ASGIApp, trusted: TrustedProxies) -> None:
        self.app = app
        self.trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        peer = scope.get("client")
        if scope["type"] == "http" and peer and self.trusted.trusts(peer[0]):
            scope = dict(scope)
            forwarded_for = header_values(scope, b"x-forwarded-for")
            if forwarded_for:
                scope["client"] = (self.trusted.client(forwarded_for), 0)
            proto = header_values(scope, b"x-forwarded-proto")
            if proto and proto[-1].lower() in SCHEMES:
                scope["scheme"] = proto[-1].lower()
        await self.app(scope, receive, send)
