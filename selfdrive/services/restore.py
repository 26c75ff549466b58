"""Rebuilding a data dir from the backup buckets alone (`selfdrive restore --from-backup`).

The *sources* are the configured buckets, the primary first, then the
replica (services/backup_read.py): the newest snapshot either holds is
restored (or the one asked for), and every object is read from the first
bucket that answers with it, so a primary that is down or lost an object
is made up for by the replica.

Order, so that an interrupted restore never looks like a working store:

1. the keys are written to ``<data>/keys`` (from a key export, or already
   there); the target must have no database yet;
2. the snapshot is downloaded, opened (its AEAD proves the key and the bytes),
   checked by SQLite's ``integrity_check`` as ``meta.db.restoring``, and
   migrated to this version's schema (a snapshot of an older version);
3. unfinished uploads are dropped (their staged bytes lived on the old disk
   only), block rows that nothing references are dropped (garbage at the time
   of the snapshot), and every referenced block is downloaded, its SHA-256
   and its size checked, into ``<data>/blocks`` (a few at a time);
4. nothing is queued any more for the bucket the snapshot came from (it has
   every block the snapshot needs), the backup state says which snapshot
   this is, and only then is the file renamed to ``meta.db``.

A referenced block no bucket has stops the restore before step 4 and is
named; run `selfdrive backup verify` on the old server, if it still runs.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import anyio.to_thread

from selfdrive.core.clock import Clock
from selfdrive.core.errors import RestoreFailed, StorageError
from selfdrive.services.backup import SNAPSHOT_KEY_PURPOSE
from selfdrive.services.backup_read import Source, fetch_any_snapshot, fetch_block
from selfdrive.store.keys import Keyring, derived_key
from selfdrive.store.local import LocalBlockStore, fsync_dir
from selfdrive.store.meta import backup as q
from selfdrive.store.meta.db import migrate

#: told (blocks done, blocks to fetch, bytes fetched)
Progress = Callable[[int, int, int], None]


@dataclass
class RestoreReport:
    snapshot_id: str = ""
    #: the bucket (target name) the snapshot came from
    source: str = ""
    blocks: int = 0
    #: blocks fetched per bucket (target name)
    fetched_from: dict[str, int] = field(default_factory=dict)
    fetched_bytes: int = 0
    unreferenced_dropped: int = 0
    uploads_dropped: int = 0
    missing: list[bytes] = field(default_factory=list)


async def restore(sources: Sequence[Source], keyring: Keyring, data: Path, clock: Clock, *,
                  snapshot_id: str | None = None, parallel: int = 8,
                  progress: Progress | None = None) -> RestoreReport:
    """Rebuild the data dir *data* (keys already in place) from the buckets."""
    final = data / "meta.db"
    if final.exists():
        raise RestoreFailed(f"{data} already holds a database: restore into a new data dir")
    for sub in ("blocks", "staging"):
        (data / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = data / "meta.db.restoring"
    try:
        return await _restore(sources, keyring, data, clock, partial, snapshot_id, parallel,
                              progress)
    except BaseException:
        # no half-restored database stays behind (blocks fetched do: they
        # are whole and checked, and a second try finds them in place)
        partial.unlink(missing_ok=True)
        partial.with_name(partial.name + ".sdsn").unlink(missing_ok=True)
        raise


async def _restore(sources: Sequence[Source], keyring: Keyring, data: Path, clock: Clock,
                   partial: Path, snapshot_id: str | None, parallel: int,
                   progress: Progress | None) -> RestoreReport:
    final = data / "meta.db"
    report = RestoreReport()
    key = derived_key(keyring, SNAPSHOT_KEY_PURPOSE)
    report.snapshot_id, report.source = await fetch_any_snapshot(sources, key, snapshot_id,
                                                                 partial)
    await anyio.to_thread.run_sync(lambda: q.check_integrity(partial))
    await anyio.to_thread.run_sync(lambda: migrate(partial))
    dropped = await anyio.to_thread.run_sync(lambda: q.drop_what_stays_behind(partial))
    report.uploads_dropped, report.unreferenced_dropped = dropped
    needed = await anyio.to_thread.run_sync(lambda: q.read_referenced(partial))
    # the snapshot's own bucket first: it has every block the snapshot needs
    ordered = sorted(sources, key=lambda s: s.name != report.source)
    await _fetch_blocks(ordered, LocalBlockStore(data / "blocks"), needed, parallel,
                        report, progress)
    if report.missing:
        shown = ", ".join(b.hex() for b in report.missing[:5])
        raise RestoreFailed(f"{len(report.missing)} blocks that snapshot {report.snapshot_id}"
                            f" references are in no bucket (first: {shown});"
                            " try an older snapshot (--snapshot)")
    now = clock.now_ms()
    chosen, source = report.snapshot_id, report.source
    await anyio.to_thread.run_sync(lambda: q.mark_restored(partial, source, chosen, now))

    def publish() -> None:
        os.replace(partial, final)
        fsync_dir(data)
        migrate(final)  # a no-op: for a database restored by an older version's files

    await anyio.to_thread.run_sync(publish)
    return report


async def _fetch_blocks(sources: Sequence[Source], local: LocalBlockStore,
                        needed: list[tuple[bytes, int]], parallel: int,
                        report: RestoreReport, progress: Progress | None) -> None:
    gate = asyncio.Semaphore(parallel)
    done = 0

    async def fetch(block_id: bytes, size: int) -> None:
        nonlocal done
        async with gate:  # at most *parallel* blocks in memory
            found = await fetch_block(sources, block_id)
            if found is None:
                report.missing.append(block_id)
                return
            sealed, source = found
            if len(sealed) != size:
                raise StorageError(f"block {block_id.hex()} in the {source} bucket is"
                                   f" {len(sealed)} bytes, the snapshot says {size}")
            await local.put(block_id, sealed)
            report.blocks += 1
            report.fetched_bytes += size
            report.fetched_from[source] = report.fetched_from.get(source, 0) + 1
            done += 1
            if progress is not None:
                progress(done, len(needed), report.fetched_bytes)

    for start in range(0, len(needed), 1000):  # bounded: a thousand tasks at a time
        await asyncio.gather(*(fetch(b, s) for b, s in needed[start:start + 1000]))
