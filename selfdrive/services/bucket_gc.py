"""Garbage collection in the backup buckets: a block the local garbage
collector deleted is deleted from every bucket too, later and more carefully.

The rule (docs/backup.md, "Garbage collection in the buckets"): a block's
copies go only when

1. its row is still gone (a block stored again takes its row out of
   ``bucket_garbage``, by a trigger),
2. ``bucket_gc_grace_days`` have passed since this loop first *noticed* it
   (``noticed_at``, at or after the local delete), longer than the local
   grace period, and
3. every snapshot kept in every bucket was taken after ``noticed_at``: a
   snapshot is a copy of the database, and a copy made after the block's row
   was deleted cannot reference it; one made before might, and restoring it
   (point in time) needs the block.  So while the retention policy
   (``keep_snapshots``) keeps an older snapshot, the block stays; a bucket
   whose snapshots cannot be listed deletes nothing.

A batch's objects are deleted from every bucket, then its rows in one
transaction; a block stored again meanwhile (its upload may have raced the
delete) is queued to be copied again.  A bucket that fails keeps the batch's
rows for the next pass.  Supervised loop, every ``bucket_gc_interval_s``,
in batches of `BATCH`.
"""

from __future__ import annotations

import asyncio
import calendar
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from selfdrive.core.clock import Clock
from selfdrive.core.errors import StorageError
from selfdrive.services.backup_read import Source, list_snapshots
from selfdrive.store.meta import backup as backupq
from selfdrive.store.meta import coldtier as q
from selfdrive.store.meta import gc as gcq
from selfdrive.store.meta.db import Database
from selfdrive.store.s3 import block_name

log = logging.getLogger("selfdrive.bucket_gc")

BATCH = 500
PARALLEL = 8


@dataclass
class BucketGcReport:
    deleted: int = 0
    deleted_bytes: int = 0
    #: blocks stored again while their copies were being deleted: copied again
    requeued: int = 0
    #: why nothing (more) could be deleted this pass
    errors: list[str] = field(default_factory=list)


def snapshot_ms(snapshot_id: str) -> int:
    """``20261127T034000123Z`` -> ms since the epoch (services/backup.py names them)."""
    seconds = calendar.timegm(time.strptime(snapshot_id[:15], "%Y%m%dT%H%M%S"))
    return seconds * 1000 + int(snapshot_id[15:18])


class BucketGc:
    def __init__(self, db: Database, sources: Sequence[Source], clock: Clock, *,
                 grace_ms: int, interval_s: float) -> None:
        self.db = db
        self.sources = list(sources)
        self.clock = clock
        self.grace_ms = grace_ms
        self.interval_s = interval_s
        self._lock = asyncio.Lock()
        self.deleted_total = 0

    async def pending(self) -> tuple[int, int]:
        async with self.db.read() as conn:
            return await q.garbage_pending(conn)

    async def run_once(self) -> BucketGcReport:
        report = BucketGcReport()
        if not self.sources:
            return report
        async with self._lock:
            now = self.clock.now_ms()
            async with self.db.write() as conn:
                await q.notice_garbage(conn, now)
            oldest = await self._oldest_kept_snapshot(report)
            if oldest is None:
                return report
            before = min(now - self.grace_ms, oldest)
            after = b""
            while True:
                async with self.db.read() as conn:
                    batch = await q.collectable_garbage(conn, before, after, BATCH)
                if not batch:
                    break
                if not await self._delete_batch(batch, report):
                    break
                if len(batch) < BATCH:
                    break
                after = batch[-1][0]
        self.deleted_total += report.deleted
        return report

    async def _oldest_kept_snapshot(self, report: BucketGcReport) -> int | None:
        """The time of the oldest snapshot any bucket keeps (a far future
        when none has one); None if a bucket cannot be listed."""
        oldest = 2**62
        for source in self.sources:
            try:
                found = await list_snapshots(source.bucket)
            except StorageError as exc:
                report.errors.append(f"{source.name}: {exc.message}")
                return None
            for snap in found:
                try:
                    oldest = min(oldest, snapshot_ms(snap.id))
                except ValueError:
                    log.warning("bucket GC: %s holds a snapshot named %r: kept, and nothing"
                                " older than now is deleted", source.name, snap.id)
                    oldest = min(oldest, int(snap.mtime * 1000))
        return oldest

    async def _delete_batch(self, batch: Sequence[tuple[bytes, int]],
                            report: BucketGcReport) -> bool:
        gate = asyncio.Semaphore(PARALLEL)
        failed: list[str] = []

        async def delete(source: Source, block_id: bytes) -> None:
            async with gate:
                try:
                    await source.bucket.delete(block_name(block_id))
                except StorageError as exc:
                    failed.append(f"{source.name}: {exc.message}")

        await asyncio.gather(*(delete(s, b) for s in self.sources for b, _ in batch))
        if failed:
            report.errors.append(failed[0])
            return False
        ids = [b for b, _ in batch]
        async with self.db.write() as conn:
            back = await gcq.known_block_ids(conn, ids)
            for source in self.sources:
                await backupq.requeue(conn, source.name, sorted(back))
            await q.drop_garbage(conn, ids)
        report.requeued += len(back)
        report.deleted += len(batch) - len(back)
        report.deleted_bytes += sum(size for b, size in batch if b not in back)
        return True

    async def run_forever(self) -> None:
        """A pass every ``bucket_gc_interval_s``; never fatal."""
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                report = await self.run_once()
                if report.deleted:
                    log.info("bucket GC: deleted %d blocks (%d bytes) from the buckets",
                             report.deleted, report.deleted_bytes)
                for error in report.errors[:1]:
                    log.warning("bucket GC: %s", error)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("bucket GC: pass failed; trying again in %.0f s",
                              self.interval_s)
