"""Rebuilding a data dir from the backup bucket alone (`selfdrive restore --from-backup`).

Order, so that an interrupted restore never looks like a working store:

1. the keys are written to ``<data>/keys`` (from a key export, or already
   there); the target must have no database yet;
2. the snapshot is downloaded, opened (its AEAD proves the key and the bytes)
   and checked by SQLite's ``integrity_check`` as ``meta.db.restoring``;
3. unfinished uploads are dropped (their staged bytes lived on the old disk
   only), block rows that nothing references are dropped (garbage at the time
   of the snapshot), and every referenced block is downloaded, its SHA-256
   and its size checked, into ``<data>/blocks`` (a few at a time);
4. the queue is emptied (the bucket has every block), the backup state says
   which snapshot this is, and only then is the file renamed to ``meta.db``
   and migrated to this version's schema.

A referenced block the bucket lacks stops the restore before step 4 and is
named; run `selfdrive backup verify` on the old server, if it still runs.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio.to_thread

from selfdrive.core.clock import Clock
from selfdrive.core.errors import SelfdriveError, StorageError
from selfdrive.services.backup import SNAPSHOT_KEY_PURPOSE, fetch_snapshot
from selfdrive.store.keys import Keyring, derived_key
from selfdrive.store.local import LocalBlockStore, fsync_dir
from selfdrive.store.meta import backup as q
from selfdrive.store.meta.db import migrate
from selfdrive.store.s3 import S3Bucket, block_name

#: told (blocks done, blocks to fetch, bytes fetched)
Progress = Callable[[int, int, int], None]


class RestoreFailed(SelfdriveError):
    code = "restore_failed"


@dataclass
class RestoreReport:
    snapshot_id: str = ""
    blocks: int = 0
    fetched_bytes: int = 0
    unreferenced_dropped: int = 0
    uploads_dropped: int = 0
    missing: list[bytes] = field(default_factory=list)


async def restore(bucket: S3Bucket, keyring: Keyring, data: Path, clock: Clock, *,
                  snapshot_id: str | None = None, parallel: int = 8,
                  progress: Progress | None = None) -> RestoreReport:
    """Rebuild the data dir *data* (keys already in place) from the bucket."""
    final = data / "meta.db"
    if final.exists():
        raise RestoreFailed(f"{data} already holds a database: restore into a new data dir")
    for sub in ("blocks", "staging"):
        (data / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = data / "meta.db.restoring"
    report = RestoreReport()
    key = derived_key(keyring, SNAPSHOT_KEY_PURPOSE)
    report.snapshot_id = await fetch_snapshot(bucket, key, snapshot_id, partial)
    await anyio.to_thread.run_sync(lambda: q.check_integrity(partial))
    dropped = await anyio.to_thread.run_sync(lambda: q.drop_what_stays_behind(partial))
    report.uploads_dropped, report.unreferenced_dropped = dropped
    needed = await anyio.to_thread.run_sync(lambda: q.read_referenced(partial))
    await _fetch_blocks(bucket, LocalBlockStore(data / "blocks"), needed, parallel,
                        report, progress)
    if report.missing:
        shown = ", ".join(b.hex() for b in report.missing[:5])
        raise RestoreFailed(f"{len(report.missing)} blocks that snapshot {report.snapshot_id}"
                            f" references are not in the bucket (first: {shown});"
                            " try an older snapshot (--snapshot)")
    now = clock.now_ms()
    chosen = report.snapshot_id
    await anyio.to_thread.run_sync(lambda: q.mark_restored(partial, chosen, now))

    def publish() -> None:
        os.replace(partial, final)
        fsync_dir(data)
        migrate(final)

    await anyio.to_thread.run_sync(publish)
    return report


async def _fetch_blocks(bucket: S3Bucket, local: LocalBlockStore,
                        needed: list[tuple[bytes, int]], parallel: int,
                        report: RestoreReport, progress: Progress | None) -> None:
    gate = asyncio.Semaphore(parallel)
    done = 0

    async def fetch(block_id: bytes, size: int) -> None:
        nonlocal done
        async with gate:  # at most *parallel* blocks in memory
            try:
                sealed = await bucket.get(block_name(block_id))
            except FileNotFoundError:
                report.missing.append(block_id)
                return
            if len(sealed) != size:
                raise StorageError(f"block {block_id.hex()} in the bucket is {len(sealed)}"
                                   f" bytes, the snapshot says {size}")
            await local.put(block_id, sealed)
            report.blocks += 1
            report.fetched_bytes += size
            done += 1
            if progress is not None:
                progress(done, len(needed), report.fetched_bytes)

    for start in range(0, len(needed), 1000):  # bounded: a thousand tasks at a time
        await asyncio.gather(*(fetch(b, s) for b, s in needed[start:start + 1000]))
