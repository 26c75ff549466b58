"""Backup to S3 buckets: the replication loop, metadata snapshots, verify.

Terms (docs/backup.md):

- a *target* is a bucket that gets every block and snapshot: ``primary``
  ([backup]) and, when configured, ``replica`` ([backup.replica]).  Each has
  its own progress: a block one bucket acknowledged and the other did not
  stays queued for the other, and a bucket that is down does not hold the
  other back.
- the *queue* is the table ``backup_queue`` (migrations 0012, 0013): one row
  per (block, target) not yet known to be in that target's bucket.  A
  trigger fills it in the transaction that records the block, so uploads
  never wait for a bucket and a restart loses nothing.  `bind` ties each
  target's queue to the bucket the config names; a new or changed bucket
  gets every block queued, an unconfigured replica's queue is dropped.
- a *pass* walks the queue once, oldest first, in batches of `BATCH` blocks;
  in a batch, at most ``parallel_uploads`` blocks are read from the local
  store at once (so at most that many are in memory); while users upload
  (a block arrived within `USERS_QUIET_S`), none is started, so that
  replication takes none of the CPU and disk they need (measured:
  benchmarks/backup.py, docs/benchmarks.md), except one at a time once users
  have kept it waiting `MAX_YIELD_S`: a server that never stops receiving
  still gets its backup.  Each block is read once and
  sent to every target it is queued for; then one short transaction removes
  what the buckets now have.  A target whose upload fails (after the S3
  client's own retries) is left alone for the rest of the pass.
- a *snapshot* is SQLite's online backup of meta.db, sealed
  (store/snapshot.py) and uploaded as ``snapshots/<id>`` to each target; the
  id is the UTC time it was taken, so names sort by age.  Ordering, per
  target: the copy is taken, then every block that the copy still lists as
  queued for that target is uploaded to it, and only then the snapshot: a
  snapshot in a bucket never references a block that is not there.  After
  it, all but the newest ``keep_snapshots`` are deleted from that bucket.

The background loop (`run_forever`) makes a pass, then a snapshot when one is
due (``snapshot_interval_s`` since the last one and something changed, or
``snapshot_after_changes`` changes); a target that fails is recorded and
waited for, doubling the wait with jitter up to ``max_backoff_s``, while the
other goes on.  The buckets, their settings and backoff are in
backup_targets.py; deleting blocks from the buckets, after a grace period
longer than the local one, is bucket_gc.py's; moving old blocks to them,
coldtier.py's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import anyio.to_thread

from selfdrive.core.clock import Clock
from selfdrive.core.errors import (
    BackupNotConfigured,
    BlockNotFound,
    BucketUnavailable,
    StorageError,
)
from selfdrive.services.backup_read import (
    SNAPSHOTS,
    SnapshotInfo,
    Source,
    TargetCheck,
    check_blocks,
    fetch_snapshot,
    list_snapshots,
)
from selfdrive.services.backup_targets import (
    BackupSettings,
    Status,
    Target,
    TargetStatus,
)
from selfdrive.store.blockstore import BlockStore
from selfdrive.store.meta import backup as q
from selfdrive.store.meta import gc as gcq
from selfdrive.store.meta.db import Database, backup_file
from selfdrive.store.s3 import block_name
from selfdrive.store.snapshot import seal_file

log = logging.getLogger("selfdrive.backup")

BATCH = 200
#: blocks copied at once while users upload: none (2 at once still cost
#: users 17-41% of their upload rate on 2 CPUs, docs/benchmarks.md)
WHILE_USERS_UPLOAD = 0
#: users count as uploading until this long after their last block arrived (seconds)
USERS_QUIET_S = 2.0
#: after waiting this long for users in one go, copying goes on one block at
#: a time while they upload (seconds)
MAX_YIELD_S = 600.0
#: a pass records what the buckets acknowledged once this many uploads
#: ended, or this long after it last did (seconds), whichever comes first
FLUSH_OUTCOMES = 32
FLUSH_S = 0.5
#: the loop looks at the queue this often while it is idle (seconds)
IDLE_POLL_S = 2.0
#: a burst of changes waits at least this long after the previous snapshot (seconds)
MIN_SNAPSHOT_GAP_S = 60.0
#: with no change at all, a snapshot is still taken this often (seconds)
UNCHANGED_SNAPSHOT_S = 24 * 3600.0
#: what the snapshots' key is derived for (store/keys.py, derived_key)
SNAPSHOT_KEY_PURPOSE = "backup snapshots"

#: told (blocks done, blocks in the pass, bytes sent) as a pass goes on
Progress = Callable[[int, int, int], None]
#: one upload's end: (block id, target, bytes sent, the error or None)
Outcome = tuple[bytes, str, int, BaseException | None]


@dataclass
class PassReport:
    uploaded: int = 0
    bytes_sent: int = 0
    failed: int = 0
    #: blocks that left the local store meanwhile (collected): nothing to copy
    gone: int = 0
    errors: list[str] = field(default_factory=list)
    #: targets whose uploads failed in this pass, with the first error
    unavailable: dict[str, str] = field(default_factory=dict)
    #: per target: blocks uploaded to it
    uploaded_to: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Uploaded:
    """A snapshot taken, and which targets got it."""

    id: str
    size: int
    targets: list[str]
    #: target -> why it did not get the snapshot
    errors: dict[str, str]


@dataclass
class VerifyReport:
    targets: list[TargetCheck] = field(default_factory=list)

    @property
    def whole(self) -> bool:
        return all(t.whole for t in self.targets)


def snapshot_id_at(ms: int) -> str:
    """``20261127T034000123Z``: sorts by time, and is safe in an object name."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(ms / 1000)) + f"{ms % 1000:03d}Z"


class Gate:
    """An async semaphore whose size is asked of *limit* each time a slot is
    sought (and at least every `Gate.RECHECK_S` while waiting)."""

    RECHECK_S = 0.1

    def __init__(self, limit: Callable[[], int]) -> None:
        self.limit = limit
        self.active = 0
        self._freed = asyncio.Event()

    async def __aenter__(self) -> None:
        while self.active >= self.limit():
            self._freed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._freed.wait(), self.RECHECK_S)
        self.active += 1

    async def __aexit__(self, *exc: object) -> None:
        self.active -= 1
        self._freed.set()


class BackupService:
    def __init__(self, db: Database, blocks: BlockStore, targets: Sequence[Target],
                 snapshot_key: bytes, clock: Clock, settings: BackupSettings,
                 work_dir: Path, users_activity: Callable[[], int] = lambda: 0) -> None:
        """*users_activity* counts the blocks users have sent so far
        (`ContentStore.blocks_received`): while it moves, copying slows down."""
        self.db = db
        self.blocks = blocks
        self.targets = list(targets)
        self.snapshot_key = snapshot_key
        self.clock = clock
        self.settings = settings
        self.work_dir = work_dir
        self._lock = asyncio.Lock()  # one pass at a time in this process
        self.users_activity = users_activity
        self._activity_seen = users_activity()
        self._users_until = 0.0
        #: when copying began to wait for users (None: it is not waiting)
        self._yielding_since: float | None = None
        # figures for /metrics, kept by the loop
        self.pending: dict[str, q.Pending] = {}
        self.last_snapshot_ms: int | None = None

    @property
    def configured(self) -> bool:
        return bool(self.targets)

    @property
    def healthy(self) -> bool:
        return all(t.healthy for t in self.targets)

    def parallel_now(self) -> int:
        """Blocks to copy at once now: none while users upload (one once they
        have kept copying waiting MAX_YIELD_S), else parallel_uploads."""
        now, seen = self.clock.monotonic(), self.users_activity()
        if seen != self._activity_seen:
            self._activity_seen, self._users_until = seen, now + USERS_QUIET_S
        if now >= self._users_until:
            self._yielding_since = None
            return self.settings.parallel_uploads
        if self._yielding_since is None:
            self._yielding_since = now
        if now - self._yielding_since >= MAX_YIELD_S:
            return 1
        return min(WHILE_USERS_UPLOAD, self.settings.parallel_uploads)

    def pending_of(self, target: str) -> q.Pending:
        """What the last look at the queue found pending for *target*."""
        return self.pending.get(target, q.Pending(0, 0, None))

    def _targets(self, only: Collection[str] | None = None) -> list[Target]:
        if not self.targets:
            raise BackupNotConfigured("no backup bucket is configured: set [backup] bucket"
                                      " (docs/backup.md)")
        return [t for t in self.targets if only is None or t.name in only]

    def sources(self) -> list[Source]:
        """The buckets to read from, the primary first."""
        return [Source(t.name, t.bucket) for t in self._targets()]

    async def bind(self, *, drop: bool = True) -> None:
        """Tie each target's queue to the bucket the config names (see the
        module docstring); cheap when nothing changed, so every pass does it.
        With *drop*, a replica no longer configured loses its queue: only
        what copies does that (the loop, `backup now`), never `status`, so a
        command run with a config that lacks the replica cannot drop it."""
        if not self.targets:
            return
        async with self.db.read() as conn:
            known = await q.targets(conn)
        wanted = {t.name: t.bucket.target.location for t in self.targets}
        stale = set(known) - set(wanted) - {q.PRIMARY} if drop else set()
        if not stale and all(name in known and known[name].location == where
                             for name, where in wanted.items()):
            return
        async with self.db.write() as conn:
            for name, where in wanted.items():
                queued = await q.bind_target(conn, name, where)
                if queued:
                    log.info("backup: %d blocks queued for the %s bucket (new to it)",
                             queued, name)
            for name in stale:
                await q.drop_target(conn, name)
                log.info("backup: the %s bucket is no longer configured; its queue is dropped",
                         name)

    async def status(self) -> Status:
        out = []
        async with self.db.read() as conn:
            state, known = await q.state(conn), await q.targets(conn)
            for t in self.targets:
                pending = await q.pending(conn, t.name)
                self.pending[t.name] = pending
                out.append(TargetStatus(t.name, t.bucket.target.describe(), pending,
                                        known.get(t.name)))
        self.last_snapshot_ms = state.snapshot_at
        return Status(self.configured, out, state)

    # --- copying blocks ---------------------------------------------------------------

    async def copy_pass(self, progress: Progress | None = None,
                        only: Collection[str] | None = None) -> PassReport:
        """Walk the queue once and copy every block in it to the targets
        (*only* these, if given) it is queued for.

        Raises BucketUnavailable when every target failed (a report that one
        target failed while the other worked is returned: see `unavailable`).
        """
        targets = self._targets(only)
        report = await self._pass(targets, progress)
        if targets and len(report.unavailable) == len(targets):
            raise BucketUnavailable("; ".join(report.unavailable.values())
                                    if len(targets) > 1 else report.unavailable[targets[0].name])
        return report

    async def _pass(self, targets: Sequence[Target], progress: Progress | None, *,
                    yield_to_users: bool = False) -> PassReport:
        """One walk of the queue; *yield_to_users*: the background loop's,
        which copies only as many blocks at once as `parallel_now` says (an
        explicit pass, `selfdrive backup now`'s, goes at full speed)."""
        await self.bind()
        async with self._lock:
            report = PassReport()
            live = {t.name: t for t in targets}
            async with self.db.read() as conn:
                total = sum([(await q.pending(conn, name)).blocks for name in live])
            after: tuple[int, bytes] | None = None
            while live:
                async with self.db.read() as conn:
                    batch = await q.next_batch(conn, list(live), BATCH, after)
                if not batch:
                    break
                await self._copy_batch(batch, live, report, yield_to_users)
                after = (batch[-1].queued_at, batch[-1].block_id)
                if progress is not None:
                    progress(report.uploaded + report.failed + report.gone, total,
                             report.bytes_sent)
                if len(batch) < BATCH:
                    break
        await self.status()
        return report

    async def _copy_batch(self, batch: Sequence[q.Queued], live: dict[str, Target],
                          report: PassReport, yield_to_users: bool) -> None:
        gate = Gate(self.parallel_now if yield_to_users
                    else lambda: self.settings.parallel_uploads)
        down: dict[str, str] = {}
        unrecorded: list[Outcome] = []
        flushing = asyncio.Lock()
        last_flush = time.monotonic()

        async def flush(force: bool = False) -> None:
            # What the buckets acknowledged is recorded as it comes (a short
            # write now and then, not one per block): a crash mid-batch sends
            # again only what was in flight or not yet recorded.
            nonlocal last_flush
            if not force and len(unrecorded) < FLUSH_OUTCOMES and (
                    time.monotonic() - last_flush < FLUSH_S):
                return
            async with flushing:
                taken = unrecorded[:]
                unrecorded.clear()
                last_flush = time.monotonic()
                if taken:
                    await self._record(taken, live, report)

        async def put(target: Target, block_id: bytes, sealed: bytes) -> None:
            if target.name in down:
                return  # left alone for the rest of the pass; stays queued
            try:
                await target.bucket.put(block_name(block_id), sealed)
            except StorageError as exc:
                down.setdefault(target.name, str(exc))
                unrecorded.append((block_id, target.name, 0, exc))
                return
            unrecorded.append((block_id, target.name, len(sealed), None))

        async def copy(item: q.Queued) -> None:
            async with gate:  # bounds the blocks held in memory, not only the requests
                wanted = [live[n] for n in sorted(item.targets) if n in live and n not in down]
                if not wanted:
                    return
                try:
                    sealed = await self.blocks.get(item.block_id)
                except BlockNotFound as exc:
                    unrecorded.extend((item.block_id, t.name, 0, exc) for t in wanted)
                    return
                await asyncio.gather(*(put(t, item.block_id, sealed) for t in wanted))
            await flush()

        await asyncio.gather(*(copy(item) for item in batch))
        await flush(force=True)
        if down:
            for name in down:
                live[name].healthy = False  # before the error is on record: a reader of
                # the record sees the flag too (the loop then sets its backoff)
            now = self.clock.now_ms()
            async with self.db.write() as conn:
                for name, why in down.items():
                    await q.record_error(conn, name, why, now)
            for name, why in down.items():
                report.unavailable.setdefault(name, why)
                del live[name]

    async def _record(self, results: Sequence[Outcome], live: dict[str, Target],
                      report: PassReport) -> None:
        done: list[tuple[bytes, str]] = []
        failures: list[tuple[bytes, str, str]] = []
        gone = {b for b, _, _, error in results if isinstance(error, BlockNotFound)}
        still: set[bytes] = set()
        if gone:
            async with self.db.read() as conn:
                still = await gcq.known_block_ids(conn, list(gone))
            # Collected meanwhile (its row went too): nothing to copy.  A block
            # whose row stands but whose file is missing stays queued: fsck
            # reports it, and a repair may bring the file back.
            report.gone += len(gone - still)
        for block_id, name, size, error in results:
            if error is None:
                done.append((block_id, name))
                report.uploaded += 1
                report.bytes_sent += size
                report.uploaded_to[name] = report.uploaded_to.get(name, 0) + 1
                live[name].uploaded_blocks += 1
                live[name].uploaded_bytes += size
            elif isinstance(error, BlockNotFound):
                if block_id in still:
                    failures.append((block_id, name, "the block file is missing on the local"
                                                     " disk (selfdrive fsck)"))
            else:
                failures.append((block_id, name, str(error)))
                live[name].failures += 1
        report.failed += len(failures)
        report.errors += [error for _, _, error in failures[:3]]
        now = self.clock.now_ms()
        async with self.db.write() as conn:
            await q.done(conn, done)
            await q.failed(conn, failures)
            for name in {n for _, n in done}:
                await q.record_success(conn, name, now)

    # --- snapshots --------------------------------------------------------------------

    async def snapshot(self, progress: Progress | None = None,
                       only: Collection[str] | None = None) -> Uploaded:
        """Take a snapshot and upload it to every target (*only* these, if
        given) after the blocks it needs there; apply retention.  A target
        that fails is named in the result; StorageError if none got it."""
        targets = self._targets(only)
        await self.bind()
        snapshot_id = snapshot_id_at(self.clock.now_ms())
        folder = await anyio.to_thread.run_sync(lambda: _work_dir(self.work_dir))
        copy, sealed = folder / f"{snapshot_id}.db", folder / f"{snapshot_id}.sdsn"
        got: list[str] = []
        errors: dict[str, str] = {}
        try:
            await anyio.to_thread.run_sync(lambda: backup_file(self.db.path, copy))
            seq, needed = await anyio.to_thread.run_sync(lambda: q.read_snapshot_queue(copy))
            digest = await anyio.to_thread.run_sync(
                lambda: seal_file(copy, sealed, self.snapshot_key, snapshot_id))
            size = sealed.stat().st_size
            for target in targets:
                try:
                    await self._copy_needed(target, needed.get(target.name, []), progress)
                    await target.bucket.put_file(SNAPSHOTS + snapshot_id, sealed, digest)
                except StorageError as exc:
                    errors[target.name] = str(exc)
                    log.warning("backup: snapshot %s not uploaded to the %s bucket: %s",
                                snapshot_id, target.name, exc)
                else:
                    got.append(target.name)
        finally:
            await anyio.to_thread.run_sync(lambda: shutil.rmtree(folder, ignore_errors=True))
        now = self.clock.now_ms()
        async with self.db.write() as conn:
            if got:
                await q.record_snapshot(conn, snapshot_id, now, seq, size)
            for name in got:
                await q.record_target_snapshot(conn, name, snapshot_id, now, size)
                await q.record_success(conn, name, now)
            for name, error in errors.items():
                await q.record_error(conn, name, error, now)
        if not got:
            raise StorageError(f"snapshot {snapshot_id} reached no bucket: "
                               + "; ".join(f"{n}: {e}" for n, e in errors.items()))
        self.last_snapshot_ms = now
        for target in targets:
            if target.name in got:
                await self.prune_snapshots(target)
        log.info("backup: snapshot %s uploaded (%d bytes) to %s", snapshot_id, size,
                 " and ".join(got))
        return Uploaded(snapshot_id, size, got, errors)

    async def _copy_needed(self, target: Target, needed: list[bytes],
                           progress: Progress | None) -> None:
        """Copy passes until no block that the snapshot's copy lists as queued
        for *target* is still queued for it (uploaded, or collected since)."""
        while needed:
            async with self.db.read() as conn:
                left = await q.still_queued(conn, target.name, needed)
            if not left:
                return
            report = await self._pass([target], progress)
            if report.uploaded_to.get(target.name, 0) == 0:
                async with self.db.read() as conn:
                    if await q.still_queued(conn, target.name, needed):
                        raise StorageError(
                            f"{len(left)} blocks that the snapshot needs could not be copied:"
                            f" {report.errors[0] if report.errors else 'see backup status'}")
            needed = list(left)

    async def snapshots(self, target: str = q.PRIMARY) -> list[SnapshotInfo]:
        """The snapshots in a target's bucket, oldest first."""
        found = self._targets({target})
        if not found:
            raise BackupNotConfigured(f"no {target} bucket is configured")
        return await list_snapshots(found[0].bucket)

    async def prune_snapshots(self, target: Target) -> list[str]:
        """Delete all but the newest ``keep_snapshots`` snapshots of a bucket."""
        found = await list_snapshots(target.bucket)
        doomed = found[: max(0, len(found) - self.settings.keep_snapshots)]
        for snap in doomed:
            await target.bucket.delete(SNAPSHOTS + snap.id)
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

    # --- checking the buckets ---------------------------------------------------------

    async def verify(self, snapshot_id: str | None = None, *,
                     download: bool = False) -> VerifyReport:
        """Check each bucket: is every block that its newest snapshot (or
        *snapshot_id*) references there, of the right size and SHA-256?  What
        is missing or wrong is queued to be sent to that bucket again."""
        await self.bind(drop=False)
        report = VerifyReport()
        for target in self._targets():
            check = TargetCheck(target.name, target.bucket.target.describe())
            report.targets.append(check)
            try:
                await self._verify_target(target, snapshot_id, download, check)
            except StorageError as exc:
                check.error = str(exc)
            if check.bad:
                async with self.db.write() as conn:
                    await q.requeue(conn, target.name, [b.block_id for b in check.bad])
        return report

    async def _verify_target(self, target: Target, snapshot_id: str | None, download: bool,
                             check: TargetCheck) -> None:
        if snapshot_id is None:
            found = await list_snapshots(target.bucket)
            if not found:
                raise StorageError("there is no snapshot in this bucket yet")
            snapshot_id = found[-1].id
        check.snapshot_id = snapshot_id
        folder = await anyio.to_thread.run_sync(lambda: _work_dir(self.work_dir))
        try:
            copy = folder / "verify.db"
            await fetch_snapshot(target.bucket, self.snapshot_key, snapshot_id, copy)
            needed = await anyio.to_thread.run_sync(lambda: q.read_referenced(copy))
        finally:
            await anyio.to_thread.run_sync(lambda: shutil.rmtree(folder, ignore_errors=True))
        await check_blocks(target.bucket, self.blocks, needed, self.settings.parallel_uploads,
                           download=download, check=check)

    # --- the background loop ----------------------------------------------------------

    async def run_forever(self) -> None:
        """Copy, snapshot when due; a failing target is waited for with
        backoff while the other goes on; never fatal."""
        while True:
            try:
                await self._round()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # not a bucket's failure: a bug or the database
                log.exception("backup: failed")
                for target in self.targets:
                    target.failed(self.settings.max_backoff_s)
                await self._record_error(self.targets, repr(exc))
            now = time.monotonic()
            waits = [t.retry_at - now for t in self.targets if t.retry_at > now]
            await asyncio.sleep(max(0.05, min([IDLE_POLL_S, *waits])))

    async def _round(self) -> None:
        now = time.monotonic()
        ready = [t for t in self.targets if t.retry_at <= now]
        if not ready:
            return
        report = await self._pass(ready, None, yield_to_users=True)
        for target in ready:
            if target.name in report.unavailable:
                wait = target.failed(self.settings.max_backoff_s)
                log.warning("backup: the %s bucket: %s; trying it again in %.1f s",
                            target.name, report.unavailable[target.name], wait)
            else:
                target.worked()
        if report.uploaded:
            log.info("backup: copied %d blocks (%d bytes)", report.uploaded, report.bytes_sent)
        working = [t.name for t in ready if t.healthy]
        if working and await self.snapshot_due():
            try:
                uploaded = await self.snapshot(only=working)
            except StorageError as exc:
                uploaded = Uploaded("", 0, [], {n: str(exc) for n in working})
            for target in ready:
                if target.name in uploaded.errors:
                    target.failed(self.settings.max_backoff_s)

    async def _record_error(self, targets: Sequence[Target], message: str) -> None:
        try:
            async with self.db.write() as conn:
                for target in targets:
                    await q.record_error(conn, target.name, message, self.clock.now_ms())
        except Exception:
            log.exception("backup: cannot record the error")


def _work_dir(parent: Path) -> Path:
    """A new private folder for one snapshot or verify; what crashed runs left
    in *parent* more than a day ago goes first."""
    parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    for old in parent.iterdir():
        if old.stat().st_mtime < time.time() - 24 * 3600:
            shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(dir=parent))
