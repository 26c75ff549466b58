"""`ThumbnailCache`: generated thumbnails, sealed, in ``<data>/thumbnails/``.

A thumbnail is derived data: losing one costs only the time to make it
again, so the cache is written without fsync and anything unreadable in it
counts as a miss (and is removed).  But it shows the picture, so it is
sealed like everything at rest (DESIGN.md, encryption at rest): nothing in
the folder is readable without the keyring.

Names: ``<ab>/<name>``, where *name* is the hex HMAC-SHA256, under a key
derived for it, of what identifies the picture (the content hash of the
revision, the size, the render version; services/thumbnails.py).  So a new
revision gets a new name, and the names reveal nothing of the content (a
bare content hash would let anyone with the disk test for a known file).

File layout (integers big-endian)::

    offset  size  field
    0       4     magic  b"SDTH"
    4       1     format version   1
    5       3     reserved         0
    8       12    nonce            random per file
    20      ...   AES-256-GCM ciphertext || 16-byte tag

The associated data is the 20-byte header followed by the name, so a file
copied under another name fails authentication.

Size: the files together stay under `max_bytes`; past it the least
recently used go (a hit touches its file's mtime) until 90% of it is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
import secrets
import struct
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import anyio.to_thread
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from selfdrive.core.errors import DiskFull
from selfdrive.store.diskspace import DiskGuard

T = TypeVar("T")
MAGIC = b"SDTH"
FORMAT_VERSION = 1
HEADER = struct.Struct(">4sB3x12s")
TMP_MARK = ".tmp-"
#: eviction stops when the cache is down to this fraction of its cap
LOW_WATER = 0.9


class ThumbnailCache:
    def __init__(self, root: Path, seal_key: bytes, name_key: bytes, *, max_bytes: int,
                 guard: DiskGuard | None = None) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self._aead = AESGCM(seal_key)
        self._name_key = name_key
        self._guard = guard
        self._total: int | None = None  # bytes in the cache, counted at the first put
        self._evicting = asyncio.Lock()

    def name_for(self, *facts: str) -> str:
        """The file name of the thumbnail that *facts* identify."""
        return hmac.new(self._name_key, "\0".join(facts).encode(), hashlib.sha256).hexdigest()

    def _path(self, name: str) -> Path:
        return self.root / name[:2] / name

    async def get(self, name: str) -> bytes | None:
        """The thumbnail stored as *name*, or None."""
        return await _thread(lambda: self._get_sync(name))

    async def put(self, name: str, data: bytes) -> None:
        """Store a thumbnail; skipped when the cap is 0 or the disk is at its reserve."""
        if self.max_bytes <= 0 or len(data) > self.max_bytes:
            return
        sealed = self._seal(name, data)
        try:
            if self._guard is not None:
                self._guard.check(len(sealed))
        except DiskFull:
            return
        written = await _thread(lambda: self._put_sync(name, sealed))
        if self._total is None:
            self._total = await _thread(self._count_sync)
        else:
            self._total += written
        if self._total > self.max_bytes and not self._evicting.locked():
            async with self._evicting:
                self._total = await _thread(self._evict_sync)

    # -- in worker threads ---------------------------------------------------------

    def _get_sync(self, name: str) -> bytes | None:
        path = self._path(name)
        try:
            sealed = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            data = self._open(name, sealed)
        except ValueError:
            path.unlink(missing_ok=True)  # torn or damaged: made again
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: evicted last
        return data

    def _put_sync(self, name: str, sealed: bytes) -> int:
        path = self._path(name)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        old = path.stat().st_size if path.exists() else 0
        tmp = path.with_name(name + TMP_MARK + secrets.token_hex(4))
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(sealed)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return len(sealed) - old

    def _files(self) -> list[tuple[float, int, Path]]:
        """(mtime, size, path) of every file in the cache."""
        out: list[tuple[float, int, Path]] = []
        if not self.root.is_dir():
            return out
        for shard in os.scandir(self.root):
            if not shard.is_dir():
                continue
            for entry in os.scandir(shard.path):
                with contextlib.suppress(FileNotFoundError):
                    st = entry.stat()
                    out.append((st.st_mtime, st.st_size, Path(entry.path)))
        return out

    def _count_sync(self) -> int:
        return sum(size for _, size, _ in self._files())

    def _evict_sync(self) -> int:
        """Remove the least recently used files down to LOW_WATER; returns what is left."""
        files = sorted(self._files())
        total = sum(size for _, size, _ in files)
        for _, size, path in files:
            if total <= self.max_bytes * LOW_WATER:
                break
            path.unlink(missing_ok=True)
            total -= size
        return total

    # -- sealing -----------------------------------------------------------------

    def _seal(self, name: str, data: bytes) -> bytes:
        header = HEADER.pack(MAGIC, FORMAT_VERSION, os.urandom(12))
        return header + self._aead.encrypt(header[-12:], data, header + name.encode())

    def _open(self, name: str, sealed: bytes) -> bytes:
        """The plaintext, or ValueError for anything but an intact file of *name*."""
        if len(sealed) < HEADER.size + 16:
            raise ValueError("truncated")
        magic, version, nonce = HEADER.unpack_from(sealed)
        if magic != MAGIC or version != FORMAT_VERSION:
            raise ValueError("unknown format")
        header = sealed[: HEADER.size]
        try:
            return self._aead.decrypt(nonce, sealed[HEADER.size:], header + name.encode())
        except InvalidTag:
            raise ValueError("failed authentication") from None


async def _thread(fn: Callable[[], T]) -> T:
    return await anyio.to_thread.run_sync(fn)
