"""`ContentStore`: plaintext in, sealed blocks out, and back.

It joins the chunker, the codec and a BlockStore:

- `ingest` reads a stream, cuts it into blocks, seals each block and makes it
  durable, all while the next bytes arrive.  When it returns, every block of
  the content is durable in the block store (the first step of the write
  ordering in docs/storage.md); the caller then commits the metadata.
- `store_block` does the same for one block sent whole (delta sync).
- `read` streams a byte range of a block list back, each block verified.

A block in the cold tier (docs/backup.md) has no local file: a *recall*
(`Recall`, services/coldtier.py), when one is set, fetches it from a backup
bucket for every read (download, restore, a sync client's block fetch,
WebDAV all come through here), and `read` asks it first whether every block
of the range can be read now (`Recall.prepare`), so a block that needs an
archive restore answers before the first byte rather than cutting a
download short.

CPU work (chunking, hashing, zstd, AEAD) runs in worker threads, bounded by
one limiter for the whole process, so a big transfer never stalls the event
loop and never takes more than its share of cores.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar, TypeVarTuple, Unpack

import anyio
import anyio.to_thread

from selfdrive.core.blockhash import block_id as hash_block
from selfdrive.core.blockhash import content_hash
from selfdrive.core.chunking import FEED_BYTES, StreamChunker
from selfdrive.core.errors import BlockNotFound, HashMismatch, IncompleteBody, PayloadTooLarge
from selfdrive.store.blockstore import BlockStore
from selfdrive.store.codec import BlockCodec
from selfdrive.store.diskspace import DiskGuard

#: how many sealed-but-not-yet-durable blocks one ingest keeps in flight
INFLIGHT_BLOCKS = 6
#: gather this much input before handing it to the chunker's worker thread
BATCH_BYTES = 1024 * 1024
#: an upload being pinned pins new blocks at most this often (seconds), so
#: that pins come in batches; a durable block waits at most this long
PIN_MIN_S = 1.0
#: how much a resumable upload's piece gathers before a cut pass
PIECE_FEED_BYTES = 2 * 1024 * 1024
#: bytes of network reads queued between the receiver and the chunker
QUEUE_BYTES = 8 * 1024 * 1024

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


@dataclass(frozen=True)
class BlockRef:
    id: bytes
    size: int
    #: bytes the sealed block takes in the store
    stored_size: int
    #: False if the block was already stored (deduplicated)
    new: bool = True


Pin = Callable[[list[BlockRef]], Awaitable[None]]


class Recall(Protocol):
    """Where blocks without a local file come from (the cold tier)."""

    async def prepare(self, block_ids: Sequence[bytes]) -> None:
        """Raise BlockRestoring (after asking for the restores) unless every
        one of these blocks can be read now; cheap when none is in the tier."""
        ...

    async def fetch(self, block_id: bytes) -> bytes:
        """The sealed block from a bucket; BlockNotFound if it is in no tier
        or no bucket has it, BlockRestoring, StorageError."""
        ...

    async def keep(self, block_id: bytes, sealed: bytes) -> None:
        """A fetched block that opened whole: bring it back to the local disk
        (best effort: a failure only logs)."""
        ...


@dataclass(frozen=True)
class Ingested:
    blocks: list[BlockRef]
    #: bytes read from the stream (a prefix not included)
    size: int
    content_hash: bytes
    #: with ``final=False``: the bytes after the last block boundary, not stored
    tail: bytes = b""


@dataclass(frozen=True)
class Extent:
    """One block of a file: its id, where it starts in the file, its size."""

    id: bytes
    offset: int
    size: int


class ContentStore:
    def __init__(self, blocks: BlockStore, codec: BlockCodec, *, cpu_threads: int = 0,
                 guard: DiskGuard | None = None) -> None:
        self.blocks = blocks
        self.codec = codec
        #: the free-space reserve of the data dir's disk (store/diskspace.py)
        self.guard = guard
        self._cpu = anyio.CapacityLimiter(cpu_threads or max(2, os.cpu_count() or 2))
        # Chunking has its own threads so that it never queues behind sealing:
        # a stalled chunker would stall the network.
        self._cut_limiter = anyio.CapacityLimiter(max(2, os.cpu_count() or 2))
        #: blocks clients have sent so far (stored or deduplicated): background
        #: work watches it to yield while users upload (services/backup.py)
        self.blocks_received = 0
        #: the cold tier, when configured (set once, at start)
        self.recall: Recall | None = None

    async def cpu(self, work: Callable[[Unpack[Ts]], T], *args: *Ts) -> T:
        """Run other CPU work on blocks (zstd on the wire) in a worker thread,
        within the same limit as sealing and hashing."""
        return await anyio.to_thread.run_sync(work, *args, limiter=self._cpu)

    async def store_block(
        self, plain: bytes | memoryview, expected_id: bytes | None = None
    ) -> BlockRef:
        """Make one plaintext block durable; dedup if it is already stored.

        With *expected_id*, the block is refused (HashMismatch) unless its
        content hashes to it.
        """
        block_id = await anyio.to_thread.run_sync(hash_block, plain, limiter=self._cpu)
        if expected_id is not None and block_id != expected_id:
            raise HashMismatch(
                f"the block's content hashes to {block_id.hex()}, not {expected_id.hex()}"
            )
        return await self._store_hashed(plain, block_id)

    async def _store_hashed(self, plain: bytes | memoryview, block_id: bytes) -> BlockRef:
        self.blocks_received += 1
        stored = await self.blocks.touch(block_id)
        if stored is not None:
            return BlockRef(block_id, len(plain), stored, new=False)
        sealed = await anyio.to_thread.run_sync(self.codec.seal, plain, block_id, limiter=self._cpu)
        if self.guard is not None:
            self.guard.check(len(sealed.data))
        await self.blocks.put(block_id, sealed.data)
        return BlockRef(block_id, len(plain), len(sealed.data))

    async def ingest(
        self,
        stream: AsyncIterator[bytes],
        *,
        max_bytes: int | None = None,
        expected_bytes: int | None = None,
        too_large: type[Exception] = PayloadTooLarge,
        pin: Pin | None = None,
        pin_after_s: float = 0.0,
        prefix: bytes = b"",
        final: bool = True,
    ) -> Ingested:
        """Chunk, seal and store a stream; return its blocks once all are durable.

        Raises *too_large* as soon as more than *max_bytes* arrive, and
        IncompleteBody if the stream ends short of *expected_bytes*.  On any
        error the blocks already written stay as unreferenced blocks, for the
        garbage collector; nothing refers to them.

        *pin*, if given, is called with blocks as they become durable, in
        stream order (each call continues where the previous one stopped, one
        call at a time), starting *pin_after_s* seconds after the ingest began
        and then at most once per PIN_MIN_S, so that the caller can protect
        the blocks of a long upload from garbage collection until it commits,
        or record a resumable upload's progress.  Blocks younger than that
        need no pin: the GC grace period (far longer) protects them.

        Resumable uploads continue a content in pieces: *prefix* (the tail
        left by the previous piece) is chunked before the stream, and with
        ``final=False`` the bytes after the last certain block boundary are
        not stored but returned as `Ingested.tail`.
        """
        if self.guard is not None:
            self.guard.check(expected_bytes or 0)  # before a byte of the body is read
        job = _Ingest(self, max_bytes, expected_bytes, too_large, pin, pin_after_s, final)
        return await job.run(stream, prefix)

    async def read_block(self, block_id: bytes, *, local_only: bool = False) -> bytes:
        """The verified plaintext of one block (CorruptBlock if it fails); a
        block in the cold tier comes from a bucket unless *local_only*."""
        try:
            sealed = await self.blocks.get(block_id)
        except BlockNotFound:
            if self.recall is None or local_only:
                raise
            sealed = await self.recall.fetch(block_id)
            plain = await anyio.to_thread.run_sync(
                self.codec.open_block, block_id, sealed, limiter=self._cpu
            )
            await self.recall.keep(block_id, sealed)
            return plain
        return await anyio.to_thread.run_sync(
            self.codec.open_block, block_id, sealed, limiter=self._cpu
        )

    async def read(self, extents: Sequence[Extent], start: int, end: int) -> AsyncIterator[bytes]:
        """Yield the bytes [start, end) of a file made of *extents*.

        The next block is fetched and verified while the current one is sent.
        """
        wanted = [e for e in extents if e.offset < end and e.offset + e.size > start]
        if not wanted:
            return
        if self.recall is not None:
            await self.recall.prepare([e.id for e in wanted])
        ahead: asyncio.Task[bytes] = asyncio.ensure_future(self.read_block(wanted[0].id))
        try:
            for i, extent in enumerate(wanted):
                plain = await ahead
                if i + 1 < len(wanted):
                    ahead = asyncio.ensure_future(self.read_block(wanted[i + 1].id))
                lo = max(start - extent.offset, 0)
                hi = min(end - extent.offset, extent.size)
                yield plain if (lo, hi) == (0, len(plain)) else plain[lo:hi]
        finally:
            if not ahead.done():
                ahead.cancel()
                await asyncio.gather(ahead, return_exceptions=True)


class _Ingest:
    """One stream being ingested.

    Three stages run at once, so the network never waits for the disk: the
    *receiver* reads the stream into a bounded queue; the *cutter* takes what
    is queued, chunks it in a worker thread and starts one *store* task per
    chunk; at most INFLIGHT_BLOCKS store tasks (hash, seal, durable write) run
    at a time, which is what bounds memory.  Backpressure flows from a full
    set of store tasks to the cutter, to the queue, to the client's TCP window.
    """

    def __init__(
        self, content: ContentStore, max_bytes: int | None, expected_bytes: int | None,
        too_large: type[Exception], pin: Pin | None, pin_after_s: float, final: bool,
    ) -> None:
        self.pin_after_s = pin_after_s
        self.content = content
        self.pin = pin
        self.final = final
        self.tail = b""
        #: stores[:pinned] have been handed to pin
        self.pinned = 0
        self.to_pin = asyncio.Event()
        self.stopping = False
        self.stopped = asyncio.Event()
        self.max_bytes = max_bytes
        self.expected_bytes = expected_bytes
        self.too_large = too_large
        # Bounded by bytes, not items: a read may be 1 KiB or 1 MiB.
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.queued = 0
        self.room = asyncio.Event()
        # A piece of a resumable upload may be only a few megabytes: cut
        # sooner, so that storing overlaps with receiving within one piece.
        self.chunker = StreamChunker(FEED_BYTES if final else PIECE_FEED_BYTES)
        self.total = 0
        self.stores: list[asyncio.Task[BlockRef]] = []
        self.slots = asyncio.Semaphore(INFLIGHT_BLOCKS)
        self.failure: BaseException | None = None

    async def run(self, stream: AsyncIterator[bytes], prefix: bytes) -> Ingested:
        if prefix:
            self.queued += len(prefix)
            self.queue.put_nowait(prefix)
        pinner = asyncio.ensure_future(self._pin_loop())
        try:
            try:
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(self._receive(stream))
                    tg.create_task(self._cut())
            except BaseExceptionGroup as group:
                raise _first_error(group) from None
            refs = list(await asyncio.gather(*self.stores))
            # The caller commits right away; blocks not pinned yet are young.
            self.stopping = True
            self.stopped.set()
            self.to_pin.set()
            await pinner  # lets a pin in progress finish: a cancelled one would lose its batch
        except BaseException:
            pinner.cancel()
            for task in self.stores:
                task.cancel()
            await asyncio.gather(pinner, *self.stores, return_exceptions=True)
            raise
        return Ingested(
            blocks=refs, size=self.total, content_hash=content_hash(r.id for r in refs),
            tail=self.tail,
        )

    async def _receive(self, stream: AsyncIterator[bytes]) -> None:
        async for piece in stream:
            if not piece:
                continue
            self.total += len(piece)
            if self.max_bytes is not None and self.total > self.max_bytes:
                raise self.too_large(f"the content is larger than {self.max_bytes} bytes")
            while self.queued >= QUEUE_BYTES:
                self.room.clear()
                await self.room.wait()
            self.queued += len(piece)
            self.queue.put_nowait(piece)
        if self.expected_bytes is not None and self.total != self.expected_bytes:
            raise IncompleteBody(
                f"the body ended after {self.total} of {self.expected_bytes} bytes;"
                " nothing was stored"
            )
        self.queue.put_nowait(None)

    async def _cut(self) -> None:
        final = False
        while not final:
            batch: list[bytes] = []
            size = 0
            while size < BATCH_BYTES:
                piece = await self.queue.get()
                if piece is None:
                    final = True
                    break
                self.queued -= len(piece)
                self.room.set()
                batch.append(piece)
                size += len(piece)

            def work(
                batch: list[bytes] = batch, final: bool = final
            ) -> list[tuple[memoryview, bytes]]:
                out: list[memoryview] = []
                for piece in batch:
                    out += self.chunker.feed(piece)
                if final and self.final:
                    out += self.chunker.finish()
                elif final:
                    out += self.chunker.flush()
                    self.tail = self.chunker.take_pending()
                # Hashing here, in the thread that already holds the chunks,
                # saves one thread hand-off per block.
                return [(chunk, hash_block(chunk)) for chunk in out]

            chunks = await anyio.to_thread.run_sync(work, limiter=self.content._cut_limiter)
            for chunk, block_id in chunks:
                await self.slots.acquire()
                if self.failure is not None:  # a block write failed: that error is the answer
                    raise self.failure
                self.stores.append(asyncio.ensure_future(self._store(chunk, block_id)))

    async def _pin(self) -> None:
        """Hand the blocks made durable since the last pin to *pin*, in order."""
        start = end = self.pinned
        while end < len(self.stores) and self.stores[end].done():
            task = self.stores[end]
            if task.cancelled() or task.exception() is not None:
                break
            end += 1
        if self.pin is not None and end > start:
            self.pinned = end
            await self.pin([t.result() for t in self.stores[start:end]])

    async def _pin_loop(self) -> None:
        """Pin blocks once the upload has run for pin_after_s, then as they
        become durable, at most once per PIN_MIN_S (one pin at a time, so
        blocks stored meanwhile go in the next)."""
        if self.pin is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopped.wait(), self.pin_after_s)
        while not self.stopping:
            await self.to_pin.wait()
            if self.stopping:
                break
            self.to_pin.clear()
            await self._pin()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopped.wait(), PIN_MIN_S)

    async def _store(self, chunk: memoryview, block_id: bytes) -> BlockRef:
        try:
            ref = await self.content._store_hashed(chunk, block_id)
            self.to_pin.set()
            return ref
        except BaseException as exc:
            self.failure = self.failure or exc
            raise
        finally:
            self.slots.release()


def _first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The error that stopped an ingest (not the cancellations it caused)."""
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            return _first_error(exc)
        if not isinstance(exc, asyncio.CancelledError):
            return exc
    return group.exceptions[0]
