"""selfdrive.store.content: ContentStore joins the chunker, the codec and a block store."""

from __future__ import annotations

import asyncio
import functools
import os
import random
from collections.abc import AsyncGenerator, AsyncIterator, Callable

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfdrive.core.blockhash import block_id, content_hash
from selfdrive.core.chunking import chunk_bytes
from selfdrive.core.errors import (
    BlockNotFound,
    CorruptBlock,
    HashMismatch,
    IncompleteBody,
    PayloadTooLarge,
    StorageError,
)
from selfdrive.store.blockstore import BlockStore
from selfdrive.store.codec import CIPHER_AES_256_GCM, BlockCodec
from selfdrive.store.content import ContentStore, Extent, Ingested
from selfdrive.store.faulty import FaultyBlockStore
from selfdrive.store.memory import MemoryBlockStore

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024
CODEC = BlockCodec(keys={1: os.urandom(32)}, current_key_id=1, cipher=CIPHER_AES_256_GCM)
BACKENDS: dict[str, Callable[[], BlockStore]] = {
    "memory": MemoryBlockStore,
    "faulty-memory": lambda: FaultyBlockStore(MemoryBlockStore()),
}


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=list(BACKENDS))
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def random_data(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


async def pieces(data: bytes, seed: int, max_piece: int = 256 * 1024) -> AsyncIterator[bytes]:
    """*data* in pieces of random sizes (some empty), as a network body arrives."""
    rng = random.Random(seed)
    pos = 0
    while pos < len(data):
        n = rng.choice([0, 1, rng.randint(1, max_piece), rng.randint(1, max_piece)])
        yield data[pos : pos + n]
        pos += n
        await anyio.sleep(0)


def extents_of(ingested: Ingested) -> list[Extent]:
    out, offset = [], 0
    for ref in ingested.blocks:
        out.append(Extent(ref.id, offset, ref.size))
        offset += ref.size
    return out


async def read_all(content: ContentStore, extents: list[Extent], start: int, end: int) -> bytes:
    return b"".join([piece async for piece in content.read(extents, start, end)])


async def stored_sizes(store: BlockStore) -> dict[bytes, int]:
    return {entry.id: entry.stored_size async for entry in store.scan()}


# --- ingest ----------------------------------------------------------------------------


@pytest.mark.parametrize("backend_name", list(BACKENDS))
@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), size=st.integers(0, 12 * MiB))
async def test_ingest_round_trip(backend_name: str, seed: int, size: int) -> None:
    data = random_data(seed, size)
    store = BACKENDS[backend_name]()
    content = ContentStore(store, CODEC)
    ingested = await content.ingest(pieces(data, seed))
    ids = [ref.id for ref in ingested.blocks]
    assert ids == [block_id(c) for c in chunk_bytes(data)]  # the client's chunking
    assert ingested.size == size == sum(ref.size for ref in ingested.blocks)
    assert ingested.content_hash == content_hash(ids)
    assert all(ref.new for ref in ingested.blocks)
    on_disk = await stored_sizes(store)
    assert on_disk == {ref.id: ref.stored_size for ref in ingested.blocks}
    assert await read_all(content, extents_of(ingested), 0, size) == data


async def test_ingest_of_text_compresses(backend: str) -> None:
    data = b"".join(b"line %d of a log file\n" % i for i in range(300_000))
    content = ContentStore(BACKENDS[backend](), CODEC)
    ingested = await content.ingest(pieces(data, 1))
    assert sum(r.stored_size for r in ingested.blocks) < len(data) // 2
    assert await read_all(content, extents_of(ingested), 0, len(data)) == data


async def test_ingest_of_an_empty_stream(backend: str) -> None:
    store = BACKENDS[backend]()
    ingested = await ContentStore(store, CODEC).ingest(pieces(b"", 0))
    assert ingested.blocks == []
    assert ingested.size == 0
    assert ingested.content_hash == content_hash([])
    assert await stored_sizes(store) == {}


async def test_ingesting_the_same_data_twice_deduplicates(backend: str) -> None:
    data = random_data(5, 7 * MiB)
    store = BACKENDS[backend]()
    content = ContentStore(store, CODEC)
    first = await content.ingest(pieces(data, 1))
    on_disk = await stored_sizes(store)
    second = await content.ingest(pieces(data, 2))  # other piece sizes, same content
    assert len(first.blocks) >= 3
    assert all(ref.new for ref in first.blocks)
    assert not any(ref.new for ref in second.blocks)
    assert [r.id for r in second.blocks] == [r.id for r in first.blocks]
    assert [r.stored_size for r in second.blocks] == [r.stored_size for r in first.blocks]
    assert second.content_hash == first.content_hash
    assert await stored_sizes(store) == on_disk


async def test_ingest_dedups_only_the_shared_blocks(backend: str) -> None:
    data = random_data(6, 10 * MiB)
    content = ContentStore(BACKENDS[backend](), CODEC)
    first = await content.ingest(pieces(data, 1))
    edited = data + random_data(7, 3 * MiB)  # appended to
    second = await content.ingest(pieces(edited, 1))
    old = {r.id for r in first.blocks}
    assert [r.new for r in second.blocks] == [r.id not in old for r in second.blocks]
    assert sum(not r.new for r in second.blocks) >= len(first.blocks) - 1


async def test_max_bytes(backend: str) -> None:
    data = random_data(8, 3 * MiB + 5)
    content = ContentStore(BACKENDS[backend](), CODEC)
    ok = await content.ingest(pieces(data, 1), max_bytes=len(data))
    assert ok.size == len(data)
    with pytest.raises(PayloadTooLarge):
        await content.ingest(pieces(data, 1), max_bytes=len(data) - 1)
    with pytest.raises(PayloadTooLarge):
        await content.ingest(pieces(data, 1), max_bytes=0)


async def test_max_bytes_raises_the_given_class(backend: str) -> None:
    class TooBig(Exception):
        pass

    content = ContentStore(BACKENDS[backend](), CODEC)
    with pytest.raises(TooBig):
        await content.ingest(pieces(random_data(9, MiB), 1), max_bytes=1000, too_large=TooBig)


async def test_max_bytes_stops_reading_early() -> None:
    received = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal received
        while True:
            received += 64 * 1024
            yield bytes(64 * 1024)

    content = ContentStore(MemoryBlockStore(), CODEC)
    with anyio.fail_after(30), pytest.raises(PayloadTooLarge):
        await content.ingest(endless(), max_bytes=2 * MiB)
    assert received <= 2 * MiB + 64 * 1024


@pytest.mark.parametrize("delta", [-1, 1, -MiB])
async def test_expected_bytes_mismatch(backend: str, delta: int) -> None:
    data = random_data(10, 2 * MiB)
    content = ContentStore(BACKENDS[backend](), CODEC)
    with pytest.raises(IncompleteBody):
        await content.ingest(pieces(data, 1), expected_bytes=len(data) + delta)
    ok = await content.ingest(pieces(data, 1), expected_bytes=len(data))
    assert ok.size == len(data)


async def test_a_failing_stream_fails_the_ingest() -> None:
    class Disconnected(Exception):
        pass

    async def broken() -> AsyncIterator[bytes]:
        yield random_data(11, 5 * MiB)
        raise Disconnected

    with anyio.fail_after(30), pytest.raises(Disconnected):
        await ContentStore(MemoryBlockStore(), CODEC).ingest(broken())


@pytest.mark.parametrize("after", [0, 1, 4])
async def test_a_put_fault_mid_stream_fails_the_ingest(after: int) -> None:
    data = random_data(12, 20 * MiB)
    assert len(chunk_bytes(data)) > after + 2
    store = FaultyBlockStore(MemoryBlockStore())
    fault = store.inject("put", after=after)
    content = ContentStore(store, CODEC)
    before = asyncio.all_tasks()
    with anyio.fail_after(30), pytest.raises(StorageError):
        await content.ingest(pieces(data, 3))
    assert fault.seen > after
    left = {t for t in asyncio.all_tasks() - before if not t.done()}
    assert not left, f"tasks left running after a failed ingest: {left}"
    # the store works again, and a retry stores everything
    ingested = await content.ingest(pieces(data, 3))
    assert await read_all(content, extents_of(ingested), 0, len(data)) == data


async def test_a_put_fault_stops_reading_the_stream() -> None:
    """The failed block is the answer: the rest of the body is not read (an
    endless body would otherwise keep the ingest running forever)."""
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        rng = random.Random(15)
        while True:
            sent += 256 * 1024
            yield rng.randbytes(256 * 1024)

    store = FaultyBlockStore(MemoryBlockStore())
    store.inject("put", after=2)
    with anyio.fail_after(60), pytest.raises(StorageError):
        await ContentStore(store, CODEC).ingest(endless())
    assert sent < 256 * MiB


# --- store_block -----------------------------------------------------------------------


async def test_store_block(backend: str) -> None:
    plain = random_data(13, 100_000)
    store = BACKENDS[backend]()
    content = ContentStore(store, CODEC)
    ref = await content.store_block(plain, block_id(plain))
    assert (ref.id, ref.size, ref.new) == (block_id(plain), len(plain), True)
    again = await content.store_block(plain)
    assert (again.id, again.stored_size, again.new) == (ref.id, ref.stored_size, False)
    assert await stored_sizes(store) == {ref.id: ref.stored_size}
    assert await content.read_block(ref.id) == plain


async def test_store_block_refuses_a_wrong_id(backend: str) -> None:
    store = BACKENDS[backend]()
    with pytest.raises(HashMismatch):
        await ContentStore(store, CODEC).store_block(b"content", block_id(b"other"))
    assert await stored_sizes(store) == {}


# --- read ------------------------------------------------------------------------------


@functools.cache
def sealed_file() -> tuple[bytes, list[Extent], dict[bytes, bytes]]:
    """A multi-block file, sealed once for all read tests."""
    data = random_data(14, 7 * MiB)
    extents, blocks, offset = [], {}, 0
    for chunk in chunk_bytes(data):
        sealed = CODEC.seal(chunk)
        blocks[sealed.id] = bytes(sealed.data)
        extents.append(Extent(sealed.id, offset, len(chunk)))
        offset += len(chunk)
    assert len(extents) >= 4
    return data, extents, blocks


async def loaded(store: BlockStore) -> tuple[bytes, list[Extent], ContentStore]:
    data, extents, blocks = sealed_file()
    for bid, sealed in blocks.items():
        await store.put(bid, sealed)
    return data, extents, ContentStore(store, CODEC)


@pytest.mark.parametrize("backend_name", list(BACKENDS))
@settings(max_examples=40, deadline=None)
@given(draw=st.data())
async def test_read_any_range(backend_name: str, draw: st.DataObject) -> None:
    data, extents, content = await loaded(BACKENDS[backend_name]())
    start = draw.draw(st.integers(0, len(data)), label="start")
    end = draw.draw(st.integers(start, len(data)), label="end")
    assert await read_all(content, extents, start, end) == data[start:end]


async def test_read_ranges_at_block_boundaries(backend: str) -> None:
    data, extents, content = await loaded(BACKENDS[backend]())
    n = len(data)
    for b in [e.offset for e in extents[1:]]:
        for start, end in [(b - 1, b + 1), (b, b), (b, n), (0, b), (b - 1, b), (b, b + 1)]:
            assert await read_all(content, extents, start, end) == data[start:end], (start, end)
    assert await read_all(content, extents, 0, n) == data
    assert await read_all(content, extents, n, n) == b""


async def test_read_fetches_only_the_blocks_in_range() -> None:
    store = MemoryBlockStore()
    data, extents, content = await loaded(store)
    middle = extents[2]
    for e in extents:
        if e is not middle:
            await store.delete(e.id)
    start, end = middle.offset + 10, middle.offset + middle.size - 10
    assert await read_all(content, extents, start, end) == data[start:end]
    with pytest.raises(BlockNotFound):
        await read_all(content, extents, start, end + 20)


@pytest.mark.parametrize("after", [0, 1, 3])
async def test_a_corrupt_block_fails_the_read(after: int) -> None:
    store = FaultyBlockStore(MemoryBlockStore())
    data, extents, content = await loaded(store)
    store.inject("get", after=after, corrupt=True)
    with anyio.fail_after(30), pytest.raises(CorruptBlock):
        await read_all(content, extents, 0, len(data))
    # the stored copy is intact: the next read is fine
    assert await read_all(content, extents, 0, len(data)) == data


async def test_a_corrupt_block_fails_read_block() -> None:
    store = FaultyBlockStore(MemoryBlockStore())
    _, extents, content = await loaded(store)
    store.inject("get", corrupt=True)
    with pytest.raises(CorruptBlock):
        await content.read_block(extents[0].id)


async def test_stopping_a_read_early_leaves_no_task_behind() -> None:
    data, extents, content = await loaded(MemoryBlockStore())
    before = asyncio.all_tasks()
    reader = content.read(extents, 0, len(data))
    assert isinstance(reader, AsyncGenerator)
    first = await reader.__anext__()
    assert first == data[: len(first)]
    await reader.aclose()
    left = {t for t in asyncio.all_tasks() - before if not t.done()}
    assert not left
