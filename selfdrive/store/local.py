"""`LocalBlockStore`: sealed blocks as files in ``<root>/ab/cd/<hex id>``.

Write ordering (docs/storage.md, "Writing a block"): the block is written to
``<hex>.tmp-<random>`` in its shard folder, fsynced, renamed over the final
name, and the folder is fsynced; folders created on the way are fsynced into
their parents.  Only then does `put` return.  A crash leaves at most a stray
``.tmp-`` file, which `scan` skips and the orphan sweep removes.

Blocking file work runs in worker threads, at most `max_threads` at once,
which also lets several fsyncs be in flight together (the disk batches them).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TypeVar

import anyio
import anyio.to_thread

from selfdrive.core.errors import BlockNotFound, StorageError
from selfdrive.store.blockstore import StoredBlock

T = TypeVar("T")
TMP_MARK = ".tmp-"
GC_MARK = ".gc-"


def fsync_dir(path: Path) -> None:
    """Make a folder's entries (a new or renamed file in it) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalBlockStore:
    def __init__(self, root: Path, *, max_threads: int = 8) -> None:
        self.root = root
        self._limiter = anyio.CapacityLimiter(max_threads)
        root.mkdir(parents=True, exist_ok=True)

    def path_of(self, block_id: bytes) -> Path:
        h = block_id.hex()
        return self.root / h[0:2] / h[2:4] / h

    async def _run(self, fn: Callable[[], T]) -> T:
        try:
            return await anyio.to_thread.run_sync(fn, limiter=self._limiter)
        except OSError as exc:
            raise StorageError(f"block store I/O failed: {exc.strerror or exc}") from exc

    async def put(self, block_id: bytes, sealed: bytes | bytearray) -> None:
        await self._run(lambda: self._put_sync(block_id, sealed))

    def _put_sync(self, block_id: bytes, sealed: bytes | bytearray) -> None:
        final = self.path_of(block_id)
        with contextlib.suppress(FileNotFoundError):  # GC may take it meanwhile: write it
            os.utime(final)
            return
        self._make_shard(final.parent)
        tmp = final.with_name(final.name + TMP_MARK + secrets.token_hex(4))
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(sealed)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        os.close(fd)
        os.rename(tmp, final)
        fsync_dir(final.parent)

    def _make_shard(self, shard: Path) -> None:
        if shard.is_dir():
            return
        # Create ab/ then ab/cd/, fsyncing each new folder into its parent.
        for folder in (shard.parent, shard):
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            fsync_dir(folder.parent)

    async def get(self, block_id: bytes) -> bytes:
        path = self.path_of(block_id)

        def read() -> bytes | None:
            try:
                return path.read_bytes()
            except FileNotFoundError:
                # A garbage collector killed between its rename and its check
                # leaves the block aside: put it back and read it.
                if not _put_back_aside(path):
                    return None
                return path.read_bytes()

        data = await self._run(read)
        if data is None:
            raise BlockNotFound(f"block {block_id.hex()} is not stored")
        return data

    async def exists(self, block_id: bytes) -> bool:
        return await self._run(self.path_of(block_id).is_file)

    async def touch(self, block_id: bytes) -> int | None:
        path = self.path_of(block_id)

        def utime() -> int | None:
            try:
                os.utime(path)
                return path.stat().st_size
            except FileNotFoundError:
                return None

        return await self._run(utime)

    async def delete(self, block_id: bytes) -> None:
        path = self.path_of(block_id)

        def unlink() -> None:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

        await self._run(unlink)

    async def collect(self, block_id: bytes, idle_since: float) -> bool:
        path = self.path_of(block_id)
        return await self._run(lambda: _collect(path, idle_since))

    async def remove_leftovers(self, idle_since: float) -> int:
        def remove() -> int:
            stray = stray_temp_files(self.root, idle_since)
            for path in stray:
                if GC_MARK in path.name:
                    # A collector died after its rename: the block may have
                    # been reused since.  Put it back; the next sweep decides.
                    _put_back_aside(path.with_name(path.name.split(GC_MARK)[0]))
                    continue
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            return len(stray)

        return await self._run(remove)

    async def scan(self) -> AsyncIterator[StoredBlock]:
        for top in await self._run(lambda: _shard_dirs(self.root)):
            for shard in await self._run(lambda t=top: _shard_dirs(t)):  # type: ignore[misc]
                for entry in await self._run(lambda s=shard: _list_blocks(s)):  # type: ignore[misc]
                    yield entry

    async def close(self) -> None:
        return None


def _collect(path: Path, idle_since: float) -> bool:
    # Rename first: after the rename, a concurrent touch() fails and its
    # caller writes the block again; a touch that came before the rename shows
    # in the mtime below, and the block is put back.
    doomed = path.with_name(path.name + GC_MARK + secrets.token_hex(4))
    try:
        os.rename(path, doomed)
    except FileNotFoundError:
        return True
    if doomed.stat().st_mtime >= idle_since:
        with contextlib.suppress(FileExistsError):
            os.link(doomed, path)  # never replaces a fresh copy written meanwhile
        fsync_dir(path.parent)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(doomed)
        return False
    try:
        os.unlink(doomed)
    except FileNotFoundError:
        return False  # another collector's leftover sweep put it back meanwhile
    return True


def _put_back_aside(path: Path) -> bool:
    """Restore a block left renamed aside (``<id>.gc-*``); True if one was."""
    for aside in path.parent.glob(path.name + GC_MARK + "*"):
        with contextlib.suppress(FileExistsError, FileNotFoundError):
            os.link(aside, path)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(aside)
        fsync_dir(path.parent)
        return path.exists()
    return False


def _shard_dirs(folder: Path) -> list[Path]:
    """The two-hex-digit sub-folders of a folder; stray files are ignored."""
    return sorted(
        p for p in folder.iterdir()
        if len(p.name) == 2 and all(c in "0123456789abcdef" for c in p.name) and p.is_dir()
    )


def _list_blocks(shard: Path) -> list[StoredBlock]:
    out = []
    with os.scandir(shard) as it:
        for entry in it:
            if len(entry.name) != 64:  # temp files (.tmp-, .gc-) have longer names
                continue
            try:
                block_id = bytes.fromhex(entry.name)
                st = entry.stat()
            except (ValueError, FileNotFoundError):
                continue
            out.append(StoredBlock(id=block_id, stored_size=st.st_size, mtime=st.st_mtime))
    return out


def stray_temp_files(root: Path, idle_since: float) -> list[Path]:
    """Temp files a crash left behind, not touched since *idle_since*."""
    out = []
    for pattern in (f"*/*/*{TMP_MARK}*", f"*/*/*{GC_MARK}*"):
        for p in root.glob(pattern):
            with contextlib.suppress(FileNotFoundError):
                if p.stat().st_mtime < idle_since:
                    out.append(p)
    return out
