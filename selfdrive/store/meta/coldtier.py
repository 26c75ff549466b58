"""Queries of the cold tier and of garbage collection in the backup buckets
(migration 0015; services/coldtier.py and services/bucket_gc.py).

A revision is *old* once a later revision of its file was made at or before
the cutoff (now minus ``cold_after_days``): it stopped being the file's
content that long ago.  A block is *hot* while a revision that is not old
lists it (a file's current revision, whether the file is live or in the
trash, is never old), an unfinished upload pins it, or a user sent it and
has not committed it.  A block is *tierable* when it is referenced, not hot,
and in every bucket (queued for none).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import aiosqlite

from selfdrive.store.meta.batching import in_batches

MOVING, COLD, LOCAL = "moving", "cold", "local"

_HOT = (
    "EXISTS (SELECT 1 FROM revision_blocks rb JOIN revisions r ON r.id = rb.revision_id"
    " WHERE rb.block_id = b.id AND NOT EXISTS (SELECT 1 FROM revisions r2"
    " WHERE r2.node_id = r.node_id AND r2.rev > r.rev AND r2.created_at <= :cutoff))"
    " OR EXISTS (SELECT 1 FROM upload_blocks ub WHERE ub.block_id = b.id)"
    " OR EXISTS (SELECT 1 FROM uploaded_blocks ud WHERE ud.block_id = b.id)"
)


@dataclass(frozen=True)
class ColdRow:
    block_id: bytes
    state: str
    storage_class: str
    changed_at: int
    restore_requested_at: int | None
    restored_until: int | None


@dataclass(frozen=True)
class Candidate:
    block_id: bytes
    stored_size: int
    #: the block's cold_blocks state, None without a row
    state: str | None


@dataclass(frozen=True)
class Usage:
    #: blocks (and their stored bytes) whose file is on the local disk
    local_blocks: int
    local_bytes: int
    #: blocks in the cold tier: only in the buckets
    cold_blocks: int
    cold_bytes: int


async def candidates(conn: aiosqlite.Connection, cutoff: int, after: bytes,
                     limit: int) -> list[Candidate]:
    """Up to *limit* tierable blocks with ids above *after*, in id order: no
    row yet, a 'moving' row (a pass that did not finish), or a 'local' row
    brought back at or before the cutoff."""
    async with conn.execute(
        "SELECT b.id, b.stored_size, c.state FROM blocks b"
        " LEFT JOIN cold_blocks c ON c.block_id = b.id"
        " WHERE b.id > :after AND b.unreferenced_since IS NULL"
        " AND (c.block_id IS NULL OR c.state = 'moving'"
        "      OR (c.state = 'local' AND c.changed_at <= :cutoff))"
        " AND NOT EXISTS (SELECT 1 FROM backup_queue q WHERE q.block_id = b.id)"
        " AND EXISTS (SELECT 1 FROM revision_blocks rb WHERE rb.block_id = b.id)"
        f" AND NOT ({_HOT}) ORDER BY b.id LIMIT :limit",
        {"after": after, "cutoff": cutoff, "limit": limit},
    ) as cur:
        return [Candidate(bytes(r[0]), int(r[1]), r[2]) for r in await cur.fetchall()]


async def hot_in_tier(conn: aiosqlite.Connection, cutoff: int, limit: int) -> list[ColdRow]:
    """Blocks in the tier ('moving' or 'cold') that are hot again (a restored
    revision, a commit of blocks the user had, a dedup): to bring back."""
    async with conn.execute(
        "SELECT c.block_id, c.state, c.storage_class, c.changed_at, c.restore_requested_at,"
        " c.restored_until FROM cold_blocks c JOIN blocks b ON b.id = c.block_id"
        f" WHERE c.state IN ('moving', 'cold') AND ({_HOT}) LIMIT :limit",
        {"cutoff": cutoff, "limit": limit},
    ) as cur:
        return [ColdRow(bytes(r[0]), *r[1:]) for r in await cur.fetchall()]


async def rows(conn: aiosqlite.Connection, ids: Sequence[bytes]) -> dict[bytes, ColdRow]:
    out: dict[bytes, ColdRow] = {}
    for batch, marks in in_batches(ids):
        async with conn.execute(
            "SELECT block_id, state, storage_class, changed_at, restore_requested_at,"
            f" restored_until FROM cold_blocks WHERE block_id IN ({marks})", list(batch)
        ) as cur:
            for r in await cur.fetchall():
                out[bytes(r[0])] = ColdRow(bytes(r[0]), *r[1:])
    return out


async def set_state(conn: aiosqlite.Connection, block_ids: Sequence[bytes], state: str,
                    now: int, storage_class: str | None = None) -> None:
    """Put blocks (whose rows exist) in *state*; a new storage class, if given,
    forgets any restore of the old one."""
    await conn.executemany(
        "INSERT INTO cold_blocks (block_id, state, storage_class, changed_at)"
        " SELECT id, ?, coalesce(?, ''), ? FROM blocks WHERE id = ?"
        " ON CONFLICT (block_id) DO UPDATE SET state = excluded.state,"
        " changed_at = excluded.changed_at,"
        " storage_class = coalesce(?, storage_class),"
        " restore_requested_at = CASE WHEN ? IS NULL THEN restore_requested_at END,"
        " restored_until = CASE WHEN ? IS NULL THEN restored_until END",
        [(state, storage_class, now, b, storage_class, storage_class, storage_class)
         for b in block_ids])


async def restore_requested(conn: aiosqlite.Connection, block_ids: Sequence[bytes],
                            now: int) -> None:
    await conn.executemany(
        "UPDATE cold_blocks SET restore_requested_at = ?, restored_until = NULL"
        " WHERE block_id = ?", [(now, b) for b in block_ids])


async def restored(conn: aiosqlite.Connection, until: Sequence[tuple[bytes, int]]) -> None:
    await conn.executemany("UPDATE cold_blocks SET restored_until = ? WHERE block_id = ?",
                           [(ms, b) for b, ms in until])


async def usage(conn: aiosqlite.Connection) -> Usage:
    async with conn.execute(
        "SELECT count(*), coalesce(sum(b.stored_size), 0),"
        " coalesce(sum(c.state = 'cold'), 0),"
        " coalesce(sum(CASE WHEN c.state = 'cold' THEN b.stored_size END), 0)"
        " FROM blocks b LEFT JOIN cold_blocks c ON c.block_id = b.id"
    ) as cur:
        row = await cur.fetchone()
    assert row is not None
    total, total_bytes, cold, cold_bytes = (int(x) for x in row)
    return Usage(total - cold, total_bytes - cold_bytes, cold, cold_bytes)


# --- garbage in the buckets ---------------------------------------------------------------

async def notice_garbage(conn: aiosqlite.Connection, now: int) -> int:
    """Start the bucket grace clock of blocks the local GC deleted since the last look."""
    cur = await conn.execute("UPDATE bucket_garbage SET noticed_at = ? WHERE noticed_at IS NULL",
                             (now,))
    return cur.rowcount


async def collectable_garbage(conn: aiosqlite.Connection, before: int, after: bytes,
                              limit: int) -> list[tuple[bytes, int]]:
    """(id, stored size) of up to *limit* blocks deleted locally and noticed
    before *before*, with ids above *after*, that have no block row again."""
    async with conn.execute(
        "SELECT g.block_id, g.stored_size FROM bucket_garbage g"
        " WHERE g.noticed_at IS NOT NULL AND g.noticed_at < ? AND g.block_id > ?"
        " AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.id = g.block_id)"
        " ORDER BY g.block_id LIMIT ?", (before, after, limit)
    ) as cur:
        return [(bytes(r[0]), int(r[1])) for r in await cur.fetchall()]


async def drop_garbage(conn: aiosqlite.Connection, block_ids: Sequence[bytes]) -> None:
    await conn.executemany("DELETE FROM bucket_garbage WHERE block_id = ?",
                           [(b,) for b in block_ids])


async def garbage_pending(conn: aiosqlite.Connection) -> tuple[int, int]:
    """(blocks, stored bytes) waiting to be deleted from the buckets."""
    async with conn.execute(
        "SELECT count(*), coalesce(sum(stored_size), 0) FROM bucket_garbage") as cur:
        row = await cur.fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


async def stored_sizes(conn: aiosqlite.Connection, ids: Sequence[bytes]) -> dict[bytes, int]:
    out: dict[bytes, int] = {}
    for batch, marks in in_batches(ids):
        async with conn.execute(
            f"SELECT id, stored_size FROM blocks WHERE id IN ({marks})", list(batch)
        ) as cur:
            out.update((bytes(r[0]), int(r[1])) for r in await cur.fetchall())
    return out
