"""`ProxyHeaders`: believe a reverse proxy's X-Forwarded-* only from the proxy,
and say Strict-Transport-Security on HTTPS.

Behind Caddy, nginx or Traefik the server sees the proxy's address and plain
HTTP.  For requests that come from an address in `[server] trusted_proxies`,
the client's address is taken from X-Forwarded-For (the nearest address that
is not itself a trusted proxy), the scheme from X-Forwarded-Proto and the host
from X-Forwarded-Host; from anyone else those headers are ignored, so a
client cannot pose as another address or as HTTPS.  With `[server] hsts`,
answers over HTTPS (ours, or a trusted proxy's) carry
Strict-Transport-Security.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from selfdrive.config import ConfigError

HSTS = (b"strict-transport-security", b"max-age=31536000")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(trusted: Sequence[str]) -> list[Network]:
    out = []
    for item in trusted:
        try:
            out.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise ConfigError(f"server.trusted_proxies: {item!r} is not an address or"
                              " network (try \"10.0.0.1\" or \"10.0.0.0/8\")") from None
    return out


class ProxyHeaders:
    def __init__(self, app: ASGIApp, trusted: Sequence[str], hsts: bool) -> None:
        self.app = app
        self.trusted = networks(trusted)
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        if self.trusted and client and self._is_trusted(client[0]):
            scope = self._forwarded(scope)
        if self.hsts and scope.get("scheme") == "https":
            inner = send

            async def send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message = {**message, "headers": [*message.get("headers", []), HSTS]}
                await inner(message)

        await self.app(scope, receive, send)

    def _is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.trusted)

    def _forwarded(self, scope: Scope) -> Scope:
        headers = [(k.lower(), v) for k, v in scope["headers"]]
        found = {k: v.decode("latin-1") for k, v in headers
                 if k in (b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host")}
        scope = dict(scope)
        chain = [a.strip() for a in found.get(b"x-forwarded-for", "").split(",") if a.strip()]
        for address in reversed(chain):  # the nearest untrusted hop is the client
            if not self._is_trusted(address):
                scope["client"] = (address, 0)
                break
        proto = found.get(b"x-forwarded-proto", "").split(",")[0].strip().lower()
        if proto in ("http", "https"):
            scope["scheme"] = proto
        host = found.get(b"x-forwarded-host", "").split(",")[0].strip()
        if host:
            scope["headers"] = [(k, v) for k, v in headers if k != b"host"] + [
                (b"host", host.encode("latin-1"))]
        return scope
