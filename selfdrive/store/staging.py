"""`Staging`: the encrypted tails of unfinished resumable uploads.

A resumable upload stores whole blocks in the block store as they are cut;
only the bytes after the last cut (less than one block, MAX_SIZE at most)
wait here until more bytes arrive.  Each tail lives in
``<root>/<token>.<gen>``: a run of records, each ``[sealed length: u32]
[block id of the plaintext: 32 bytes][sealed bytes]``, sealed by the same
codec as blocks (so authenticated, and verified against the id on read).

The database holds how many plaintext bytes of which generation count
(`resumable_uploads.staged_len`, `staged_gen`).  A file may hold more than
that after a crash between a write and its commit; `read` and `append` stop
at the committed length, and `append` cuts the rest off first.  A new
generation is a new file, so a tail that a cut used up is never rewritten in
place.
"""

from __future__ import annotations

import errno
import os
import struct
import time
from pathlib import Path

import anyio.to_thread

from selfdrive.core.errors import CorruptBlock, StorageError
from selfdrive.store.codec import BlockCodec
from selfdrive.store.local import fsync_dir

_RECORD = struct.Struct(">I32s")


class Staging:
    def __init__(self, root: Path, codec: BlockCodec) -> None:
        self.root = root
        self.codec = codec

    def path(self, token: str, gen: int) -> Path:
        return self.root / f"{token}.{gen}"

    async def read(self, token: str, gen: int, length: int) -> bytes:
        """The first *length* plaintext bytes staged in (token, gen)."""
        if length == 0:
            return b""
        return await anyio.to_thread.run_sync(self._read, token, gen, length)

    def _read(self, token: str, gen: int, length: int) -> bytes:
        try:
            raw = self.path(token, gen).read_bytes()
        except OSError as exc:
            raise _storage_error(exc) from exc
        return self._decode(raw, length, f"{token}.{gen}")[0]

    def _decode(self, raw: bytes, length: int, name: str) -> tuple[bytes, int]:
        """The first *length* plaintext bytes of a staging file's records, each
        verified, and where the records holding them end in the file."""
        out = bytearray()
        pos = 0
        while len(out) < length:
            if pos + _RECORD.size > len(raw):
                raise CorruptBlock(f"staged tail {name} is shorter than the database says")
            size, bid = _RECORD.unpack_from(raw, pos)
            pos += _RECORD.size
            if pos + size > len(raw):
                raise CorruptBlock(f"staged tail {name} is truncated")
            out += self.codec.open_block(bid, raw[pos : pos + size])
            pos += size
        if len(out) != length:
            raise CorruptBlock(f"staged tail {name} does not end where the database says")
        return bytes(out), pos

    async def append(self, token: str, gen: int, have: int, data: bytes | memoryview) -> None:
        """Durably add *data* after the first *have* plaintext bytes of (token, gen).

        Anything in the file after those bytes (left by a crash) is cut off.
        *have* 0 starts the generation afresh.
        """
        sealed = await anyio.to_thread.run_sync(self.codec.seal, data)
        record = _RECORD.pack(len(sealed.data), sealed.id) + bytes(sealed.data)
        await anyio.to_thread.run_sync(self._append, token, gen, have, record)

    def _append(self, token: str, gen: int, have: int, record: bytes) -> None:
        path = self.path(token, gen)
        try:
            keep = self._decode(path.read_bytes(), have, path.name)[1] if have else 0
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                os.ftruncate(fd, keep)
                os.lseek(fd, keep, os.SEEK_SET)
                view = memoryview(record)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            if not have:
                fsync_dir(self.root)
        except OSError as exc:
            raise _storage_error(exc) from exc

    async def remove(self, token: str, *, except_gen: int | None = None) -> None:
        """Delete every generation of *token* (but *except_gen*); missing is fine."""
        await anyio.to_thread.run_sync(self._remove, token, except_gen)

    def _remove(self, token: str, except_gen: int | None) -> None:
        for path in self.root.glob(f"{token}.*"):
            if path.name != f"{token}.{except_gen}":
                path.unlink(missing_ok=True)

    async def listing(self) -> list[tuple[str, int]]:
        """(token, gen) of every staging file."""
        return await anyio.to_thread.run_sync(self._list)

    def _list(self) -> list[tuple[str, int]]:
        out = []
        for path in self.root.iterdir():
            token, _, gen = path.name.rpartition(".")
            if token and gen.isdigit():
                out.append((token, int(gen)))
        return out

    async def collect(
        self, listed: list[tuple[str, int]], live: set[tuple[str, int]], known: set[str],
        idle_s: float,
    ) -> tuple[int, int]:
        """Delete the *listed* files nothing refers to; return (files, bytes) freed.

        List first, then read *live* and *known* from the database: a file of
        an upload that was gone by then can only be a leftover, and goes at
        once.  A generation that its upload does not name (yet) goes only once
        idle for *idle_s*: a PATCH may be writing it, about to commit it.
        """
        return await anyio.to_thread.run_sync(self._collect, listed, live, known, idle_s)

    def _collect(
        self, listed: list[tuple[str, int]], live: set[tuple[str, int]], known: set[str],
        idle_s: float,
    ) -> tuple[int, int]:
        freed = nbytes = 0
        now = time.time()
        for token, gen in listed:
            if (token, gen) in live:
                continue
            path = self.path(token, gen)
            try:
                st = path.stat()
                if token in known and now - st.st_mtime < idle_s:
                    continue
                path.unlink()
            except FileNotFoundError:
                continue
            freed += 1
            nbytes += st.st_size
        return freed, nbytes


def _storage_error(exc: OSError) -> StorageError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StorageError("the server's disk is full; nothing of this request was kept")
    return StorageError(f"staging I/O failed: {exc.strerror or exc}")
