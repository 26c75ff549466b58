"""Whole-store figures for the metrics: blocks, their bytes, and what they hold.

Terms: *block bytes* are the plaintext sizes of the stored blocks (each block
once, however many revisions list it); *stored bytes* what their files take
(after compression, with headers and tags); *logical bytes* the sizes of every
revision (live, old or in the trash), i.e. what the store would hold with no
dedup.  The dedup ratio is logical bytes over block bytes.

Each figure is a full scan of its table (SQLite keeps no running sums), so
the runtime keeps one `StoreStatsCache` that the metrics and the admin page's
status share: it counts again only when its totals are older than
`COST_FACTOR` times what the last count took (a scan runs at most about 1% of
the time) and than the age the caller accepts, one count at a time, and a
caller waits for it at most `WAIT_S` once there are totals to fall back on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

import aiosqlite

from selfdrive.core.clock import Clock
from selfdrive.store.meta.db import Database

log = logging.getLogger("selfdrive.stats")

#: totals are kept at least this many times as long as the last count took
COST_FACTOR = 100.0
#: the longest a caller waits for a recount when older totals exist (seconds)
WAIT_S = 1.0


@dataclass(frozen=True)
class StoreStats:
    blocks: int
    block_bytes: int
    stored_bytes: int
    logical_bytes: int
    #: the sum of users.used_bytes: the current revisions of live files
    used_bytes: int

    @property
    def dedup_ratio(self) -> float:
        """Logical bytes per block byte: 1.0 with no sharing (or no data), 2.0
        when every byte is stored once for two revisions or files that hold it."""
        return self.logical_bytes / self.block_bytes if self.block_bytes else 1.0


async def store_stats(conn: aiosqlite.Connection) -> StoreStats:
    async with conn.execute(
        "SELECT count(*), total(size), total(stored_size) FROM blocks"
    ) as cur:
        blocks, block_bytes, stored_bytes = await cur.fetchone() or (0, 0, 0)
    async with conn.execute("SELECT total(size) FROM revisions") as cur:
        (logical,) = await cur.fetchone() or (0,)
    async with conn.execute("SELECT total(used_bytes) FROM users") as cur:
        (used,) = await cur.fetchone() or (0,)
    return StoreStats(int(blocks), int(block_bytes), int(stored_bytes), int(logical), int(used))


class StoreStatsCache:
    """The store's totals, counted again only when stale (see the module's doc)."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self.stats: StoreStats | None = None
        #: how long the last count took (seconds)
        self.took_s = 0.0
        self._counted_at = 0.0
        self._counting: asyncio.Future[None] | None = None

    async def get(self, max_age_s: float = 0.0) -> StoreStats | None:
        """Totals no older than *max_age_s* (or than the cost rule allows),
        else the last ones if a recount takes over `WAIT_S`; None only if the
        first count failed."""
        age = self.clock.monotonic() - self._counted_at
        if self.stats is not None and age < max(max_age_s, COST_FACTOR * self.took_s):
            return self.stats
        if self._counting is None:  # one count at a time; other callers share it
            self._counting = asyncio.ensure_future(self._count())
        if self.stats is None:
            await asyncio.shield(self._counting)
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._counting), WAIT_S)
        return self.stats

    async def _count(self) -> None:
        started = self.clock.monotonic()
        try:
            async with self.db.read() as conn:
                self.stats = await store_stats(conn)
        except Exception:
            log.exception("counting the store's totals failed")
        finally:
            self._counted_at = self.clock.monotonic()
            self.took_s = self._counted_at - started
            self._counting = None
