"""Resumable uploads at the service layer: chunking across pieces, staging,
completion, conflicts, quota, limits and expiry (with a fake clock).

The protocol, stock clients, disconnects and SIGKILL are in tests/http/test_tus.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import itertools
import os
import random
from collections.abc import AsyncIterator

import pytest

from selfdrive.core.blockhash import block_id, content_hash
from selfdrive.core.chunking import chunk_bytes
from selfdrive.core.clock import FakeClock
from selfdrive.core.errors import (
    ChecksumMismatch,
    IncompleteBody,
    NotFound,
    OffsetMismatch,
    PayloadTooLarge,
    QuotaExceeded,
    RevisionConflict,
    TooManyUploads,
    UploadBusy,
)
from selfdrive.services import uploads as uploads_module
from selfdrive.services.auth import Principal
from selfdrive.services.runtime import Runtime
from selfdrive.services.uploads import Checksum
from selfdrive.store.meta import uploads as uq

pytestmark = pytest.mark.anyio
HOUR = 3600.0
MIB = 1024 * 1024


async def _body(data: bytes, piece: int = 65536) -> AsyncIterator[bytes]:
    for i in range(0, len(data), piece):
        yield data[i : i + piece]


async def _broken(data: bytes) -> AsyncIterator[bytes]:
    """A body whose client goes away after *data*."""
    async for piece in _body(data):
        yield piece
    raise IncompleteBody("the client disconnected mid-body")


async def _read(runtime: Runtime, who: Principal, path: str) -> bytes:
    opened = await runtime.files.open(who, path)
    return b"".join([p async for p in runtime.files.read(opened)])


def _staging(runtime: Runtime) -> list[str]:
    return sorted(p.name for p in (runtime.config.data_path / "staging").iterdir())


def _mixed(size: int, seed: int) -> bytes:
    """Half random, half repetitive text: blocks of every kind, compressed or not."""
    rng = random.Random(seed)
    text = b"".join(b"line %d of a log file\n" % i for i in range(size // 40))
    return (rng.randbytes(size // 2) + text)[:size]


async def test_pieces_of_any_size_make_the_same_blocks_as_one_upload(
    rt: tuple[Runtime, FakeClock, Principal],
) -> None:
    runtime, _, who = rt
    data = _mixed(9 * MIB + 12345, seed=1)
    expected = content_hash(block_id(c) for c in chunk_bytes(data))
    rng = random.Random(7)
    cuts = sorted({0, len(data), *(rng.randrange(len(data)) for _ in range(9)), 1, 2, 300_000})
    upload = await runtime.uploads.create(who, "/pieces.bin", len(data))
    for lo, hi in itertools.pairwise(cuts):
        upload = await runtime.uploads.patch(who, upload.token, lo, _body(data[lo:hi]))
        assert upload.offset == hi
    assert upload.done and upload.done_path == "/pieces.bin" and upload.done_rev == 1
    entry = await runtime.files.stat(who, "/pieces.bin")
    assert entry.node.content_hash == expected, "chunking continued across pieces exactly"
    assert await _read(runtime, who, "/pieces.bin") == data
    assert _staging(runtime) == [], "the staged tail is freed once the file is committed"


async def test_only_the_tail_is_staged_and_it_is_encrypted(
    rt: tuple[Runtime, FakeClock, Principal],
) -> None:
    runtime, _, who = rt
    data = _mixed(6 * MIB, seed=2)
    upload = await runtime.uploads.create(who, "/tail.bin", len(data))
    upload = await runtime.uploads.patch(who, upload.token, 0, _body(data[: 5 * MIB]))
    async with runtime.db.read() as conn:
        row = await uq.by_token(conn, upload.token)
    assert row is not None and row.offset == 5 * MIB
    assert 0 < row.tail_len <= 4 * MIB and row.parts_end + row.tail_len == 5 * MIB
    [name] = _staging(runtime)
    raw = (runtime.config.data_path / "staging" / name).read_bytes()
    assert len(raw) < row.tail_len + 4096, "only the tail, not the file, waits in staging"
    assert data[row.parts_end : row.parts_end + 64] not in raw, "staging is encrypted"
    upload = await runtime.uploads.patch(who, upload.token, 5 * MIB, _body(data[5 * MIB :]))
    assert upload.done and await _read(runtime, who, "/tail.bin") == data


async def test_a_broken_body_keeps_what_arrived(rt: tuple[Runtime, FakeClock, Principal]) -> None:
    runtime, _, who = rt
    data = os.urandom(3 * MIB)
    upload = await runtime.uploads.create(who, "/broken.bin", len(data))
    upload = await runtime.uploads.patch(
        who, upload.token, 0, _broken(data[:1_000_000]), content_length=len(data)
    )
    assert upload.offset == 1_000_000, "every byte that arrived is kept, tail included"
    upload = await runtime.uploads.patch(who, upload.token, 1_000_000, _body(data[1_000_000:]))
    assert upload.done and await _read(runtime, who, "/broken.bin") == data


async def test_checksums(rt: tuple[Runtime, FakeClock, Principal]) -> None:
    runtime, _, who = rt
    data = os.urandom(2 * MIB)
    upload = await runtime.uploads.create(who, "/sum.bin", len(data))
    good = Checksum("sha256", hashlib.sha256(data[:MIB]).digest())
    bad = Checksum("sha256", hashlib.sha256(b"something else").digest())
    with pytest.raises(ChecksumMismatch):
        await runtime.uploads.patch(who, upload.token, 0, _body(data[:MIB]), checksum=bad)
    assert (await runtime.uploads.status(who, upload.token)).offset == 0, "bytes discarded"
    with pytest.raises(IncompleteBody):
        await runtime.uploads.patch(
            who, upload.token, 0, _broken(data[: MIB // 2]), checksum=good, content_length=MIB
        )
    assert (await runtime.uploads.status(who, upload.token)).offset == 0
    upload = await runtime.uploads.patch(who, upload.token, 0, _body(data[:MIB]), checksum=good)
    assert upload.offset == MIB
    sha1 = Checksum("sha1", hashlib.sha1(data[MIB:]).digest())
    upload = await runtime.uploads.patch(who, upload.token, MIB, _body(data[MIB:]), checksum=sha1)
    assert upload.done and await _read(runtime, who, "/sum.bin") == data


async def test_offsets_and_lengths_are_enforced(rt: tuple[Runtime, FakeClock, Principal]) -> None:
    runtime, _, who = rt
    upload = await runtime.uploads.create(who, "/exact.bin", 1000)
    with pytest.raises(OffsetMismatch):
        await runtime.uploads.patch(who, upload.token, 10, _body(b"x" * 10))
    with pytest.raises(PayloadTooLarge):
        await runtime.uploads.patch(who, upload.token, 0, _body(b"x" * 1001), content_length=1001)
    with pytest.raises(PayloadTooLarge):
        await runtime.uploads.patch(who, upload.token, 0, _body(b"x" * 1001))
    assert (await runtime.uploads.status(who, upload.token)).offset == 0
    with pytest.raises(PayloadTooLarge):
        await runtime.uploads.create(who, "/huge.bin", runtime.files.limits.max_file_bytes + 1)
    other = Principal(who.user_id + 1000, "mallory", False, None, None)
    with pytest.raises(NotFound):
        await runtime.uploads.status(other, upload.token)


async def test_an_empty_file(rt: tuple[Runtime, FakeClock, Principal]) -> None:
    runtime, _, who = rt
    upload = await runtime.uploads.create(who, "/empty.bin", 0)
    upload = await runtime.uploads.patch(who, upload.token, 0, _body(b""))
    assert upload.done and await _read(runtime, who, "/empty.bin") == b""


async def test_a_stale_base_rev_becomes_a_conflict_copy(
    rt: tuple[Runtime, FakeClock, Principal],
) -> None:
    runtime, _, who = rt
    await runtime.files.upload(who, "/doc.txt", _body(b"version 1"))
    upload = await runtime.uploads.create(who, "/doc.txt", 9, base_rev=1)
    with pytest.raises(RevisionConflict):
        await runtime.uploads.create(who, "/doc.txt", 9, base_rev=5)
    await runtime.files.upload(who, "/doc.txt", _body(b"version 2"))  # another device
    upload = await runtime.uploads.patch(who, upload.token, 0, _body(b"my change"))
    assert upload.done and upload.conflict
    assert upload.done_path is not None and upload.done_path.startswith(
        "/doc (conflicted copy from laptop "
    ) and upload.done_path.endswith(").txt")
    assert await _read(runtime, who, "/doc.txt") == b"version 2", "the other side is kept"
    assert await _read(runtime, who, upload.done_path) == b"my change", "and so is ours"


async def test_quota_is_checked_at_creation_and_completion(
    rt: tuple[Runtime, FakeClock, Principal],
) -> None:
    runtime, _, _ = rt
    user = await runtime.auth.create_user("bob", "bob-password-1", quota_bytes=3 * MIB)
    bob = Principal(user.id, "bob", False, None, None)
    with pytest.raises(QuotaExceeded):
        await runtime.uploads.create(bob, "/big.bin", 3 * MIB + 1)
    data = os.urandom(2 * MIB)
    upload = await runtime.uploads.create(bob, "/a.bin", len(data))
    with pytest.raises(QuotaExceeded):  # the unfinished upload reserves its length
        await runtime.uploads.create(bob, "/b.bin", 2 * MIB)
    await runtime.files.upload(bob, "/filler.bin", _body(os.urandom(2 * MIB)))
    with pytest.raises(QuotaExceeded):  # the quota filled up meanwhile
        await runtime.uploads.patch(bob, upload.token, 0, _body(data))
    status = await runtime.uploads.status(bob, upload.token)
    assert status.offset == len(data) and not status.done, "the bytes are kept"
    await runtime.files.delete(bob, "/filler.bin")
    await runtime.trash.purge(bob, None)
    upload = await runtime.uploads.patch(bob, upload.token, len(data), _body(b""))
    assert upload.done and await _read(runtime, bob, "/a.bin") == data


async def test_a_user_may_hold_only_so_many_unfinished_uploads(
    rt: tuple[Runtime, FakeClock, Principal],
) -> None:
    runtime, _, who = rt
    tokens = [
        (await runtime.uploads.create(who, f"/u{i}.bin", 10)).token
        for i in range(runtime.uploads.limits.max_open)
    ]
    with pytest.raises(TooManyUploads):
        await runtime.uploads.create(who, "/one-more.bin", 10)
    await runtime.uploads.terminate(who, tokens[0])
    await runtime.uploads.create(who, "/one-more.bin", 10)


async def test_one_patch_at_a_time(rt: tuple[Runtime, FakeClock, Principal]) -> None:
    runtime, _, who = rt
    data = os.urandom(2 * MIB)
    upload = await runtime.uploads.create(who, "/race.bin", len(data))
    gate = asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        yield data[:MIB]
        await gate.wait()
        yield data[MIB:]

    first = asyncio.ensure_future(runtime.uploads.patch(who, upload.token, 0, slow()))
    await asyncio.sleep(0.2)
    with pytest.raises(UploadBusy):
        await runtime.uploads.patch(who, upload.token, 0, _body(b"y" * MIB))
    gate.set()
    assert (await first).done
    assert await _read(runtime, who, "/race.bin") == data


async def test_termination_cancels_a_patch_in_progress(
    rt: tuple[Runtime, FakeClock, Principal],
) -> None:
    runtime, _, who = rt
    data = _mixed(6 * MIB, seed=3)
    upload = await runtime.uploads.create(who, "/gone.bin", len(data) * 2)
    await runtime.uploads.patch(who, upload.token, 0, _body(data))
    assert _staging(runtime)

    async def endless() -> AsyncIterator[bytes]:
        yield data[:MIB]
        await asyncio.Event().wait()
        yield b""

    stuck = asyncio.ensure_future(runtime.uploads.patch(who, upload.token, len(data), endless()))
    await asyncio.sleep(0.2)
    await runtime.uploads.terminate(who, upload.token)
    with pytest.raises(NotFound):
        await stuck
    with pytest.raises(NotFound):
        await runtime.uploads.status(who, upload.token)
    assert _staging(runtime) == []
    async with runtime.db.read() as conn, conn.execute("SELECT count(*) FROM upload_blocks") as c:
        assert (await c.fetchone()) == (0,), "its blocks are no longer pinned"


async def test_unfinished_uploads_expire_and_free_their_space(
    rt: tuple[Runtime, FakeClock, Principal],
) -> None:
    runtime, clock, who = rt
    data = _mixed(5 * MIB, seed=4)
    upload = await runtime.uploads.create(who, "/later.bin", 2 * len(data))
    await runtime.uploads.patch(who, upload.token, 0, _body(data))
    assert _staging(runtime)
    clock.advance(21 * HOUR)
    await runtime.maintenance.run_once()
    clock.advance(2 * HOUR)  # past the GC grace since the last run
    report = await runtime.maintenance.run_once()
    assert report.blocks_freed == 0, "an unfinished upload's blocks are safe from GC"
    assert (await runtime.uploads.status(who, upload.token)).offset == len(data)
    # A PATCH restarts the clock: expiry counts from the last activity.
    await runtime.uploads.patch(who, upload.token, len(data), _body(data[:1000]))
    clock.advance(23 * HOUR)
    await runtime.maintenance.run_once()
    assert (await runtime.uploads.status(who, upload.token)).offset == len(data) + 1000
    clock.advance(2 * HOUR)
    report = await runtime.maintenance.run_once()
    assert report.uploads_expired == 1 and report.staging_files_freed == 1
    with pytest.raises(NotFound):
        await runtime.uploads.status(who, upload.token)
    assert _staging(runtime) == []
    # Its blocks are unreferenced now; the garbage collector takes them after its grace.
    clock.advance(2 * HOUR)
    report = await runtime.maintenance.run_once()
    assert report.blocks_freed >= 1


async def test_done_uploads_answer_a_repeated_last_patch(
    rt: tuple[Runtime, FakeClock, Principal],
) -> None:
    runtime, _, who = rt
    upload = await runtime.uploads.create(who, "/again.bin", 5)
    await runtime.uploads.patch(who, upload.token, 0, _body(b"hello"))
    again = await runtime.uploads.patch(who, upload.token, 5, _body(b""))
    assert again.done and again.done_rev == 1
    with pytest.raises(OffsetMismatch):
        await runtime.uploads.patch(who, upload.token, 0, _body(b"hello"))


async def test_past_the_staging_limit_only_whole_blocks_are_kept(
    rt: tuple[Runtime, FakeClock, Principal],
) -> None:
    runtime, _, who = rt
    runtime.uploads.limits = dataclasses.replace(runtime.uploads.limits, max_staging_bytes=1000)
    data = os.urandom(6 * MIB)
    upload = await runtime.uploads.create(who, "/full.bin", len(data))
    upload = await runtime.uploads.patch(who, upload.token, 0, _body(data[: 5 * MIB]))
    assert 0 < upload.offset < 5 * MIB, "the tail was not staged; the offset says so"
    assert _staging(runtime) == []
    upload = await runtime.uploads.patch(who, upload.token, upload.offset,
                                         _body(data[upload.offset :]))
    assert upload.done and await _read(runtime, who, "/full.bin") == data


async def test_a_silent_patch_gives_way_to_a_new_one(
    rt: tuple[Runtime, FakeClock, Principal], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A connection that died without a word (a phone changing networks) must
    not lock the upload until the server's read timeout."""
    runtime, _, who = rt
    monkeypatch.setattr(uploads_module, "TAKEOVER_IDLE_S", 0.3)
    data = os.urandom(3 * MIB)
    upload = await runtime.uploads.create(who, "/phone.bin", len(data))

    async def dies_silently() -> AsyncIterator[bytes]:
        yield data[:MIB]
        await asyncio.Event().wait()
        yield b""

    stale = asyncio.ensure_future(runtime.uploads.patch(who, upload.token, 0, dies_silently()))
    await asyncio.sleep(0.1)
    with pytest.raises(UploadBusy):  # still fresh: the usual answer
        await runtime.uploads.patch(who, upload.token, 0, _body(data))
    await asyncio.sleep(0.4)
    with pytest.raises(OffsetMismatch) as moved:  # took over; the stale one saved its MiB
        await runtime.uploads.patch(who, upload.token, 0, _body(data))
    assert moved.value.details["offset"] == MIB
    assert (await stale).offset == MIB
    upload = await runtime.uploads.patch(who, upload.token, MIB, _body(data[MIB:]))
    assert upload.done and await _read(runtime, who, "/phone.bin") == data


async def test_a_tail_written_but_never_committed_is_ignored(
    rt: tuple[Runtime, FakeClock, Principal],
) -> None:
    """A crash between a staging write and its commit leaves bytes past the
    committed length, or a whole next generation: neither is ever read, and
    the next append cuts them off."""
    runtime, _, who = rt
    data = _mixed(7 * MIB, seed=5)
    upload = await runtime.uploads.create(who, "/crash.bin", len(data))
    upload = await runtime.uploads.patch(who, upload.token, 0, _body(data[: 3 * MIB]))
    [name] = _staging(runtime)
    staging = runtime.config.data_path / "staging"
    with (staging / name).open("ab") as f:
        f.write(b"\x00\x00\x10\x00" + os.urandom(5000))  # a torn record
    token, gen = name.rsplit(".", 1)
    (staging / f"{token}.{int(gen) + 1}").write_bytes(os.urandom(3000))  # an uncommitted gen
    # The next piece reads only what was committed, and appends after it.
    at = 3 * MIB
    upload = await runtime.uploads.patch(who, upload.token, at, _body(data[at : at + 100]))
    at = upload.offset
    upload = await runtime.uploads.patch(who, upload.token, at, _body(data[at:]))
    assert upload.done and await _read(runtime, who, "/crash.bin") == data
