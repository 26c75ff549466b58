"""A delete guarded by a change-feed cursor at the service layer: a cursor
older than the journal keeps fails safe (with a fake clock), and the check
reads the journal through its (user_id, seq) index, not the folder's tree.
The HTTP side is tests/http/test_delete_base_cursor.py."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from selfdrive.core.clock import FakeClock
from selfdrive.core.errors import ChangedSinceCursor, CursorExpired
from selfdrive.services.auth import Principal
from selfdrive.services.runtime import Runtime
from selfdrive.store.meta import changes as changesq

pytestmark = pytest.mark.anyio
DAY = 24 * 3600.0


async def _body(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_a_pruned_cursor_refuses_the_delete(
    rt: tuple[Runtime, FakeClock, Principal],
) -> None:
    runtime, clock, who = rt
    await runtime.files.upload(who, "/F/x.txt", _body(b"old"))
    old = await runtime.changes.latest(who)
    await runtime.files.mkdir(who, "/elsewhere")  # only changes elsewhere since,
    clock.advance(40 * DAY)
    await runtime.files.mkdir(who, "/later")  # but the journal forgets the first
    assert (await runtime.maintenance.run_once()).journal_rows_pruned >= 1
    with pytest.raises(CursorExpired):
        await runtime.changes.list(who, old, 10)
    with pytest.raises(ChangedSinceCursor, match="not one the change feed holds"):
        await runtime.files.delete(who, "/F", base_cursor=old)
    assert (await runtime.files.stat(who, "/F/x.txt")).node.current_rev == 1
    assert await runtime.trash.list(who) == []
    fresh = await runtime.changes.latest(who)
    await runtime.files.delete(who, "/F", base_cursor=fresh)


async def test_a_cursor_after_a_fully_pruned_journal_still_counts(
    rt: tuple[Runtime, FakeClock, Principal],
) -> None:
    """Every row pruned: the floor is where the journal stands."""
    runtime, clock, who = rt
    await runtime.files.mkdir(who, "/F")
    clock.advance(40 * DAY)
    await runtime.maintenance.run_once()
    async with runtime.db.read() as conn:
        floor = await changesq.floor(conn)
    assert floor > 0
    await runtime.files.delete(who, "/F", base_cursor=floor)


async def test_the_check_reads_the_journal_by_its_index(
    rt: tuple[Runtime, FakeClock, Principal],
) -> None:
    runtime, _, who = rt
    async with runtime.db.read() as conn, conn.execute(
        "EXPLAIN QUERY PLAN " + changesq.CHANGED_UNDER,
        (who.user_id, 0, "/a/F", 5, "/a/F/", json.dumps(["/a"])),
    ) as cur:
        plan = " | ".join(str(r[3]) for r in await cur.fetchall())
    assert "USING INDEX changes_by_user (user_id=? AND seq>?)" in plan, plan
    assert "SCAN changes" not in plan, plan
