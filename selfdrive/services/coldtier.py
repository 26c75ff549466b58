"""The cold tier: blocks that only long-replaced revisions list leave the
local disk for the backup buckets, and come back when read.

Terms (docs/backup.md, "Cold tier"; the queries' own in store/meta/coldtier.py):

- a revision is *old* once a later revision of its file was made more than
  ``cold_after_days`` ago; a block is *hot* while a revision that is not old
  lists it (a current file's, live or in the trash), or an upload holds it.
- a block is *tiered* ('cold' in ``cold_blocks``) when its file is gone from
  the local disk and every backup bucket holds a verified copy.

A *pass* (the supervised loop, every ``cold_interval_s``, in batches of
``cold_batch_blocks``) first brings back blocks in the tier that are hot
again, then moves tierable blocks.  Order for one block, so that a crash at
any point loses nothing:

1. the local file is read; with a cold storage class it is uploaded again
   to every bucket under that class; then each bucket's copy is checked by
   HEAD: its size and the SHA-256 recorded at upload (which S3 checked
   against the body) must be those of the local file;
2. the row goes to 'moving' (committed);
3. the local file is collected (`BlockStore.collect`: kept if a dedup
   touched it since the pass chose the block);
4. the row goes to 'cold', or back to 'local' if the file was kept.

A read of a block without a local file (`fetch`, called by the content
store for every reader) takes it from the first bucket that has it, the
primary first; the content store opens it (AEAD and hash) and `keep` puts
it back on the local disk ('local': tiered again only ``cold_after_days``
later).  Under an archive class (GLACIER, DEEP_ARCHIVE) the bucket must
restore an object first: `prepare` (before a download's first byte) and
`fetch` ask for the restore once (remembered in ``restore_requested_at``)
and raise BlockRestoring, which the API answers with 202 and Retry-After.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from selfdrive.config import BackupConfig
from selfdrive.core.clock import Clock
from selfdrive.core.errors import (
    BlockNotFound,
    BlockRestoring,
    ObjectArchived,
    SelfdriveError,
    StorageError,
)
from selfdrive.services.backup_read import Source
from selfdrive.store.blockstore import BlockStore
from selfdrive.store.content import ContentStore
from selfdrive.store.meta import backup as backupq
from selfdrive.store.meta import coldtier as q
from selfdrive.store.meta.db import Database
from selfdrive.store.s3 import block_name
from selfdrive.store.s3_archive import (
    ARCHIVE_CLASSES,
    S3Archive,
    restore_time_s,
    signer_available,
)

log = logging.getLogger("selfdrive.coldtier")

DAY_MS = 24 * 3600 * 1000
#: bucket requests in flight at once for one pass or one read's checks
PARALLEL = 8
#: when a restore takes longer than the class's figure, ask again this much later (s)
LATE_RESTORE_S = 15 * 60


@dataclass(frozen=True)
class ColdSettings:
    #: blocks of revisions replaced this long ago go to the tier (0: off)
    after_ms: int = 0
    storage_class: str = ""
    restore_days: int = 7
    restore_tier: str = "Standard"
    interval_s: float = 3600.0
    batch: int = 200


@dataclass
class TierReport:
    moved: int = 0
    moved_bytes: int = 0
    #: touched by a dedup while being moved: kept local
    kept_busy: int = 0
    #: a bucket's copy missing or not matching: queued to be copied again
    not_in_bucket: int = 0
    brought_back: int = 0
    errors: list[str] = field(default_factory=list)


class ColdTier:
    def __init__(self, db: Database, local: BlockStore, content: ContentStore,
                 sources: Sequence[Source], archives: dict[str, S3Archive], clock: Clock,
                 settings: ColdSettings) -> None:
        """*sources* are the backup buckets, the primary first; *archives*
        their restore clients, by target name (only for archive classes)."""
        self.db = db
        self.local = local
        self.content = content
        self.sources = list(sources)
        self.archives = archives
        self.clock = clock
        self.settings = settings
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        # figures for /metrics, kept by the loop
        self.last_usage: q.Usage | None = None
        self.moved_total = 0
        self.brought_back_total = 0

    @property
    def enabled(self) -> bool:
        return self.settings.after_ms > 0 and bool(self.sources)

    def wake(self) -> None:
        self._wake.set()

    async def usage(self) -> q.Usage:
        async with self.db.read() as conn:
            self.last_usage = await q.usage(conn)
        return self.last_usage

    # --- moving blocks to the tier ------------------------------------------------------

    async def tier_pass(self) -> TierReport:
        """Bring back what is hot again, then move every tierable block, in batches."""
        report = TierReport()
        if not self.enabled:
            return report
        async with self._lock:
            await self._bring_back_hot(report)
            after = b""
            while True:
                selected_ms = self.clock.now_ms()
                async with self.db.read() as conn:
                    batch = await q.candidates(conn, selected_ms - self.settings.after_ms,
                                               after, self.settings.batch)
                if not batch:
                    break
                await self._tier_batch(batch, selected_ms, report)
                if len(batch) < self.settings.batch:
                    break
                after = batch[-1].block_id
        self.moved_total += report.moved
        await self.usage()
        return report

    async def _tier_batch(self, batch: Sequence[q.Candidate], selected_ms: int,
                          report: TierReport) -> None:
        gate = asyncio.Semaphore(PARALLEL)
        missing: dict[str, list[bytes]] = {}

        async def verified(c: q.Candidate) -> bool:
            async with gate:
                try:
                    sealed = await self.local.get(c.block_id)
                except BlockNotFound:
                    # A 'moving' row whose file a crashed pass already
                    # collected: its copies were verified before the row.
                    return c.state == q.MOVING
                try:
                    return await self._copies_match(c.block_id, sealed, missing)
                except StorageError as exc:
                    report.errors.append(str(exc))
                    return False

        checks = await asyncio.gather(*(verified(c) for c in batch))
        moving = [c for c, ok in zip(batch, checks, strict=True) if ok]
        if missing:
            async with self.db.write() as conn:
                for target, ids in missing.items():
                    await backupq.requeue(conn, target, ids)
            report.not_in_bucket += sum(len(ids) for ids in missing.values())
        if not moving:
            return
        now = self.clock.now_ms()
        async with self.db.write() as conn:
            await q.set_state(conn, [c.block_id for c in moving], q.MOVING, now,
                              self.settings.storage_class)
        idle_since = selected_ms / 1000
        freed = await asyncio.gather(*(self.local.collect(c.block_id, idle_since)
                                       for c in moving))
        gone = [c for c, ok in zip(moving, freed, strict=True) if ok]
        kept = [c.block_id for c, ok in zip(moving, freed, strict=True) if not ok]
        now = self.clock.now_ms()
        async with self.db.write() as conn:
            await q.set_state(conn, [c.block_id for c in gone], q.COLD, now)
            await q.set_state(conn, kept, q.LOCAL, now)
        report.moved += len(gone)
        report.moved_bytes += sum(c.stored_size for c in gone)
        report.kept_busy += len(kept)

    async def _copies_match(self, block_id: bytes, sealed: bytes,
                            missing: dict[str, list[bytes]]) -> bool:
        """Upload under the cold class (if any), then HEAD every bucket's copy:
        the local file's size and SHA-256, or it is not moved."""
        digest = hashlib.sha256(sealed).hexdigest()
        name = block_name(block_id)
        whole = True
        for source in self.sources:
            if self.settings.storage_class:
                await source.bucket.put(name, sealed, self.settings.storage_class)
            stat = await source.bucket.stat(name)
            if stat is None or stat.size != len(sealed) or stat.sha256 != digest:
                log.warning("cold tier: block %s in the %s bucket is %s; copying it again",
                            block_id.hex(), source.name,
                            "missing" if stat is None else "not the local copy")
                missing.setdefault(source.name, []).append(block_id)
                whole = False
        return whole

    async def _bring_back_hot(self, report: TierReport) -> None:
        """Blocks in the tier that a current file lists again (a restored
        revision, a commit of blocks the user had) come back to the disk."""
        cutoff = self.clock.now_ms() - self.settings.after_ms
        async with self.db.read() as conn:
            hot = await q.hot_in_tier(conn, cutoff, self.settings.batch)
        back: list[bytes] = []
        for row in hot:
            if await self.local.exists(row.block_id):
                back.append(row.block_id)
                continue
            try:
                await self.content.read_block(row.block_id)  # fetch, open, keep
                report.brought_back += 1
            except SelfdriveError as exc:  # restoring, or a bucket down: next pass
                report.errors.append(f"block {row.block_id.hex()}: {exc.message}")
        if back:
            async with self.db.write() as conn:
                await q.set_state(conn, back, q.LOCAL, self.clock.now_ms())
            report.brought_back += len(back)

    # --- reading blocks back (the content store's Recall) -------------------------------

    async def prepare(self, block_ids: Sequence[bytes]) -> None:
        if not self.sources:
            return
        async with self.db.read() as conn:
            found = await q.rows(conn, block_ids)
        now = self.clock.now_ms()
        archived = [r for r in found.values() if r.state == q.COLD
                    and r.storage_class in ARCHIVE_CLASSES
                    and (r.restored_until is None or r.restored_until <= now)]
        if archived:
            await self._ensure_restored(archived)

    async def fetch(self, block_id: bytes) -> bytes:
        async with self.db.read() as conn:
            row = (await q.rows(conn, [block_id])).get(block_id)
        if row is None or row.state == q.LOCAL:
            raise BlockNotFound(f"block {block_id.hex()} is missing from the local disk")
        errors: list[str] = []
        archived = False
        for source in self.sources:
            try:
                return await source.bucket.get(block_name(block_id))
            except FileNotFoundError:
                continue
            except ObjectArchived:
                archived = True
            except StorageError as exc:
                errors.append(f"{source.name}: {exc.message}")
        if archived:
            await self._ensure_restored([row])
        if errors:
            raise StorageError(f"block {block_id.hex()} is in the cold tier and no bucket"
                               " could be read: " + "; ".join(errors))
        raise BlockNotFound(f"block {block_id.hex()} is in the cold tier but no backup bucket"
                            " has it (selfdrive fsck --remote)")

    async def keep(self, block_id: bytes, sealed: bytes) -> None:
        try:
            await self.local.put(block_id, sealed)
            async with self.db.write() as conn:
                await q.set_state(conn, [block_id], q.LOCAL, self.clock.now_ms())
        except Exception:  # the read itself worked; the block stays in the tier
            log.exception("cold tier: block %s read from the bucket but not kept locally",
                          block_id.hex())
            return
        self.brought_back_total += 1

    async def _ensure_restored(self, rows: Sequence[q.ColdRow]) -> None:
        """Ask each bucket object of an archive class for its restore state;
        request the restores not asked for yet (once); raise BlockRestoring
        unless every one is readable."""
        gate = asyncio.Semaphore(PARALLEL)
        now = self.clock.now_ms()
        ready: list[tuple[bytes, int]] = []
        requested: list[bytes] = []
        waiting_until: list[int] = []

        async def one(row: q.ColdRow) -> None:
            async with gate:
                until = await self._restore_state(row, now, requested)
            if until is None:
                started = row.restore_requested_at or now
                due = started + 1000 * restore_time_s(row.storage_class,
                                                      self.settings.restore_tier)
                waiting_until.append(due if due > now else now + LATE_RESTORE_S * 1000)
            elif until > 0:
                ready.append((row.block_id, until))

        await asyncio.gather(*(one(r) for r in rows))
        if ready or requested:
            async with self.db.write() as conn:
                await q.restored(conn, ready)
                await q.restore_requested(conn, requested, now)
        if waiting_until:
            retry_at_ms = max(waiting_until)
            retry_at = datetime.fromtimestamp(retry_at_ms / 1000, UTC).strftime(
                "%Y-%m-%dT%H:%M:%SZ")
            classes = sorted({r.storage_class for r in rows})
            raise BlockRestoring(
                f"this content is in cold storage ({', '.join(classes)}); restoring"
                f" {len(waiting_until)} blocks, try again at {retry_at}",
                retry_at=retry_at, retry_after_s=max(1, (retry_at_ms - now + 999) // 1000),
                blocks=len(waiting_until))

    async def _restore_state(self, row: q.ColdRow, now: int, requested: list[bytes]) -> int | None:
        """Until when the block can be read (ms; 0: readable, no expiry
        known), or None while a restore is under way (requested here if
        nobody had asked yet, or the last one expired)."""
        name = block_name(row.block_id)
        errors: list[str] = []
        for source in self.sources:
            archive = self.archives.get(source.name)
            if archive is None:
                continue
            try:
                state = await archive.state(name)
                if state is None:
                    continue  # not in this bucket: the next one, or fetch says so
                if state.storage_class not in ARCHIVE_CLASSES:
                    return 0
                if state.ongoing is False:
                    return state.expiry_ms or 0
                if state.ongoing is None:
                    lapsed = (row.restore_requested_at is None or row.restore_requested_at
                              + self.settings.restore_days * DAY_MS <= now)
                    if lapsed:
                        await archive.request_restore(name, self.settings.restore_days,
                                                      self.settings.restore_tier)
                        requested.append(row.block_id)
                        log.info("cold tier: restore of block %s requested from the %s"
                                 " bucket", row.block_id.hex(), source.name)
                return None
            except (StorageError, FileNotFoundError) as exc:
                errors.append(f"{source.name}: {exc}")
        if errors:
            raise StorageError(f"block {row.block_id.hex()} is in cold storage and no bucket"
                               " answered: " + "; ".join(errors))
        return 0  # in no bucket: the GET that follows says so

    # --- fsck --remote ------------------------------------------------------------------

    async def missing_remotely(self, block_ids: Sequence[bytes]) -> dict[bytes, str]:
        """Of tiered blocks, those no bucket holds whole (by HEAD: present,
        of the stored size), with why."""
        async with self.db.read() as conn:
            sizes = await q.stored_sizes(conn, block_ids)
        gate = asyncio.Semaphore(PARALLEL)
        out: dict[bytes, str] = {}

        async def one(block_id: bytes) -> None:
            async with gate:
                problems = []
                for source in self.sources:
                    try:
                        stat = await source.bucket.stat(block_name(block_id))
                    except StorageError as exc:
                        problems.append(f"{source.name}: {exc.message}")
                        continue
                    if stat is not None and stat.size == sizes.get(block_id, stat.size):
                        return
                    problems.append(f"{source.name}: "
                                    + ("missing" if stat is None else f"{stat.size} bytes"))
                out[block_id] = "in the cold tier but in no bucket (" + "; ".join(problems) + ")"

        await asyncio.gather(*(one(b) for b in block_ids))
        return out

    async def close(self) -> None:
        for archive in self.archives.values():
            await archive.close()

    # --- the loop -----------------------------------------------------------------------

    async def run_forever(self) -> None:
        """A pass every ``cold_interval_s`` (or when woken); never fatal."""
        while True:
            started = time.monotonic()
            try:
                report = await self.tier_pass()
                if report.moved or report.brought_back:
                    log.info("cold tier: moved %d blocks (%d bytes) to the buckets, brought"
                             " back %d", report.moved, report.moved_bytes, report.brought_back)
                for error in report.errors[:3]:
                    log.warning("cold tier: %s", error)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("cold tier: pass failed; trying again in %.0f s",
                              self.settings.interval_s)
            wait = max(0.05, self.settings.interval_s - (time.monotonic() - started))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)


def cold_settings(b: BackupConfig) -> ColdSettings:
    return ColdSettings(
        after_ms=int(b.cold_after_days * DAY_MS), storage_class=b.cold_storage_class,
        restore_days=b.cold_restore_days, restore_tier=b.cold_restore_tier,
        interval_s=b.cold_interval_s, batch=b.cold_batch_blocks)


def open_cold_tier(b: BackupConfig, db: Database, local: BlockStore, content: ContentStore,
                   sources: Sequence[Source], clock: Clock) -> ColdTier:
    """The cold tier of the config, set as the content store's recall (which
    reads of tiered blocks need even with tiering turned off since)."""
    settings = cold_settings(b)
    archived = settings.storage_class in ARCHIVE_CLASSES
    if archived and sources and not signer_available():
        raise StorageError(f"backup.cold_storage_class {settings.storage_class} needs botocore"
                           " to request restores: pip install 'selfdrive[archive]'"
                           " (docs/backup.md, \"Cold tier\")")
    archives = {s.name: S3Archive(s.bucket.target) for s in sources if archived}
    tier = ColdTier(db, local, content, sources, archives, clock, settings)
    content.recall = tier
    return tier
