"""Moving one file's content: upload by blocks, download into a temp file.

Upload: chunk the file (the hash cache usually knows the blocks already), ask
the server which blocks it lacks, send only those (zstd; against the block it
replaces when the block cache still holds the old version's plaintext), then
commit.  The file is read again for the blocks it sends and its stat checked
before the commit, so a file changed during the upload is never committed as
a torn mix of two versions.

Download: fetch the block list of the revision; take every block the old
local version already holds from disk (verified by hash), fetch the others
(against the local block they replace, as a zstd dictionary), write them to a
temp file in the same folder, fsync, and rename over the target only if the
target still is exactly what the plan saw (DESIGN.md rule 6).

The block cache (`.selfdrive/blocks/`) keeps the plaintext of the blocks of
files as last synced, zstd-compressed, up to a size cap: an upload of an
edited file needs the old version's plaintext to compress against, and the
old version is gone from disk by then.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import zstandard

from selfdrive.core.blockhash import block_id, content_hash
from selfdrive.sync.api import Api, ApiError
from selfdrive.sync.fs import FS, Reader, Writer
from selfdrive.sync.ignore import TEMP_PREFIX
from selfdrive.sync.scan import DEFAULT_GRANULARITY_NS, hash_file, read_chunks
from selfdrive.sync.state import Hashed
from selfdrive.sync.tree import Local, Remote

#: blocks in flight per file, each direction (bounds memory: 4 MiB each)
IN_FLIGHT = 4


class Changed(Exception):
    """The local file changed under us: nothing was committed or replaced."""


@dataclass(frozen=True, slots=True)
class Sent:
    #: the file as sent: its blocks, for the next upload's deltas
    hashed: Hashed
    bytes_sent: int


class BlockCache:
    """Plaintext of recently synced blocks, zstd-compressed, at most *cap_bytes*."""

    def __init__(self, folder: Path, cap_bytes: int) -> None:
        self.folder = folder
        self.cap = cap_bytes
        self._zc = zstandard.ZstdCompressor(level=1)

    def _path(self, bid: bytes) -> Path:
        h = bid.hex()
        return self.folder / h[:2] / h

    def get(self, bid: bytes) -> bytes | None:
        try:
            packed = self._path(bid).read_bytes()
            data = zstandard.ZstdDecompressor().decompress(packed)
        except (OSError, zstandard.ZstdError):
            return None
        return data if block_id(data) == bid else None

    def put_many(self, blocks: Iterable[tuple[bytes, bytes]]) -> None:
        if self.cap <= 0:
            return
        for bid, data in blocks:
            path = self._path(bid)
            if path.exists():
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(TEMP_PREFIX + secrets.token_hex(4))
            tmp.write_bytes(self._zc.compress(data))
            os.replace(tmp, path)

    def trim(self) -> None:
        """Drop the least recently written blocks beyond the cap."""
        if not self.folder.exists():
            return
        files = [(p.stat().st_mtime, p.stat().st_size, p) for p in self.folder.glob("*/*")]
        total = sum(f[1] for f in files)
        for _, size, path in sorted(files):
            if total <= self.cap:
                break
            path.unlink(missing_ok=True)
            total -= size


def _best_base(offset: int, size: int, old: Hashed | None) -> bytes | None:
    """The old block that overlaps [offset, offset+size) the most."""
    if old is None:
        return None
    best, best_overlap = None, 0
    for bid, at, n in old.offsets():
        overlap = min(offset + size, at + n) - max(offset, at)
        if overlap > best_overlap:
            best, best_overlap = bid, overlap
        if at > offset + size:
            break
    return best


async def upload(api: Api, fs: FS, rel: str, remote_path: str, local: Local, *,
                 base_rev: int, known: Hashed | None, old: Hashed | None, cache: BlockCache,
                 cache_file_max: int, in_flight: int = IN_FLIGHT) -> tuple[Sent, object]:
    """Send the file at *rel* as a new revision of *remote_path*; returns what
    was sent and the server's entry.  Raises `Changed` if the file is not what
    the scan saw."""
    st = fs.stat(rel)
    if st is None or (st.ino, st.size, st.mtime_ns) != (local.ino, local.size, local.mtime_ns):
        raise Changed(f"{rel} changed since it was scanned")
    hashed = known if known is not None and (
        known.ino, known.size, known.mtime_ns, known.ctime_ns) == st.signature(
    ) else await fs.run(hash_file, fs, rel)
    if hashed.content_hash != local.content_hash:
        raise Changed(f"{rel} changed since it was scanned")
    missing = await api.missing(hashed.blocks)
    sent = 0
    keep_in_cache = local.size <= cache_file_max
    if missing or keep_in_cache:
        sent = await _send_blocks(api, fs, rel, hashed, missing, old, cache, keep_in_cache,
                                  in_flight)
    after = fs.stat(rel)
    if after is None or after.signature() != st.signature():
        raise Changed(f"{rel} changed while it was sent")
    mtime_ms = local.mtime_ns // 1_000_000
    for attempt in (1, 2):
        try:
            entry = await api.commit(remote_path, hashed.blocks, hashed.size, base_rev=base_rev,
                                     mtime=mtime_ms, executable=local.executable)
            break
        except ApiError as exc:
            if exc.status != 412 or attempt == 2:
                raise
            again = {bytes.fromhex(h) for h in exc.body.get("missing", [])}
            sent += await _send_blocks(api, fs, rel, hashed, again, old, cache, False, in_flight)
    return Sent(hashed, sent), entry


async def _send_blocks(api: Api, fs: FS, rel: str, hashed: Hashed, missing: set[bytes],
                       old: Hashed | None, cache: BlockCache, keep_in_cache: bool,
                       in_flight: int) -> int:
    queue: asyncio.Queue[tuple[bytes, bytes, int] | None] = asyncio.Queue(in_flight)
    sent_before = api.sent

    async def sender() -> None:
        while (item := await queue.get()) is not None:
            bid, data, offset = item
            base_id = _best_base(offset, len(data), old)
            base_plain = cache.get(base_id) if base_id is not None and base_id != bid else None
            base = (base_id, base_plain) if base_id is not None and base_plain else None
            await api.put_block(bid, data, base)

    workers = [asyncio.create_task(sender()) for _ in range(in_flight)]
    f = fs.open(rel)
    try:
        offset = 0
        chunks = read_chunks(f)
        for i, expected in enumerate(hashed.blocks):
            chunk = await fs.run(next, chunks, None)
            if chunk is None:
                raise Changed(f"{rel} got shorter while it was sent")
            data = bytes(chunk)
            if hashed.sizes[i] != len(data) or block_id(data) != expected:
                raise Changed(f"{rel} changed while it was sent")
            if expected in missing:
                missing.discard(expected)
                await queue.put((expected, data, offset))
            if keep_in_cache:  # one block at a time: memory stays flat
                await fs.run(cache.put_many, [(expected, data)])
            offset += len(data)
            if any(w.done() for w in workers):
                break  # a sender failed: stop reading, raise below
        for _ in workers:
            await queue.put(None)
        await asyncio.gather(*workers)
    finally:
        f.close()
        for w in workers:
            w.cancel()
    return api.sent - sent_before


async def download(api: Api, fs: FS, disk_key: str, remote_path: str, remote: Remote,
                   expect: Local | None, *, old: Hashed | None, cache: BlockCache,
                   cache_file_max: int, in_flight: int = IN_FLIGHT) -> tuple[Hashed, int]:
    """Fetch *remote* into *disk_key*; returns the new file's hash record and
    the bytes received.  Raises `Changed` if the target is not *expect*."""
    received_before = api.received
    chash, blocks = await api.blocklist(remote_path, remote.rev)
    folder = disk_key.rpartition("/")[0]
    fs.mkdirs(folder)
    tmp, out = fs.create_temp(folder, TEMP_PREFIX)
    have = {bid: (at, n) for bid, at, n in old.offsets()} if old is not None else {}
    src = fs.open(disk_key) if expect is not None and old is not None else None
    keep = remote.size <= cache_file_max
    try:
        try:
            pending: list[asyncio.Task[bytes]] = []
            offset = 0
            for bid, size in blocks:
                pending.append(asyncio.create_task(
                    _fetch(api, fs, bid, offset, size, have, src, old, cache)))
                offset += size
                if len(pending) >= in_flight:
                    await _write(fs, out, pending.pop(0), keep, cache)
            while pending:
                await _write(fs, out, pending.pop(0), keep, cache)
            await fs.run(out.fsync)
        finally:
            out.close()
            if src is not None:
                src.close()
        ids = [b for b, _ in blocks]
        if content_hash(ids).hex() != (remote.content_hash or chash):
            raise ApiError(502, "hash_mismatch", f"{remote_path}: the block list changed", {})
        fs.set_meta(tmp, mtime_ns=remote.mtime * 1_000_000 if remote.mtime is not None else None,
                    executable=remote.executable)
        await fs.run(_check_target, fs, disk_key, expect)
        fs.rename(tmp, disk_key)
        fs.fsync_dir(folder)
    except BaseException:
        fs.unlink(tmp)
        raise
    st = fs.stat(disk_key)
    assert st is not None
    record = Hashed(ino=st.ino, size=st.size, mtime_ns=st.mtime_ns, ctime_ns=st.ctime_ns,
                    content_hash=content_hash(ids).hex(), blocks=ids,
                    sizes=[n for _, n in blocks])
    return record, api.received - received_before


async def _fetch(api: Api, fs: FS, bid: bytes, offset: int, size: int,
                 have: dict[bytes, tuple[int, int]], src: Reader | None, old: Hashed | None,
                 cache: BlockCache) -> bytes:
    if bid in have and src is not None:
        at, n = have[bid]
        data = await fs.run(src.pread, n, at)
        if block_id(data) == bid:
            return data
    cached = await fs.run(cache.get, bid)
    if cached is not None:
        return cached
    base = None
    base_id = _best_base(offset, size, old)
    if base_id is not None and base_id in have and src is not None:
        at, n = have[base_id]
        plain = await fs.run(src.pread, n, at)
        if block_id(plain) == base_id:
            base = (base_id, plain)
    return await api.get_block(bid, base)


async def _write(fs: FS, out: Writer, task: asyncio.Task[bytes], keep: bool,
                 cache: BlockCache) -> None:
    data = await task
    await fs.run(out.write, data)
    if keep:  # one block at a time: memory stays flat
        await fs.run(cache.put_many, [(block_id(data), data)])


def _check_target(fs: FS, rel: str, expect: Local | None) -> None:
    """The last look before a rename: the target must be what the plan saw."""
    st = fs.stat(rel)
    if st is None:
        if expect is None:
            return
        raise Changed(f"{rel} went away since it was scanned")
    if expect is None or st.kind != "file":
        raise Changed(f"{rel} appeared since the scan")
    if (st.ino, st.size, st.mtime_ns) != (expect.ino, expect.size, expect.mtime_ns):
        raise Changed(f"{rel} changed since it was scanned")
    # a write within the timestamp granularity may leave the stat as it was
    racy = st.mtime_ns >= fs.now_ns() - DEFAULT_GRANULARITY_NS
    if racy and hash_file(fs, rel).content_hash != expect.content_hash:
        raise Changed(f"{rel} changed since it was scanned")
