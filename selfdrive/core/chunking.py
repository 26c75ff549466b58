"""Content-defined chunking (FastCDC 2020), fed by a stream.

Terms: a *chunk* is a cut of the input; once stored it is a *block*.  Cut
points depend only on the bytes since the previous cut, so an insertion in the
middle of a file changes one or two chunks, not all that follow.

Parameters are part of the storage format (client and server must agree for
delta sync to find shared blocks): min 256 KiB, mask for 1 MiB, max 4 MiB,
normalised chunking level 1, seed 0.  The mean of real data comes out near
1.1-1.25 MiB, because FastCDC skips the first *min* bytes of every chunk.

`StreamChunker` takes input in pieces of any size and yields finished chunks;
it holds at most about ``FEED_BYTES + MAX_SIZE`` bytes, never a whole file.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from pyfastcdc import FastCDC

MIN_SIZE = 256 * 1024
AVG_SIZE = 1024 * 1024
MAX_SIZE = 4 * 1024 * 1024
#: how much input is gathered before a cut pass; bigger means fewer re-scans
#: of the unfinished tail, smaller means less memory per upload.
FEED_BYTES = 8 * 1024 * 1024

_CDC = FastCDC(AVG_SIZE, min_size=MIN_SIZE, max_size=MAX_SIZE, normalized_chunking=1, seed=0)


class StreamChunker:
    """Push-style chunker: `feed` bytes, then `finish`; both return new chunks.

    A chunk whose end is the end of the current input may only look finished
    because the input stopped there, so it is held back until more input (or
    `finish`) shows where it really ends.  Everything before it is final.

    Chunks are read-only memoryviews into one joined buffer per cut pass, so
    each input byte is copied about once; a chunk keeps its pass's buffer
    (about FEED_BYTES) alive.  The chunker keeps references to the buffers it
    is fed: do not change a buffer after feeding it.
    """

    def __init__(self, feed_bytes: int = FEED_BYTES) -> None:
        self._pieces: list[bytes | memoryview] = []
        self._pending = 0
        self._feed_bytes = feed_bytes

    @property
    def pending(self) -> int:
        return self._pending

    def feed(self, data: bytes | memoryview) -> list[memoryview]:
        if data:
            self._pieces.append(data)
            self._pending += len(data)
        if self._pending < self._feed_bytes:
            return []
        return self._cut(final=False)

    def finish(self) -> list[memoryview]:
        return self._cut(final=True)

    def flush(self) -> list[memoryview]:
        """Every chunk that is certain now, however little input is pending:
        afterwards `pending` is less than one chunk (MAX_SIZE at most)."""
        return self._cut(final=False)

    def take_pending(self) -> bytes:
        """The input not yet cut into chunks, which the chunker then forgets.

        Feeding it to a fresh chunker, then what follows, gives the same chunks
        as if this chunker had gone on: a cut depends only on the bytes since
        the previous cut.  Resumable uploads keep it between pieces.
        """
        rest = b"".join(self._pieces)
        self._pieces, self._pending = [], 0
        return rest

    def _cut(self, *, final: bool) -> list[memoryview]:
        if not self._pending:
            return []
        joined = self._pieces[0] if len(self._pieces) == 1 else b"".join(self._pieces)
        view = memoryview(joined).toreadonly()
        out: list[memoryview] = []
        consumed = 0
        for chunk in _CDC.cut_buf(view):
            end = chunk.offset + chunk.length
            if end == len(view) and not final:
                break
            out.append(view[chunk.offset : end])
            consumed = end
        rest = view[consumed:]
        self._pieces = [rest] if len(rest) else []
        self._pending = len(rest)
        return out


def chunk_bytes(data: bytes | bytearray | memoryview) -> list[bytes]:
    """All chunks of an in-memory buffer, as bytes (tests, small files)."""
    c = StreamChunker()
    return [bytes(v) for v in c.feed(bytes(data)) + c.finish()]


def chunk_stream(pieces: Iterable[bytes]) -> Iterator[memoryview]:
    """Chunks of a synchronous stream of pieces (the sync client reads files this way)."""
    c = StreamChunker()
    for piece in pieces:
        yield from c.feed(piece)
    yield from c.finish()
