"""Whole-store figures for the metrics: blocks, their bytes, and what they hold.

Terms: *block bytes* are the plaintext sizes of the stored blocks (each block
once, however many revisions list it); *stored bytes* what their files take
(after compression, with headers and tags); *logical bytes* the sizes of every
revision (live, old or in the trash), i.e. what the store would hold with no
dedup.  The dedup ratio is logical bytes over block bytes.

Each figure is a full scan of its table (SQLite keeps no running sums), so
callers cache them (`selfdrive/http/metrics.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

import aiosqlite


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
