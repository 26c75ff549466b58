"""Reading the backup buckets back: their snapshots, a snapshot or a block
from whichever bucket has it, and verify.

Terms (docs/backup.md): a *target* is a bucket that blocks and snapshots are
copied to, named ``primary`` ([backup]) or ``replica`` ([backup.replica]).
Reads try the targets in order (the primary first) and fall back to the next
when one is unreachable or lacks the object: "a file not available in one
region is fetched from the other".  A read never mixes up *missing* (the
bucket answered: no such object) and *unreachable* (it did not answer).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import anyio.to_thread

from selfdrive.core.errors import BlockNotFound, StorageError
from selfdrive.store.blockstore import BlockStore
from selfdrive.store.s3 import S3Bucket, block_name
from selfdrive.store.snapshot import unseal_file

SNAPSHOTS = "snapshots/"


@dataclass(frozen=True)
class Source:
    """A bucket to read from, by its target's name."""

    name: str
    bucket: S3Bucket


@dataclass(frozen=True)
class SnapshotInfo:
    id: str
    size: int
    mtime: float


async def list_snapshots(bucket: S3Bucket) -> list[SnapshotInfo]:
    """The snapshots in the bucket, oldest first."""
    found = [SnapshotInfo(info.name.removeprefix(SNAPSHOTS), info.size, info.mtime)
             async for info in bucket.listing(SNAPSHOTS)]
    return sorted(found, key=lambda s: s.id)


@dataclass
class Catalogue:
    """Which snapshots each reachable source holds, and why the others
    could not be asked."""

    snapshots: dict[str, list[SnapshotInfo]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def newest(self) -> str | None:
        ids = [s.id for found in self.snapshots.values() for s in found]
        return max(ids) if ids else None

    def holding(self, snapshot_id: str) -> list[str]:
        return [name for name, found in self.snapshots.items()
                if any(s.id == snapshot_id for s in found)]


async def catalogue(sources: Sequence[Source]) -> Catalogue:
    """List every source's snapshots, at once; an unreachable one is noted."""
    out = Catalogue()

    async def one(source: Source) -> None:
        try:
            out.snapshots[source.name] = await list_snapshots(source.bucket)
        except StorageError as exc:
            out.errors[source.name] = str(exc)

    await asyncio.gather(*(one(s) for s in sources))
    return out


async def fetch_snapshot(bucket: S3Bucket, key: bytes, snapshot_id: str, target: Path) -> None:
    """Download and open one snapshot into *target*."""
    sealed = target.with_name(target.name + ".sdsn")
    try:
        try:
            await bucket.get_to_file(SNAPSHOTS + snapshot_id, sealed)
        except FileNotFoundError:
            raise StorageError(f"there is no snapshot {snapshot_id!r} in"
                               f" {bucket.target.describe()}") from None
        await anyio.to_thread.run_sync(lambda: unseal_file(sealed, target, key, snapshot_id))
    finally:
        sealed.unlink(missing_ok=True)


async def fetch_any_snapshot(sources: Sequence[Source], key: bytes, snapshot_id: str | None,
                             target: Path) -> tuple[str, str]:
    """Open a snapshot (the newest any source holds, by default) into
    *target*, from the first source that holds it and delivers it whole;
    returns (its id, the source's name)."""
    found = await catalogue(sources)
    if not found.snapshots:
        raise StorageError("no backup bucket answered: " + "; ".join(
            f"{name}: {error}" for name, error in found.errors.items()))
    chosen = snapshot_id or found.newest()
    if chosen is None:
        raise StorageError("there is no snapshot in " + ", ".join(
            s.bucket.target.describe() for s in sources if s.name in found.snapshots))
    holders = found.holding(chosen)
    if not holders:
        raise StorageError(f"there is no snapshot {chosen!r} in " + ", ".join(
            s.bucket.target.describe() for s in sources if s.name in found.snapshots)
            + "".join(f" ({name} unreachable: {e})" for name, e in found.errors.items()))
    errors = []
    for source in sources:
        if source.name in holders:
            try:
                await fetch_snapshot(source.bucket, key, chosen, target)
                return chosen, source.name
            except StorageError as exc:
                errors.append(f"{source.name}: {exc}")
    raise StorageError(f"snapshot {chosen} could not be read: " + "; ".join(errors))


async def fetch_block(sources: Sequence[Source], block_id: bytes) -> tuple[bytes, str] | None:
    """A sealed block from the first source that has it (its SHA-256 checked
    by `S3Bucket.get`), with the source's name; None if every source answered
    that it has no such block.  StorageError if none has it and one could not
    be asked (or held a damaged copy)."""
    errors = []
    for source in sources:
        try:
            return await source.bucket.get(block_name(block_id)), source.name
        except FileNotFoundError:
            continue
        except StorageError as exc:
            errors.append(f"{source.name}: {exc}")
    if errors:
        raise StorageError(f"block {block_id.hex()}: " + "; ".join(errors))
    return None


# --- verify -------------------------------------------------------------------------------

@dataclass
class BadObject:
    block_id: bytes
    #: "missing", "N bytes instead of M", "SHA-256 differs", "no SHA-256 recorded"
    problem: str


@dataclass
class TargetCheck:
    """One bucket's verify: its newest snapshot (or the one asked for), and
    whether every block that snapshot references is there, whole."""

    name: str
    where: str
    snapshot_id: str | None = None
    checked: int = 0
    #: blocks whose SHA-256 was compared with the local copy's
    checksummed: int = 0
    bad: list[BadObject] = field(default_factory=list)
    #: why the bucket or its snapshot could not be checked
    error: str | None = None

    @property
    def whole(self) -> bool:
        return self.error is None and not self.bad


async def check_blocks(bucket: S3Bucket, local: BlockStore,
                       needed: Sequence[tuple[bytes, int]], parallel: int, *,
                       download: bool, check: TargetCheck) -> None:
    """HEAD every needed block: present, of the stored size, and carrying the
    SHA-256 of the local copy's bytes (S3 checked the body against that
    checksum when it took the upload).  With *download*, GET each one as
    well and hash what comes back (finds damage inside the bucket, which a
    HEAD cannot)."""
    gate = asyncio.Semaphore(parallel)

    async def one(block_id: bytes, size: int) -> None:
        async with gate:
            stat = await bucket.stat(block_name(block_id))
            check.checked += 1
            if stat is None:
                check.bad.append(BadObject(block_id, "missing"))
                return
            if stat.size != size:
                check.bad.append(BadObject(block_id, f"{stat.size} bytes instead of {size}"))
                return
            if stat.sha256 is None:
                check.bad.append(BadObject(block_id, "no SHA-256 recorded"))
                return
            try:
                mine = hashlib.sha256(await local.get(block_id)).hexdigest()
            except (BlockNotFound, StorageError):
                mine = None  # fsck reports it; the bucket's copy may be the only one
            if mine is not None:
                check.checksummed += 1
                if mine != stat.sha256:
                    check.bad.append(BadObject(block_id, "SHA-256 differs"))
                    return
            if download:
                try:
                    data = await bucket.get(block_name(block_id))
                except FileNotFoundError:
                    check.bad.append(BadObject(block_id, "missing"))
                    return
                except StorageError as exc:
                    check.bad.append(BadObject(block_id, str(exc)))
                    return
                if hashlib.sha256(data).hexdigest() != stat.sha256:
                    check.bad.append(BadObject(block_id, "SHA-256 differs"))

    for start in range(0, len(needed), 1000):  # bounded: a thousand tasks at a time
        await asyncio.gather(*(one(b, s) for b, s in needed[start:start + 1000]))
