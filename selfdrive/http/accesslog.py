"""`Observer`: the middleware that sees each request whole, for the access log
and the metrics (docs/monitoring.md).

Terms: a request's *route* is the template of the route that matched it
(``/api/v1/files/content``, ``/s/{token}``, ``/dav`` for all of WebDAV),
``unmatched`` when none did.  The raw path never leaves the process this way:
it holds users' file names and public links' tokens.  Neither do query
strings or headers (tokens, passwords).  The *user* is the id of the user the
request authenticated as: the auth code calls `note_user`.

Cost: a request body and a response body are counted by adding the length of
each piece as it passes (no copy); everything else happens once per request,
when it ends.  One access line is::

    127.0.0.1 GET /api/v1/files/content 200 1234B 12.3ms user=5

and the same values go to the JSON format as fields (`selfdrive/logs.py`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from prometheus_client import Gauge
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from selfdrive.core.clock import Clock

if TYPE_CHECKING:  # metrics imports this module (and endpoint, which imports this one)
    from selfdrive.http.metrics import Metrics

log = logging.getLogger("selfdrive.access")

UNMATCHED = "unmatched"
#: where `note_user` leaves the user id: Starlette's request.state dict
_STATE = "state"
_USER = "user_id"
#: the longest method written to the log (a client may send any token)
_MAX_METHOD = 16


def note_user(scope: Scope, user_id: int) -> None:
    """Record who the request authenticated as, for its access line."""
    scope.setdefault(_STATE, {})[_USER] = user_id


class Observer:
    """Times, counts and logs every HTTP request that passes through."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics | None, access_log: bool,
                 routes: Mapping[object, str], clock: Clock) -> None:
        self.app = app
        self.clock = clock
        self.metrics = metrics
        self.access_log = access_log
        #: route template by the endpoint Starlette's router puts in the scope
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = self.clock.monotonic()
        # Shared with the scope copies made further in, so `note_user` reaches us.
        state = scope.setdefault(_STATE, {})
        bytes_in = bytes_out = status = 0
        checked_upload = False
        upload: Gauge | None = None
        metrics = self.metrics
        if metrics is not None:
            metrics.in_flight.inc()

        async def counted_receive() -> Message:
            nonlocal bytes_in, checked_upload, upload
            message = await receive()
            body = message.get("body")
            if body:
                bytes_in += len(body)
            if not checked_upload:
                # The first read of the body comes after routing: the route is known.
                checked_upload = True
                upload = self._upload_gauge(scope)
                if upload is not None:
                    upload.inc()
            return message

        async def counted_send(message: Message) -> None:
            nonlocal bytes_out, status
            if message["type"] == "http.response.body":
                bytes_out += len(message.get("body", b""))
            elif message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, counted_receive, counted_send)
        except asyncio.CancelledError:
            status = status or 499  # nobody answered: the server gave up on it
            raise
        except BaseException:
            status = status or 500  # Starlette's ServerErrorMiddleware answers 500
            raise
        finally:
            duration_s = self.clock.monotonic() - started
            route = self.routes.get(scope.get("endpoint"), UNMATCHED)
            if metrics is not None:
                metrics.in_flight.dec()
                if upload is not None:
                    upload.dec()
                metrics.observe(route, scope["method"], status, bytes_in, bytes_out,
                                duration_s)
            if self.access_log and log.isEnabledFor(logging.INFO):
                _log_line(scope, route, status, bytes_in, bytes_out, duration_s,
                          state.get(_USER))

    def _upload_gauge(self, scope: Scope) -> Gauge | None:
        if self.metrics is None:
            return None
        route = self.routes.get(scope.get("endpoint"), UNMATCHED)
        if not self.metrics.is_upload(scope["method"], route):
            return None
        gauge: Gauge = self.metrics.uploads.labels(route)
        return gauge


def _log_line(scope: Scope, route: str, status: int, bytes_in: int, bytes_out: int,
              duration_s: float, user_id: int | None) -> None:
    client = scope.get("client")
    address = client[0] if client else "-"
    method = scope["method"][:_MAX_METHOD]
    ms = round(duration_s * 1000, 1)
    log.info("%s %s %s %d %dB %.1fms user=%s", address, method, route, status, bytes_out, ms,
             "-" if user_id is None else user_id, extra={"fields": {
                 "client": address, "method": method, "route": route, "status": status,
                 "bytes_in": bytes_in, "bytes_out": bytes_out, "duration_ms": ms,
                 "user_id": user_id}})
