"""Request framing guards that the server stack lacks (DESIGN.md, "Known gaps").

Hypercorn 0.18 with h11 0.16 serves a request that carries both Content-Length
and Transfer-Encoding and keeps the connection open, so bytes after the
chunked body would be parsed as a second request (request smuggling).  RFC
9112 section 6.1 says such a message must be answered and the connection
closed: `FramingGuard` answers 400 with ``Connection: close`` before any
route sees the request.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from selfdrive.http.errors import error_body


class FramingGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            names = [name.lower() for name, _ in scope["headers"]]
            if b"transfer-encoding" in names and b"content-length" in names:
                await _refuse(send, "a request may not carry both Content-Length and "
                              "Transfer-Encoding")
                return
            if names.count(b"content-length") > 1:
                await _refuse(send, "a request may carry only one Content-Length")
                return
        await self.app(scope, receive, send)


async def _refuse(send: Send, message: str) -> None:
    body = error_body("bad_request", message)
    await send({
        "type": "http.response.start",
        "status": 400,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ],
    })
    await send({"type": "http.response.body", "body": body})
