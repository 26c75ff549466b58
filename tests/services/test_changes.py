"""The change feed at the service layer: journal pruning and expired cursors
(with a fake clock), the waiter limit, and waiters that go away."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from selfdrive.core.clock import FakeClock
from selfdrive.core.errors import CursorExpired
from selfdrive.services.auth import Principal
from selfdrive.services.runtime import Runtime

pytestmark = pytest.mark.anyio
DAY = 24 * 3600.0


async def test_a_cursor_older_than_the_journal_must_relist(
    rt: tuple[Runtime, FakeClock, Principal],
) -> None:
    runtime, clock, who = rt
    old = await runtime.changes.latest(who)
    await runtime.files.mkdir(who, "/week-one")
    clock.advance(8 * DAY)  # a week offline is fine
    await runtime.maintenance.run_once()
    page = await runtime.changes.list(who, old, 100)
    assert [c.path for c in page.changes] == ["/week-one"]
    clock.advance(30 * DAY)
    await runtime.files.mkdir(who, "/much-later")
    report = await runtime.maintenance.run_once()
    assert report.journal_rows_pruned >= 1
    with pytest.raises(CursorExpired):
        await runtime.changes.list(who, old, 100)
    rung = await runtime.changes.wait(who, old, 5)
    assert rung.changes, "an expired cursor rings at once, so the client finds out"
    fresh = await runtime.changes.latest(who)
    assert (await runtime.changes.list(who, page.cursor, 100)).changes[-1].path == "/much-later"
    assert (await runtime.changes.list(who, fresh, 100)).changes == []


async def test_waiters_past_the_limit_get_a_backoff(
    rt: tuple[Runtime, FakeClock, Principal],
) -> None:
    runtime, _, who = rt
    runtime.changes.settings = dataclasses.replace(runtime.changes.settings, max_waiters=2)
    cursor = await runtime.changes.latest(who)
    held = [asyncio.ensure_future(runtime.changes.wait(who, cursor, 30)) for _ in range(2)]
    await asyncio.sleep(0.05)
    assert runtime.changes.waiting == 2
    rung = await runtime.changes.wait(who, cursor, 30)
    assert not rung.changes and rung.backoff_s == 30
    await runtime.files.mkdir(who, "/ding")
    assert all(r.changes for r in await asyncio.gather(*held))
    assert runtime.changes.waiting == 0


async def test_a_cancelled_wait_leaves_nothing_behind(
    rt: tuple[Runtime, FakeClock, Principal],
) -> None:
    runtime, _, who = rt
    cursor = await runtime.changes.latest(who)
    task = asyncio.ensure_future(runtime.changes.wait(who, cursor, 30))
    await asyncio.sleep(0.05)
    assert runtime.changes.waiting == 1
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert runtime.changes.waiting == 0
    assert runtime.changes._waiters == {}
