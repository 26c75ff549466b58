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

    A chunk whose end is the end of the current buffer may only look finished
    because the input stopped there, so it is held back until more input (or
    `finish`) shows where it really ends.  Everything before it is final.
    """

    def __init__(self) -> None:
        self._buf = bytearray()

    @property
    def pending(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        self._buf += data
        if len(self._buf) < FEED_BYTES:
            return []
        return self._cut(final=False)

    def finish(self) -> list[bytes]:
        return self._cut(final=True)

    def _cut(self, *, final: bool) -> list[bytes]:
        if not self._buf:
            return []
        out, consumed = _cut_points(self._buf, final=final)
        # _cut_points has returned, so no view of the buffer is left alive.
        del self._buf[:consumed]
        return out


def _cut_points(buf: bytearray, *, final: bool) -> tuple[list[bytes], int]:
    view = memoryview(buf)
    out: list[bytes] = []
    consumed = 0
    for chunk in _CDC.cut_buf(view):
        end = chunk.offset + chunk.length
        if end == len(buf) and not final:
            break
        out.append(bytes(view[chunk.offset : end]))
        consumed = end
    return out, consumed


def chunk_bytes(data: bytes | bytearray | memoryview) -> list[bytes]:
    """All chunks of an in-memory buffer (tests, small files)."""
    c = StreamChunker()
    return c.feed(data) + c.finish()


def chunk_stream(pieces: Iterable[bytes]) -> Iterator[bytes]:
    """Chunks of a synchronous stream of pieces (the sync client reads files this way)."""
    c = StreamChunker()
    for piece in pieces:
        yield from c.feed(piece)
    yield from c.finish()
