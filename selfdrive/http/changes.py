"""Handlers of /changes: the change feed, its newest cursor, and the long poll."""

from __future__ import annotations

import asyncio

import msgspec
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from selfdrive.http.endpoint import Call
from selfdrive.http.schemas import (
    ChangeList,
    ChangeOut,
    ChangesQuery,
    CursorOut,
    WaitQuery,
    WaitResult,
)
from selfdrive.services.auth import Principal
from selfdrive.services.changes import ChangeFeed, Rung


async def get_changes(call: Call[ChangesQuery, None]) -> ChangeList:
    page = await call.runtime.changes.list(call.who, int(call.query.cursor), call.query.limit)
    return ChangeList([ChangeOut.of(c) for c in page.changes], str(page.cursor), page.has_more)


async def get_latest(call: Call[None, None]) -> CursorOut:
    return CursorOut(str(await call.runtime.changes.latest(call.who)))


async def get_wait(call: Call[WaitQuery, None]) -> Response:
    """The doorbell.  Its status and headers go out at once; only the body
    waits for the ring (docs/api.md).  Sending the headers then, not when
    thousands of waiters wake together, is what keeps a big wake-up short:
    most of an answer's cost is the HTTP stack writing its head."""
    return _Doorbell(call.runtime.changes, call.who, int(call.query.cursor), call.query.timeout)


#: every answer is padded to this length (JSON allows trailing blanks), so
#: Content-Length is known before the answer is
ANSWER_BYTES = 64


class _Doorbell(Response):
    def __init__(self, feed: ChangeFeed, who: Principal, cursor: int, timeout: float) -> None:
        super().__init__(status_code=200, media_type="application/json")
        self.feed, self.who, self.cursor, self.timeout = feed, who, cursor, timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(ANSWER_BYTES).encode()),
            (b"cache-control", b"no-store"),
        ]})
        rung = await _wait_unless_hung_up(self.feed, self.who, self.cursor, self.timeout, receive)
        if rung is not None:
            answer = msgspec.json.encode(WaitResult(rung.changes, rung.backoff_s))
            # The client has its whole answer with these bytes (Content-Length);
            # the server's end-of-response bookkeeping waits until a big
            # wake-up is over, so that every waiter's bytes go out first.
            await send({"type": "http.response.body", "body": answer.ljust(ANSWER_BYTES),
                        "more_body": True})
            await self.feed.settled()
            await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _wait_unless_hung_up(
    feed: ChangeFeed, who: Principal, cursor: int, timeout: float, receive: Receive
) -> Rung | None:
    """Wait in this task; a watcher reading the request's events cancels it
    when the client hangs up (cheaper than a second task and asyncio.wait)."""
    me = asyncio.current_task()
    assert me is not None
    waiting = True

    def hung_up(_: object) -> None:
        if waiting:
            me.cancel()

    watcher = asyncio.ensure_future(_disconnect(receive))
    watcher.add_done_callback(hung_up)
    try:
        return await feed.wait(who, cursor, timeout)
    except asyncio.CancelledError:
        if watcher.done() and not watcher.cancelled():
            me.uncancel()
            return None  # nobody is listening
        raise
    finally:
        waiting = False
        watcher.cancel()


async def _disconnect(receive: Receive) -> None:
    """Return when the client disconnects (a GET has no body to read)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
