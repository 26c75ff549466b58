"""Garbage collection, trash expiry and thinning, in process with a fake clock.

No sleeps: the clock is moved.  The fake clock starts at the real time,
because block files carry real mtimes that the grace period is checked against.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections.abc import AsyncIterator

import pytest

from selfdrive.core.blockhash import block_id
from selfdrive.core.clock import FakeClock
from selfdrive.services.auth import Principal
from selfdrive.services.runtime import Runtime
from selfdrive.store.content import PIN_MIN_S

pytestmark = pytest.mark.anyio
HOUR = 3600.0


async def _body(data: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(data), 65536):
        yield data[i : i + 65536]


def _block_files(runtime: Runtime) -> set[str]:
    root = runtime.config.data_path / "blocks"
    return {p.name for p in root.glob("*/*/*") if len(p.name) == 64}


async def test_purged_blocks_are_freed_only_after_the_grace_period(
    rt: tuple[Runtime, FakeClock, Principal],
) -> None:
    runtime, clock, who = rt
    keep, drop = os.urandom(3_000_000), os.urandom(2_000_000)
    await runtime.files.upload(who, "/keep.bin", _body(keep))
    await runtime.files.upload(who, "/drop.bin", _body(drop))
    before = _block_files(runtime)
    await runtime.files.delete(who, "/drop.bin")
    report = await runtime.maintenance.gc()
    assert report.blocks_freed == 0, "the trash still references the blocks"
    files, size = await runtime.trash.purge(who, None)
    assert (files, size) == (1, len(drop))
    report = await runtime.maintenance.gc()  # starts the grace clock
    assert report.blocks_freed == 0
    clock.advance(HOUR / 2)
    assert (await runtime.maintenance.gc()).blocks_freed == 0
    clock.advance(HOUR)
    report = await runtime.maintenance.gc()
    assert report.blocks_freed >= 1 and report.bytes_freed >= len(drop)
    after = _block_files(runtime)
    assert after < before
    opened = await runtime.files.open(who, "/keep.bin")
    assert b"".join([p async for p in runtime.files.read(opened)]) == keep
    assert (await runtime.maintenance.gc()).blocks_freed == 0  # nothing left to free


async def test_shared_blocks_survive_while_one_holder_remains(
    rt: tuple[Runtime, FakeClock, Principal],
) -> None:
    runtime, clock, who = rt
    data = os.urandom(2_500_000)
    await runtime.files.upload(who, "/a.bin", _body(data))
    await runtime.files.copy(who, "/a.bin", "/b.bin")
    await runtime.files.delete(who, "/a.bin")
    await runtime.trash.purge(who, None)
    await runtime.maintenance.gc()
    clock.advance(2 * HOUR)
    assert (await runtime.maintenance.gc()).blocks_freed == 0
    opened = await runtime.files.open(who, "/b.bin")
    assert b"".join([p async for p in runtime.files.read(opened)]) == data


async def test_an_upload_longer_than_the_grace_period_keeps_its_blocks(
    rt: tuple[Runtime, FakeClock, Principal],
) -> None:
    runtime, clock, who = rt
    # Pin at once (the default waits min(15 s, grace / 4) of real time first).
    runtime.files.limits = dataclasses.replace(runtime.files.limits, pin_after_s=0)
    first, second = os.urandom(12_000_000), os.urandom(3_000_000)
    gate = asyncio.Event()
    halfway = asyncio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        async for piece in _body(first):
            yield piece
        halfway.set()
        await gate.wait()
        async for piece in _body(second):
            yield piece

    upload = asyncio.ensure_future(runtime.files.upload(who, "/slow.bin", slow_body()))
    await halfway.wait()
    await asyncio.sleep(PIN_MIN_S + 0.5)  # let the first blocks become durable and pinned
    # Make the written blocks look old on disk too, as after a long upload.
    old = time.time() - 3 * HOUR
    for name in _block_files(runtime):
        path = runtime.config.data_path / "blocks" / name[:2] / name[2:4] / name
        os.utime(path, (old, old))
    for _ in range(3):
        clock.advance(2 * HOUR)
        report = await runtime.maintenance.gc()
        assert report.blocks_freed == 0 and report.orphans_freed == 0
    gate.set()
    await upload
    opened = await runtime.files.open(who, "/slow.bin")
    assert b"".join([p async for p in runtime.files.read(opened)]) == first + second


async def test_orphan_block_files_are_swept_after_the_grace_period(
    rt: tuple[Runtime, FakeClock, Principal],
) -> None:
    runtime, clock, who = rt
    await runtime.files.upload(who, "/live.bin", _body(os.urandom(1_000_000)))
    # A crash between a block write and its pin leaves a file with no row.
    orphan = os.urandom(300_000)
    sealed = runtime.content.codec.seal(orphan)
    await runtime.blockstore.put(sealed.id, sealed.data)
    stray = runtime.config.data_path / "blocks" / "ab" / "cd"
    stray.mkdir(parents=True, exist_ok=True)
    (stray / ("ab" * 32 + ".tmp-1234")).write_bytes(b"half a block")
    report = await runtime.maintenance.gc()
    assert report.orphans_freed == 0 and report.leftovers_removed == 0, "too fresh"
    assert await runtime.blockstore.exists(sealed.id)
    clock.advance(2 * HOUR)
    report = await runtime.maintenance.gc()
    assert report.orphans_freed == 1 and report.orphan_bytes_freed == len(sealed.data)
    assert report.leftovers_removed == 1
    assert not await runtime.blockstore.exists(sealed.id)
    opened = await runtime.files.open(who, "/live.bin")
    assert len(b"".join([p async for p in runtime.files.read(opened)])) == 1_000_000


async def test_a_block_touched_by_dedup_during_gc_is_kept(
    rt: tuple[Runtime, FakeClock, Principal],
) -> None:
    runtime, clock, who = rt
    data = os.urandom(200_000)  # under the chunker's minimum: exactly one block
    await runtime.files.upload(who, "/x.bin", _body(data))
    await runtime.files.delete(who, "/x.bin")
    await runtime.trash.purge(who, None)
    await runtime.maintenance.gc()
    clock.advance(2 * HOUR)
    # The same content arrives again just as GC runs: its dedup touches the block
    # (fresh mtime), so the file survives although its row was collectable.
    bid = block_id(data)
    assert await runtime.blockstore.touch(bid) is not None
    now_s = clock.now_ms() / 1000  # the touch happened "now" on the fake clock
    name = bid.hex()
    os.utime(runtime.config.data_path / "blocks" / name[:2] / name[2:4] / name, (now_s, now_s))
    report = await runtime.maintenance.gc()
    assert report.blocks_freed == 0 and report.blocks_kept_busy == 1
    await runtime.files.upload(who, "/again.bin", _body(data))
    opened = await runtime.files.open(who, "/again.bin")
    assert b"".join([p async for p in runtime.files.read(opened)]) == data
    clock.advance(2 * HOUR)
    assert (await runtime.maintenance.gc()).orphans_freed == 0  # it has its row back


async def test_uncommitted_sent_blocks_expire(rt: tuple[Runtime, FakeClock, Principal]) -> None:
    runtime, clock, who = rt
    data = os.urandom(500_000)
    await runtime.blocks.put(who, block_id(data), data)
    clock.advance(6 * 24 * HOUR)
    await runtime.maintenance.gc()
    clock.advance(2 * HOUR)
    assert (await runtime.maintenance.gc()).blocks_freed == 0, "still within its 7 days"
    clock.advance(2 * 24 * HOUR)
    await runtime.maintenance.gc()
    clock.advance(2 * HOUR)
    assert (await runtime.maintenance.gc()).blocks_freed == 1


async def test_trash_expires_after_30_days(rt: tuple[Runtime, FakeClock, Principal]) -> None:
    runtime, clock, who = rt
    await runtime.files.upload(who, "/old/a.txt", _body(b"a" * 1000))
    await runtime.files.delete(who, "/old")
    used = (await runtime.auth.user(who.user_id)).used_bytes
    assert used == 1000, "the trash counts toward the quota"
    clock.advance(29 * 24 * HOUR)
    assert (await runtime.maintenance.run_once()).trash_entries_purged == 0
    clock.advance(2 * 24 * HOUR)
    assert (await runtime.maintenance.run_once()).trash_entries_purged == 1
    assert await runtime.trash.list(who) == []
    assert (await runtime.auth.user(who.user_id)).used_bytes == 0


async def test_thinning_applies_the_policy(rt: tuple[Runtime, FakeClock, Principal]) -> None:
    runtime, clock, who = rt
    for i in range(30):  # one revision every 20 minutes for 10 hours
        await runtime.files.upload(who, "/doc.txt", _body(f"version {i}".encode()))
        clock.advance(HOUR / 3)
    await runtime.files.pin_revision(who, "/doc.txt", 2, True)
    assert (await runtime.maintenance.run_once()).revisions_thinned == 0  # all < 24 h
    clock.advance(3 * 24 * HOUR)
    report = await runtime.maintenance.run_once()
    revs = await runtime.files.list_revisions(who, "/doc.txt", 100)
    numbers = [r.rev for r in revs]
    assert report.revisions_thinned == 30 - len(revs)
    assert numbers[0] == 30, "the newest stays"
    assert 2 in numbers, "the pinned one stays"
    hours = {r.created_at // (3600 * 1000) for r in revs if not r.pinned}
    assert len(hours) == len([r for r in revs if not r.pinned]), "one per hour"
    assert 10 <= len(revs) <= 12


async def test_restore_makes_an_old_revision_the_newest(
    rt: tuple[Runtime, FakeClock, Principal],
) -> None:
    runtime, _clock, who = rt
    await runtime.files.upload(who, "/r.txt", _body(b"one"))
    await runtime.files.upload(who, "/r.txt", _body(b"two"))
    entry = await runtime.files.restore_revision(who, "/r.txt", 1)
    assert entry.node.current_rev == 3
    opened = await runtime.files.open(who, "/r.txt")
    assert b"".join([p async for p in runtime.files.read(opened)]) == b"one"
    assert [r.rev for r in await runtime.files.list_revisions(who, "/r.txt", 10)] == [3, 2, 1]
