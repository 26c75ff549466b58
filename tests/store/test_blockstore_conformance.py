"""The BlockStore contract (selfdrive/store/blockstore.py), for every backend.

The first half runs the same promises against LocalBlockStore, MemoryBlockStore
and a FaultyBlockStore with no faults; the rest covers what is specific to one
backend (the on-disk layout, atomic writes, fault injection).
"""

from __future__ import annotations

import errno
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from selfdrive.core.blockhash import block_id
from selfdrive.core.errors import BlockNotFound, StorageError
from selfdrive.store.blockstore import BlockStore, StoredBlock
from selfdrive.store.faulty import FaultyBlockStore
from selfdrive.store.local import TMP_MARK, LocalBlockStore, stray_temp_files
from selfdrive.store.memory import MemoryBlockStore
from selfdrive.store.s3 import S3BlockStore, S3Bucket, S3Target
from tests.conftest import S3Server

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


def s3_store(server: S3Server) -> BlockStore:
    """A fresh bucket, under a prefix, of the session's moto server."""
    return S3BlockStore(S3Bucket(S3Target(
        bucket=server.create_bucket(), prefix="some/prefix", endpoint_url=server.url,
        access_key_id="test", secret_access_key="test", max_retries=1)))


BACKENDS: dict[str, Callable[[Path], BlockStore]] = {
    "local": lambda tmp: LocalBlockStore(tmp / "blocks"),
    "memory": lambda tmp: MemoryBlockStore(),
    "faulty-memory": lambda tmp: FaultyBlockStore(MemoryBlockStore()),
}
#: backends on a real server, made from the session's fixture of that server
SERVER_BACKENDS: dict[str, tuple[str, Callable[[Any], BlockStore]]] = {
    "s3": ("s3_server", s3_store),
}


@pytest.fixture(params=[*BACKENDS, *SERVER_BACKENDS])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlockStore:
    if request.param in SERVER_BACKENDS:
        fixture, make = SERVER_BACKENDS[request.param]
        return make(request.getfixturevalue(fixture))
    return BACKENDS[request.param](tmp_path)


def mtime_resolution(store: BlockStore) -> float:
    """How coarse the backend's clock for mtimes is (S3: whole seconds)."""
    return float(getattr(store, "mtime_resolution_s", 0.0))


def sample(n: int) -> tuple[bytes, bytes]:
    """A (block id, sealed bytes) pair; a store does not look inside the bytes."""
    sealed = b"SDBK" + os.urandom(40 + n)
    return block_id(str(n).encode() + sealed), sealed


async def scan_all(store: BlockStore) -> list[StoredBlock]:
    return [entry async for entry in store.scan()]


async def mtime_of(store: BlockStore, bid: bytes) -> float:
    [entry] = [e for e in await scan_all(store) if e.id == bid]
    return entry.mtime


# --- the shared contract ---------------------------------------------------------------


async def test_put_then_get_returns_the_same_bytes(store: BlockStore) -> None:
    blocks = [sample(n) for n in (0, 1, 1000, 300_000)]
    for bid, sealed in blocks:
        await store.put(bid, sealed)
    for bid, sealed in blocks:
        got = await store.get(bid)
        assert isinstance(got, bytes)
        assert got == sealed


async def test_put_accepts_a_bytearray_and_keeps_its_own_copy(store: BlockStore) -> None:
    bid, sealed = sample(100)
    buf = bytearray(sealed)
    await store.put(bid, buf)
    buf[:] = b"\xff" * len(buf)  # the caller reuses its buffer
    assert await store.get(bid) == sealed


async def test_put_is_idempotent(store: BlockStore) -> None:
    bid, sealed = sample(10)
    await store.put(bid, sealed)
    await store.put(bid, sealed)
    assert await store.get(bid) == sealed
    assert [e.id for e in await scan_all(store)] == [bid]


async def test_put_of_a_stored_id_keeps_one_of_the_copies(store: BlockStore) -> None:
    bid, first = sample(10)
    second = b"SDBK" + os.urandom(60)
    await store.put(bid, first)
    await store.put(bid, second)
    assert await store.get(bid) in (first, second)
    assert len(await scan_all(store)) == 1


async def test_get_of_a_missing_block_raises_block_not_found(store: BlockStore) -> None:
    with pytest.raises(BlockNotFound):
        await store.get(block_id(b"never stored"))
    await store.put(*sample(1))
    with pytest.raises(BlockNotFound):
        await store.get(block_id(b"still never stored"))


async def test_exists(store: BlockStore) -> None:
    bid, sealed = sample(5)
    assert await store.exists(bid) is False
    await store.put(bid, sealed)
    assert await store.exists(bid) is True
    assert await store.exists(block_id(b"other")) is False


async def test_touch_returns_stored_size_or_none(store: BlockStore) -> None:
    bid, sealed = sample(1234)
    assert await store.touch(bid) is None
    assert await store.exists(bid) is False  # touch does not create
    await store.put(bid, sealed)
    assert await store.touch(bid) == len(sealed)


async def test_touch_refreshes_mtime(store: BlockStore) -> None:
    bid, sealed = sample(7)
    before_put = time.time()
    await store.put(bid, sealed)
    written = await mtime_of(store, bid)
    assert before_put - 1 <= written <= time.time() + 1
    coarse = mtime_resolution(store)
    await anyio.sleep(0.2 + coarse)
    before_touch = time.time()
    await store.touch(bid)
    touched = await mtime_of(store, bid)
    assert touched > written
    # file systems stamp times with a coarse clock, S3 to the second
    assert touched >= before_touch - 0.05 - coarse
    assert await store.get(bid) == sealed  # touch leaves the content alone


async def test_delete_is_idempotent(store: BlockStore) -> None:
    bid, sealed = sample(3)
    keep_id, keep = sample(4)
    await store.put(bid, sealed)
    await store.put(keep_id, keep)
    await store.delete(bid)
    await store.delete(bid)
    await store.delete(block_id(b"never stored"))
    with pytest.raises(BlockNotFound):
        await store.get(bid)
    assert await store.exists(bid) is False
    assert await store.touch(bid) is None
    assert [e.id for e in await scan_all(store)] == [keep_id]
    assert await store.get(keep_id) == keep


async def test_a_deleted_block_can_be_put_again(store: BlockStore) -> None:
    bid, sealed = sample(3)
    await store.put(bid, sealed)
    await store.delete(bid)
    await store.put(bid, sealed)
    assert await store.get(bid) == sealed


async def test_scan_of_an_empty_store_yields_nothing(store: BlockStore) -> None:
    assert await scan_all(store) == []


async def test_scan_yields_every_block_once_with_its_stored_size(store: BlockStore) -> None:
    blocks = dict(sample(n) for n in range(0, 3000, 97))
    for bid, sealed in blocks.items():
        await store.put(bid, sealed)
    await store.put(*next(iter(blocks.items())))  # a repeated put is still one block
    entries = await scan_all(store)
    assert sorted(e.id for e in entries) == sorted(blocks)
    for e in entries:
        assert isinstance(e, StoredBlock)
        assert e.stored_size == len(blocks[e.id])


async def test_close(store: BlockStore) -> None:
    await store.put(*sample(1))
    await store.close()


# --- LocalBlockStore -------------------------------------------------------------------


def all_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


async def test_local_layout_and_mode(tmp_path: Path) -> None:
    store = LocalBlockStore(tmp_path / "blocks")
    bid, sealed = sample(50)
    await store.put(bid, sealed)
    h = bid.hex()
    path = tmp_path / "blocks" / h[:2] / h[2:4] / h
    assert store.path_of(bid) == path
    assert all_files(tmp_path / "blocks") == [path]
    assert path.read_bytes() == sealed
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_local_put_leaves_no_temp_file(tmp_path: Path) -> None:
    store = LocalBlockStore(tmp_path)
    for n in range(20):
        await store.put(*sample(n))
    assert not [p for p in tmp_path.rglob("*") if TMP_MARK in p.name]
    assert len(all_files(tmp_path)) == 20


async def test_local_scan_skips_stray_files(tmp_path: Path) -> None:
    store = LocalBlockStore(tmp_path)
    bid, sealed = sample(9)
    await store.put(bid, sealed)
    shard = store.path_of(bid).parent
    (shard / (bid.hex() + TMP_MARK + "0badf00d")).write_bytes(sealed[:5])  # a crashed put
    other = block_id(b"other").hex()
    (tmp_path / other[:2] / other[2:4]).mkdir(parents=True)
    (tmp_path / other[:2] / other[2:4] / (other + TMP_MARK + "1")).write_bytes(b"x")
    (shard / ("z" * 64)).write_bytes(b"not a hex name")
    (shard / "short").write_bytes(b"x")
    (tmp_path / "README").write_text("not a shard")
    (tmp_path / "lost+found").mkdir()
    entries = await scan_all(store)
    assert [(e.id, e.stored_size) for e in entries] == [(bid, len(sealed))]


async def test_local_stray_temp_files_are_found_by_age(tmp_path: Path) -> None:
    store = LocalBlockStore(tmp_path)
    bid, sealed = sample(9)
    await store.put(bid, sealed)
    stray = store.path_of(bid).parent / (bid.hex() + TMP_MARK + "abcd")
    stray.write_bytes(b"partial")
    assert stray_temp_files(tmp_path, idle_since=time.time() - 3600) == []
    assert await store.remove_leftovers(time.time() - 3600) == 0
    old = time.time() - 7200
    os.utime(stray, (old, old))
    assert stray_temp_files(tmp_path, idle_since=time.time() - 3600) == [stray]
    assert await store.remove_leftovers(time.time() - 3600) == 1
    assert not stray.exists()
    assert await store.get(bid) == sealed


async def test_local_put_fails_when_a_file_sits_where_the_shard_dir_should_be(
    tmp_path: Path,
) -> None:
    store = LocalBlockStore(tmp_path)
    bid, sealed = sample(11)
    shard = store.path_of(bid).parent
    shard.parent.mkdir()
    shard.write_bytes(b"in the way")
    with pytest.raises(StorageError):
        await store.put(bid, sealed)
    assert await store.exists(bid) is False
    with pytest.raises((BlockNotFound, StorageError)):
        await store.get(bid)
    assert all_files(tmp_path) == [shard]  # no partial block, no temp file
    assert shard.read_bytes() == b"in the way"


async def test_local_put_fails_when_a_file_sits_where_the_top_dir_should_be(
    tmp_path: Path,
) -> None:
    store = LocalBlockStore(tmp_path)
    bid, sealed = sample(12)
    top = store.path_of(bid).parent.parent
    top.write_bytes(b"in the way")
    with pytest.raises(StorageError):
        await store.put(bid, sealed)
    assert await store.exists(bid) is False
    assert await scan_all(store) == []
    assert all_files(tmp_path) == [top]


async def test_local_scan_skips_a_file_at_shard_level(tmp_path: Path) -> None:
    store = LocalBlockStore(tmp_path)
    bid, sealed = sample(13)
    await store.put(bid, sealed)
    (store.path_of(bid).parent.parent / ".DS_Store").write_bytes(b"junk")
    assert [e.id for e in await scan_all(store)] == [bid]


@pytest.mark.parametrize("failing", ["write", "fsync"])
async def test_local_put_whose_write_fails_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    store = LocalBlockStore(tmp_path)
    bid, sealed = sample(14)

    def disk_full(*args: Any) -> Any:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as patch:
        patch.setattr(os, failing, disk_full)
        with pytest.raises(StorageError):
            await store.put(bid, sealed)
    assert await store.exists(bid) is False
    with pytest.raises(BlockNotFound):
        await store.get(bid)
    assert await scan_all(store) == []
    assert all_files(tmp_path) == []  # the temp file was removed
    await store.put(bid, sealed)  # the disk has room again
    assert await store.get(bid) == sealed


async def test_local_put_into_a_vanished_root_is_a_storage_error(tmp_path: Path) -> None:
    store = LocalBlockStore(tmp_path / "blocks")
    (tmp_path / "blocks").rmdir()
    with pytest.raises(StorageError):
        await store.put(*sample(15))


async def test_local_store_reopens_with_its_blocks(tmp_path: Path) -> None:
    bid, sealed = sample(16)
    await LocalBlockStore(tmp_path).put(bid, sealed)
    again = LocalBlockStore(tmp_path)
    assert await again.get(bid) == sealed
    assert [e.id for e in await scan_all(again)] == [bid]


# --- FaultyBlockStore ------------------------------------------------------------------


async def test_faulty_put_fault_fires_once() -> None:
    store = FaultyBlockStore(MemoryBlockStore())
    store.inject("put")
    bid, sealed = sample(20)
    with pytest.raises(StorageError):
        await store.put(bid, sealed)
    assert await store.exists(bid) is False  # the faulted put did not reach the backend
    await store.put(bid, sealed)
    assert await store.get(bid) == sealed


async def test_faulty_after_and_times() -> None:
    store = FaultyBlockStore(MemoryBlockStore())
    fault = store.inject("put", after=1, times=2)
    blocks = [sample(n) for n in range(4)]
    await store.put(*blocks[0])
    for b in blocks[1:3]:
        with pytest.raises(StorageError):
            await store.put(*b)
    await store.put(*blocks[3])
    assert fault.seen == 4
    assert sorted(e.id for e in await scan_all(store)) == sorted([blocks[0][0], blocks[3][0]])


@pytest.mark.parametrize("op", ["get", "exists", "touch", "delete"])
async def test_faulty_fault_on_other_operations(op: str) -> None:
    store = FaultyBlockStore(MemoryBlockStore())
    bid, sealed = sample(21)
    await store.put(bid, sealed)
    store.inject(op)
    call = getattr(store, op)
    with pytest.raises(StorageError):
        await call(bid)
    await call(bid)  # the next call goes through
    assert await store.exists(bid) is (op != "delete")


async def test_faulty_corrupt_get_flips_one_byte_once() -> None:
    store = FaultyBlockStore(MemoryBlockStore())
    bid, sealed = sample(300)
    await store.put(bid, sealed)
    store.inject("get", corrupt=True)
    bad = await store.get(bid)
    assert len(bad) == len(sealed)
    assert sum(a != b for a, b in zip(bad, sealed, strict=True)) == 1
    assert await store.get(bid) == sealed  # only the returned copy was damaged


async def test_local_block_set_aside_by_a_killed_collector_comes_back(tmp_path: Path) -> None:
    """A collector killed between its rename and its check must not lose the block."""
    store = LocalBlockStore(tmp_path)
    bid, sealed = sample(21)
    await store.put(bid, sealed)
    final = store.path_of(bid)
    aside = final.with_name(final.name + ".gc-dead")
    os.rename(final, aside)  # what the killed collector left
    assert await store.get(bid) == sealed, "a read puts it back"
    assert not aside.exists()
    os.rename(final, aside)
    old = time.time() - 7200
    os.utime(aside, (old, old))
    await store.remove_leftovers(time.time() - 3600)
    assert await store.get(bid) == sealed, "the leftover sweep puts it back, never deletes it"
