"""Handlers of /changes: the change feed, its newest cursor, and the long poll."""

from __future__ import annotations

import asyncio
import contextlib

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
    """The doorbell.  A client that hangs up frees its waiter at once."""
    waiting = asyncio.ensure_future(
        call.runtime.changes.wait(call.who, int(call.query.cursor), call.query.timeout)
    )
    gone = asyncio.ensure_future(_hung_up(call.request))
    try:
        await asyncio.wait({waiting, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (waiting, gone):
            if not task.done():
                task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(gone, return_exceptions=True)
    if not waiting.done() or waiting.cancelled():
        return None  # nobody is listening
    rung = waiting.result()
    return WaitResult(rung.changes, rung.backoff_s)


async def _hung_up(request: Request) -> None:
    """Return when the client disconnects (a GET has no body to read)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return
