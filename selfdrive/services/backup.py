"""Backup to an S3 bucket: the replication loop, metadata snapshots, verify.

Terms (docs/backup.md):

- the *queue* is the table ``backup_queue`` (migration 0012): every block
  recorded in the database and not yet known to be in the bucket.  A trigger
  fills it in the transaction that records the block, so uploads never wait
  for the bucket and a restart loses nothing.
- a *pass* walks the queue once, oldest first, in batches of `BATCH` blocks;
  in a batch, at most ``parallel_uploads`` blocks are read from the local
  store and sent at once (so at most that many blocks are in memory), then
  one short transaction removes what the bucket now has.
- a *snapshot* is SQLite's online backup of meta.db, sealed
  (store/snapshot.py) and uploaded as ``snapshots/<id>``; the id is the UTC
  time it was taken, so names sort by age.  Ordering: the copy is taken, then
  every block that the copy still lists in its own queue is uploaded, and only
  then the snapshot: a snapshot in the bucket never references a block that is
  not there.  After it, all but the newest ``keep_snapshots`` are deleted.

The background loop (`run_forever`) makes a pass, then a snapshot when one is
due (``snapshot_interval_s`` since the last one and something changed, or
``snapshot_after_changes`` changes); when the bucket fails it records the
error and waits, doubling the wait with jitter up to ``max_backoff_s``.
Nothing here deletes a block from the bucket (that is for a later version,
with a grace period longer than the local one).
"""

from __future__ import annotations

import asyncio
import logging
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import anyio.to_thread

from selfdrive.config import BackupConfig
from selfdrive.core.clock import Clock
from selfdrive.core.errors import BlockNotFound, SelfdriveError, StorageError
from selfdrive.store.blockstore import BlockStore
from selfdrive.store.meta import backup as q
from selfdrive.store.meta import gc as gcq
from selfdrive.store.meta.db import Database, backup_file
from selfdrive.store.s3 import S3Bucket, S3Target, block_name
from selfdrive.store.snapshot import seal_file, unseal_file

log = logging.getLogger("selfdrive.backup")

BATCH = 200
SNAPSHOTS = "snapshots/"
#: the loop looks at the queue this often while it is idle (seconds)
IDLE_POLL_S = 2.0
#: a burst of changes waits at least this long after the previous snapshot (seconds)
MIN_SNAPSHOT_GAP_S = 60.0
#: with no change at all, a snapshot is still taken this often (seconds)
UNCHANGED_SNAPSHOT_S = 24 * 3600.0
#: what the snapshots' key is derived for (store/keys.py, derived_key)
SNAPSHOT_KEY_PURPOSE = "backup snapshots"
#: the first wait after a failure (seconds), doubled up to max_backoff_s
FIRST_BACKOFF_S = 1.0

#: told (blocks done, blocks in the pass, bytes sent) as a pass goes on
Progress = Callable[[int, int, int], None]


class BackupNotConfigured(SelfdriveError):
    code = "backup_not_configured"


class BucketUnavailable(StorageError):
    """Every upload of a batch failed: the bucket is down or refuses us."""


@dataclass(frozen=True)
class BackupSettings:
    snapshot_interval_s: float = 3600.0
    snapshot_after_changes: int = 1000
    keep_snapshots: int = 7
    parallel_uploads: int = 8
    max_backoff_s: float = 300.0


@dataclass
class PassReport:
    uploaded: int = 0
    bytes_sent: int = 0
    failed: int = 0
    #: blocks that left the local store meanwhile (collected): nothing to copy
    gone: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Status:
    configured: bool
    target: str
    pending: q.Pending
    state: q.State


@dataclass(frozen=True)
class SnapshotInfo:
    id: str
    size: int
    mtime: float


@dataclass
class VerifyReport:
    snapshot_id: str
    checked: int = 0
    #: (block id, expected stored size, size in the bucket or None if absent)
    bad: list[tuple[bytes, int, int | None]] = field(default_factory=list)

    @property
    def whole(self) -> bool:
        return not self.bad


def s3_target(b: BackupConfig) -> S3Target | None:
    """The bucket [backup] names, or None when backup is off (no bucket)."""
    if not b.bucket:
        return None
    return S3Target(
        bucket=b.bucket, endpoint_url=b.endpoint_url, region=b.region, prefix=b.prefix,
        access_key_id=b.access_key_id, secret_access_key=b.secret_access_key,
        max_in_flight=b.parallel_uploads,
        # one request's own retries (obstore) stop within the loop's longest wait
        retry_timeout_s=min(60.0, max(2.0, b.max_backoff_s)),
    )


def backup_settings(b: BackupConfig) -> BackupSettings:
    return BackupSettings(
        snapshot_interval_s=b.snapshot_interval_s, snapshot_after_changes=b.snapshot_after_changes,
        keep_snapshots=b.keep_snapshots, parallel_uploads=b.parallel_uploads,
        max_backoff_s=b.max_backoff_s)


def snapshot_id_at(ms: int) -> str:
    """``20261127T034000123Z``: sorts by time, and is safe in an object name."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(ms / 1000)) + f"{ms % 1000:03d}Z"


class BackupService:
    def __init__(self, db: Database, blocks: BlockStore, bucket: S3Bucket | None,
                 snapshot_key: bytes, clock: Clock, settings: BackupSettings,
                 work_dir: Path) -> None:
        self.db = db
        self.blocks = blocks
        self.bucket = bucket
        self.snapshot_key = snapshot_key
        self.clock = clock
        self.settings = settings
        self.work_dir = work_dir
        self._lock = asyncio.Lock()  # one pass or snapshot at a time in this process
        # figures for /metrics, kept by the loop
        self.pending = q.Pending(0, 0, None)
        self.uploaded_blocks = 0
        self.uploaded_bytes = 0
        self.failures = 0
        self.last_snapshot_ms: int | None = None
        self.healthy = True

    @property
    def configured(self) -> bool:
        return self.bucket is not None

    def _bucket(self) -> S3Bucket:
        if self.bucket is None:
            raise BackupNotConfigured("no backup bucket is configured: set [backup] bucket"
                                      " (docs/backup.md)")
        return self.bucket

    async def status(self) -> Status:
        async with self.db.read() as conn:
            pending, state = await q.pending(conn), await q.state(conn)
        self.pending = pending
        self.last_snapshot_ms = state.snapshot_at
        target = self.bucket.target.describe() if self.bucket else "not configured"
        return Status(self.configured, target, pending, state)

    # --- copying blocks ---------------------------------------------------------------

    async def copy_pass(self, progress: Progress | None = None) -> PassReport:
        """Walk the queue once and copy every block in it to the bucket.

        Raises BucketUnavailable when a whole batch fails (the rest would too).
        """
        bucket = self._bucket()
        async with self._lock:
            report = PassReport()
            async with self.db.read() as conn:
                total = (await q.pending(conn)).blocks
            after: tuple[int, bytes] | None = None
            while True:
                async with self.db.read() as conn:
                    batch = await q.next_batch(conn, BATCH, after)
                if not batch:
                    break
                await self._copy_batch(bucket, batch, report)
                after = (batch[-1][2], batch[-1][0])
                if progress is not None:
                    done = report.uploaded + report.failed + report.gone
                    progress(done, total, report.bytes_sent)
                if len(batch) < BATCH:
                    break
            await self.status()
            return report

    async def _copy_batch(self, bucket: S3Bucket, batch: Sequence[tuple[bytes, int, int]],
                          report: PassReport) -> None:
        gate = asyncio.Semaphore(self.settings.parallel_uploads)

        async def copy(block_id: bytes) -> tuple[bytes, int, BaseException | None]:
            async with gate:  # bounds the blocks held in memory, not only the requests
                try:
                    sealed = await self.blocks.get(block_id)
                except BlockNotFound as exc:
                    return block_id, 0, exc
                try:
                    await bucket.put(block_name(block_id), sealed)
                except StorageError as exc:
                    return block_id, 0, exc
                return block_id, len(sealed), None

        results = await asyncio.gather(*(copy(block_id) for block_id, _, _ in batch))
        done, failures, gone = [], [], []
        for block_id, size, error in results:
            if error is None:
                done.append(block_id)
                report.uploaded += 1
                report.bytes_sent += size
            elif isinstance(error, BlockNotFound):
                gone.append(block_id)
            else:
                failures.append((block_id, str(error)))
        if gone:
            async with self.db.read() as conn:
                still = await gcq.known_block_ids(conn, gone)
            # Collected meanwhile (its row went too): nothing to copy.  A block
            # whose row stands but whose file is missing stays queued: fsck
            # reports it, and a repair may bring the file back.
            report.gone += len(gone) - len(still)
            failures += [(b, "the block file is missing on the local disk (selfdrive fsck)")
                         for b in still]
            done += [b for b in gone if b not in still]
        report.failed += len(failures)
        report.errors += [error for _, error in failures[:3]]
        now = self.clock.now_ms()
        async with self.db.write() as conn:
            await q.done(conn, done)
            await q.failed(conn, failures)
            if done:
                await q.record_success(conn, now)
        self.uploaded_blocks += sum(error is None for _, _, error in results)
        self.uploaded_bytes += sum(size for _, size, error in results if error is None)
        self.failures += len(failures)
        if failures and not done:
            raise BucketUnavailable(failures[0][1])

    # --- snapshots --------------------------------------------------------------------

    async def snapshot(self, progress: Progress | None = None) -> SnapshotInfo:
        """Take a snapshot, copy every block it needs, upload it, apply retention."""
        bucket = self._bucket()
        snapshot_id = snapshot_id_at(self.clock.now_ms())
        folder = await anyio.to_thread.run_sync(lambda: _work_dir(self.work_dir))
        copy, sealed = folder / f"{snapshot_id}.db", folder / f"{snapshot_id}.sdsn"
        try:
            await anyio.to_thread.run_sync(lambda: backup_file(self.db.path, copy))
            seq, needed = await anyio.to_thread.run_sync(lambda: q.read_snapshot_queue(copy))
            await self._copy_needed(needed, progress)
            digest = await anyio.to_thread.run_sync(
                lambda: seal_file(copy, sealed, self.snapshot_key, snapshot_id))
            size = sealed.stat().st_size
            await bucket.put_file(SNAPSHOTS + snapshot_id, sealed, digest)
        finally:
            await anyio.to_thread.run_sync(lambda: shutil.rmtree(folder, ignore_errors=True))
        now = self.clock.now_ms()
        async with self.db.write() as conn:
            await q.record_snapshot(conn, snapshot_id, now, seq, size)
            await q.record_success(conn, now)
        self.last_snapshot_ms = now
        await self.prune_snapshots()
        log.info("backup: snapshot %s uploaded (%d bytes)", snapshot_id, size)
        return SnapshotInfo(snapshot_id, size, now / 1000)

    async def _copy_needed(self, needed: list[bytes], progress: Progress | None) -> None:
        """Copy passes until no block that the snapshot's copy lists as queued
        is still queued here (uploaded, or collected since)."""
        while needed:
            async with self.db.read() as conn:
                left = await q.still_queued(conn, needed)
            if not left:
                return
            report = await self.copy_pass(progress)
            if report.uploaded == 0:
                async with self.db.read() as conn:
                    if await q.still_queued(conn, needed):
                        raise StorageError(
                            f"{len(left)} blocks that the snapshot needs could not be copied:"
                            f" {report.errors[0] if report.errors else 'see backup status'}")
            needed = list(left)

    async def snapshots(self) -> list[SnapshotInfo]:
        """The snapshots in the bucket, oldest first."""
        return await list_snapshots(self._bucket())

    async def prune_snapshots(self) -> list[str]:
        """Delete all but the newest ``keep_snapshots`` snapshots."""
        found = await self.snapshots()
        doomed = found[: max(0, len(found) - self.settings.keep_snapshots)]
        for snap in doomed:
            await self._bucket().delete(SNAPSHOTS + snap.id)
        return [s.id for s in doomed]

    async def snapshot_due(self) -> bool:
        async with self.db.read() as conn:
            state, seq = await q.state(conn), await q.change_seq(conn)
        if state.snapshot_at is None:
            return True
        age_s = (self.clock.now_ms() - state.snapshot_at) / 1000
        changed = seq - state.snapshot_seq
        if changed >= self.settings.snapshot_after_changes and age_s >= min(
                MIN_SNAPSHOT_GAP_S, self.settings.snapshot_interval_s):
            return True
        if age_s >= self.settings.snapshot_interval_s and changed > 0:
            return True
        return age_s >= UNCHANGED_SNAPSHOT_S

    # --- checking the bucket ----------------------------------------------------------

    async def fetch_snapshot(self, snapshot_id: str | None, target: Path) -> str:
        return await fetch_snapshot(self._bucket(), self.snapshot_key, snapshot_id, target)

    async def verify(self, snapshot_id: str | None = None) -> VerifyReport:
        """Is every block the snapshot references in the bucket, with its size?"""
        bucket = self._bucket()
        folder = await anyio.to_thread.run_sync(lambda: _work_dir(self.work_dir))
        try:
            copy = folder / "verify.db"
            snapshot_id = await self.fetch_snapshot(snapshot_id, copy)
            needed = await anyio.to_thread.run_sync(lambda: q.read_referenced(copy))
        finally:
            await anyio.to_thread.run_sync(lambda: shutil.rmtree(folder, ignore_errors=True))
        report = VerifyReport(snapshot_id)
        stored: dict[bytes, int] = {}
        async for info in bucket.listing("blocks/"):
            leaf = info.name.rsplit("/", 1)[-1]
            if len(leaf) == 64:
                stored[bytes.fromhex(leaf)] = info.size
        for block_id, size in needed:
            report.checked += 1
            found = stored.get(block_id)
            if found != size:
                report.bad.append((block_id, size, found))
        if report.bad:
            # Send them again at the next pass (a write the bucket lost).
            async with self.db.write() as conn:
                await q.requeue(conn, [b for b, _, _ in report.bad])
        return report

    # --- the background loop ----------------------------------------------------------

    async def run_forever(self) -> None:
        """Copy, snapshot when due, back off while the bucket fails; never fatal."""
        await self.status()
        failures = 0
        while True:
            try:
                report = await self.copy_pass()
                if await self.snapshot_due():
                    await self.snapshot()
                failures = 0
                self.healthy = True
                if report.uploaded:
                    log.info("backup: copied %d blocks (%d bytes)", report.uploaded,
                             report.bytes_sent)
                await asyncio.sleep(IDLE_POLL_S)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                self.healthy = False
                wait = min(self.settings.max_backoff_s, FIRST_BACKOFF_S * 2 ** (failures - 1))
                wait *= random.uniform(0.5, 1.0)  # jitter: many servers do not retry in step
                message = str(exc) if isinstance(exc, SelfdriveError) else repr(exc)
                if isinstance(exc, StorageError):
                    log.warning("backup: %s; trying again in %.1f s", message, wait)
                else:
                    log.exception("backup: failed; trying again in %.1f s", wait)
                await self._record_error(message)
                await asyncio.sleep(wait)

    async def _record_error(self, message: str) -> None:
        try:
            async with self.db.write() as conn:
                await q.record_error(conn, message, self.clock.now_ms())
        except Exception:
            log.exception("backup: cannot record the error")


async def list_snapshots(bucket: S3Bucket) -> list[SnapshotInfo]:
    """The snapshots in the bucket, oldest first."""
    found = [SnapshotInfo(info.name.removeprefix(SNAPSHOTS), info.size, info.mtime)
             async for info in bucket.listing(SNAPSHOTS)]
    return sorted(found, key=lambda s: s.id)


async def fetch_snapshot(bucket: S3Bucket, key: bytes, snapshot_id: str | None,
                         target: Path) -> str:
    """Download and open a snapshot (the newest by default) into *target*;
    returns its id."""
    if snapshot_id is None:
        found = await list_snapshots(bucket)
        if not found:
            raise StorageError(f"there is no snapshot in {bucket.target.describe()}")
        snapshot_id = found[-1].id
    sealed = target.with_name(target.name + ".sdsn")
    try:
        try:
            await bucket.get_to_file(SNAPSHOTS + snapshot_id, sealed)
        except FileNotFoundError:
            raise StorageError(f"there is no snapshot {snapshot_id!r} in"
                               f" {bucket.target.describe()}") from None
        chosen = snapshot_id
        await anyio.to_thread.run_sync(lambda: unseal_file(sealed, target, key, chosen))
    finally:
        sealed.unlink(missing_ok=True)
    return snapshot_id


def _work_dir(parent: Path) -> Path:
    """A new private folder for one snapshot or verify; what crashed runs left
    in *parent* more than a day ago goes first."""
    parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    for old in parent.iterdir():
        if old.stat().st_mtime < time.time() - 24 * 3600:
            shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(dir=parent))
