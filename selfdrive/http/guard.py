"""Request framing guards that the server stack lacks (DESIGN.md, "Known gaps").

Hypercorn 0.18 with h11 0.16 serves a request that carries both Content-Length
and Transfer-Encoding and keeps the connection open, so bytes after the
chunked body would be parsed as a second request (request smuggling).  RFC
9112 section 6.1 says such a message must be answered and the connection
closed: `FramingGuard` answers 400 with ``Connection: close`` before any
route sees the request.

It also closes the connection after an answer that was sent before the
request body was read to its end (an upload refused for its quota half-way):
the client may still be sending, and keeping the connection would either
make it wait on a full socket or make the rest of its body a "request".
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from selfdrive.http.errors import error_body

#: how long to keep discarding a refused body while the connection closes
DRAIN_TIMEOUT_S = 10.0


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
            has_body = b"transfer-encoding" in names or any(
                name.lower() == b"content-length" and value.strip() not in (b"0", b"")
                for name, value in scope["headers"]
            )
            if has_body:
                await self._watch_body(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _watch_body(self, scope: Scope, receive: Receive, send: Send) -> None:
        body_done = False
        closing = False
        drain: asyncio.Task[None] | None = None

        async def watched_receive() -> Message:
            nonlocal body_done
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def drain_body() -> None:
            while not body_done:
                await watched_receive()

        async def closing_send(message: Message) -> None:
            nonlocal closing, drain
            if message["type"] == "http.response.start" and not body_done:
                closing = True
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            if (closing and drain is None and message["type"] == "http.response.body"
                    and not message.get("more_body", False)):
                # Hypercorn hands body pieces to the app through a small queue
                # and, once the response ends, puts a disconnect event on that
                # same queue before it closes the connection.  Nobody reads
                # the queue any more, so keep reading it (discarding) until
                # the server closes; otherwise the close waits for ever.
                drain = asyncio.ensure_future(drain_body())
            await send(message)

        try:
            await self.app(scope, watched_receive, closing_send)
        finally:
            if drain is not None:
                with contextlib.suppress(TimeoutError, asyncio.CancelledError, OSError):
                    await asyncio.wait_for(drain, DRAIN_TIMEOUT_S)


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
