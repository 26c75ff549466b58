"""Background maintenance: trash expiry, revision thinning, garbage collection.

Garbage collection (docs/storage.md, "Garbage collection", states the rule):

1. Expire unfinished uploads and uncommitted sent blocks past their time.
2. *Mark*: every block with no reference gets `unreferenced_since = now`;
   every block referenced again loses it.
3. *Sweep*: blocks unreferenced for at least the grace period lose their row
   (one transaction per batch), then their file, through `BlockStore.collect`,
   which keeps a file touched within the grace period (a dedup at that moment).
4. *Orphans*: block files with no row (a crash between a block write and its
   pin) are collected once idle for the grace period; temp files too.
5. *Staging*: the staged tails of resumable uploads that are gone (expired,
   cancelled, done) are deleted; stale generations once idle.

Before GC, each run also prunes the change journal past its retention
(`ChangeFeed.prune`).

Every step works in bounded batches, so it can run while uploads and commits
go on, and is safe to run from another process (`selfdrive gc`).

The background loop logs each run's start, its end with the report, and a
failure with its traceback; it keeps the last run (`Maintenance.last_run`) and
the last failure (`last_error`), and counts runs for the metrics
(docs/monitoring.md) and the admin page.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass, field

from selfdrive.core.clock import Clock
from selfdrive.services import retention
from selfdrive.services.changes import ChangeFeed
from selfdrive.services.trash import TrashService
from selfdrive.store.blockstore import BlockStore
from selfdrive.store.meta import gc as q
from selfdrive.store.meta import uploads as uploadq
from selfdrive.store.meta.db import Database
from selfdrive.store.staging import Staging

log = logging.getLogger("selfdrive.maintenance")
BATCH = 500


@dataclass(frozen=True)
class Settings:
    interval_s: float = 3600.0
    gc_grace_ms: int = 3600 * 1000
    trash_retention_ms: int = 30 * 24 * 3600 * 1000
    uploaded_block_ttl_ms: int = 7 * 24 * 3600 * 1000
    policy: retention.Policy = field(default_factory=retention.Policy)


@dataclass(frozen=True)
class LastRun:
    """The last background run that ended well."""

    finished_ms: int
    duration_s: float
    report: Report


@dataclass
class Report:
    trash_entries_purged: int = 0
    revisions_thinned: int = 0
    uploads_expired: int = 0
    blocks_freed: int = 0
    bytes_freed: int = 0
    orphans_freed: int = 0
    orphan_bytes_freed: int = 0
    blocks_kept_busy: int = 0
    leftovers_removed: int = 0
    staging_files_freed: int = 0
    journal_rows_pruned: int = 0
    staging_bytes_freed: int = 0

    def summary(self) -> str:
        return (
            f"freed {self.blocks_freed} blocks ({self.bytes_freed} bytes) and"
            f" {self.orphans_freed} orphan blocks ({self.orphan_bytes_freed} bytes);"
            f" purged {self.trash_entries_purged} trash entries, thinned"
            f" {self.revisions_thinned} revisions, expired {self.uploads_expired} uploads;"
            f" freed {self.staging_files_freed} staged tails, pruned"
            f" {self.journal_rows_pruned} journal rows"
        )


class Maintenance:
    def __init__(
        self, db: Database, blocks: BlockStore, trash: TrashService, clock: Clock,
        settings: Settings, staging: Staging | None = None, changes: ChangeFeed | None = None,
    ) -> None:
        self.db = db
        self.blocks = blocks
        self.staging = staging
        self.changes = changes
        self.trash = trash
        self.clock = clock
        self.settings = settings
        self._lock = asyncio.Lock()
        self.last_run: LastRun | None = None
        self.runs_ok = 0
        self.runs_failed = 0
        #: the last failed run: (when it failed, ms; the error), for the admin page
        self.last_error: tuple[int, str] | None = None

    @property
    def running(self) -> bool:
        """Whether a run (or a GC) is under way in this process now."""
        return self._lock.locked()

    async def run_once(self) -> Report:
        """Everything, in the order that frees the most: trash, thinning, then GC."""
        async with self._lock:
            report = Report()
            report.trash_entries_purged = await self.trash.expire(
                self.settings.trash_retention_ms
            )
            report.revisions_thinned = await self.thin_revisions()
            if self.changes is not None:
                report.journal_rows_pruned = await self.changes.prune()
            await self._gc(report)
            return report

    async def gc(self) -> Report:
        async with self._lock:
            report = Report()
            await self._gc(report)
            return report

    async def thin_revisions(self) -> int:
        """Apply the retention policy to every file with old revisions, in batches."""
        removed, after = 0, 0
        while True:
            now = self.clock.now_ms()
            async with self.db.write() as conn:
                files = await q.files_with_revisions_since(conn, after, BATCH)
                doomed: list[int] = []
                for node_id in files:
                    revs = [retention.Rev(rid, created, pinned)
                            for rid, _rev, created, pinned in await q.revision_times(conn, node_id)]
                    doomed += retention.to_remove(revs, now, self.settings.policy)
                await q.delete_revisions(conn, doomed)
            removed += len(doomed)
            if len(files) < BATCH:
                return removed
            after = files[-1]

    async def _gc(self, report: Report) -> None:
        now = self.clock.now_ms()
        grace_start = now - self.settings.gc_grace_ms
        idle_since = grace_start / 1000
        async with self.db.write() as conn:
            report.uploads_expired = await q.expire_uploads(conn, now)
            await q.expire_uploaded_blocks(conn, now - self.settings.uploaded_block_ttl_ms)
            await q.mark_unreferenced(conn, now)
        while True:
            async with self.db.write() as conn:
                rows = await q.take_collectable(conn, grace_start, BATCH)
            # Rows are gone (committed): now the files, several at a time (the
            # block store bounds its own I/O threads).
            gone = await asyncio.gather(
                *(self.blocks.collect(block_id, idle_since) for block_id, _ in rows)
            )
            for (_, stored_size), freed in zip(rows, gone, strict=True):
                if freed:
                    report.blocks_freed += 1
                    report.bytes_freed += stored_size
                else:
                    report.blocks_kept_busy += 1  # touched by a dedup just now
            if len(rows) < BATCH:
                break
        await self._sweep_orphans(report, idle_since)
        report.leftovers_removed = await self.blocks.remove_leftovers(idle_since)
        await self._sweep_staging(report)

    async def _sweep_staging(self, report: Report) -> None:
        """Free the staged tails of uploads that expired, ended or moved on."""
        if self.staging is None:
            return
        listed = await self.staging.listing()  # before the query: see Staging.collect
        async with self.db.read() as conn:
            live, known = await uploadq.staging_refs(conn)
        report.staging_files_freed, report.staging_bytes_freed = await self.staging.collect(
            listed, live, known, self.settings.gc_grace_ms / 1000
        )

    async def _sweep_orphans(self, report: Report, idle_since: float) -> None:
        batch: list[tuple[bytes, int]] = []
        async for stored in self.blocks.scan():
            if stored.mtime < idle_since:
                batch.append((stored.id, stored.stored_size))
            if len(batch) >= BATCH:
                await self._collect_orphans(batch, report, idle_since)
                batch = []
        await self._collect_orphans(batch, report, idle_since)

    async def _collect_orphans(
        self, batch: list[tuple[bytes, int]], report: Report, idle_since: float
    ) -> None:
        if not batch:
            return
        async with self.db.read() as conn:
            known = await q.known_block_ids(conn, [bid for bid, _ in batch])
        orphans = [(block_id, size) for block_id, size in batch if block_id not in known]
        gone = await asyncio.gather(
            *(self.blocks.collect(block_id, idle_since) for block_id, _ in orphans)
        )
        for (_, size), freed in zip(orphans, gone, strict=True):
            if freed:
                report.orphans_freed += 1
                report.orphan_bytes_freed += size

    async def run_forever(self) -> None:
        """The background loop: one run per interval; a failed run is logged
        and retried at the next interval, never fatal to the server."""
        while True:
            await asyncio.sleep(self.settings.interval_s)
            await self._run_logged()

    async def _run_logged(self) -> None:
        log.info("maintenance: starting (trash expiry, revision thinning, garbage collection)")
        started = self.clock.monotonic()
        try:
            report = await self.run_once()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.runs_failed += 1
            self.last_error = (self.clock.now_ms(), f"{type(exc).__name__}: {exc}")
            log.exception("maintenance: run failed after %.1f s; trying again in %.0f s",
                          self.clock.monotonic() - started, self.settings.interval_s)
            return
        duration = self.clock.monotonic() - started
        self.runs_ok += 1
        self.last_run = LastRun(self.clock.now_ms(), duration, report)
        log.info("maintenance: done in %.1f s: %s", duration, report.summary(),
                 extra={"fields": {"duration_s": round(duration, 3), **asdict(report)}})
