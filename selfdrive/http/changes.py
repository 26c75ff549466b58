"""Handlers of /changes: the change feed, its newest cursor, and the long poll."""

from __future__ import annotations

import asyncio

from starlette.requests import Request

from selfdrive.http.endpoint import Call
from selfdrive.http.schemas import (
    ChangeList,
    ChangeOut,
    ChangesQuery,
    CursorOut,
    WaitQuery,
    WaitResult,
)


async def get_changes(call: Call[ChangesQuery, None]) -> ChangeList:
    page = await call.runtime.changes.list(call.who, int(call.query.cursor), call.query.limit)
    return ChangeList([ChangeOut.of(c) for c in page.changes], str(page.cursor), page.has_more)


async def get_latest(call: Call[None, None]) -> CursorOut:
    return CursorOut(str(await call.runtime.changes.latest(call.who)))


async def get_wait(call: Call[WaitQuery, None]) -> WaitResult | None:
    """The doorbell.  A client that hangs up frees its waiter at once: a
    watcher reads the request's events and cancels this task on disconnect
    (cheaper than a second task per waiter and asyncio.wait)."""
    me = asyncio.current_task()
    assert me is not None
    waiting = True

    def hung_up(_: object) -> None:
        if waiting:
            me.cancel()

    watcher = asyncio.ensure_future(_hung_up(call.request))
    watcher.add_done_callback(hung_up)
    try:
        rung = await call.runtime.changes.wait(
            call.who, int(call.query.cursor), call.query.timeout
        )
    except asyncio.CancelledError:
        if watcher.done() and not watcher.cancelled():
            me.uncancel()
            return None  # nobody is listening
        raise
    finally:
        waiting = False
        watcher.cancel()
    return WaitResult(rung.changes, rung.backoff_s)


async def _hung_up(request: Request) -> None:
    """Return when the client disconnects (a GET has no body to read)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return
