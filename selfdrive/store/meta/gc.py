"""Queries for garbage collection, pins of unfinished uploads, and retention.

A block is *referenced* while a revision (live or in the trash) lists it, an
unfinished upload pins it (upload_blocks), or a user has sent it and not yet
committed it (uploaded_blocks).  See docs/storage.md, "Garbage collection".
"""

from __future__ import annotations

from collections.abc import Sequence

import aiosqlite

from selfdrive.store.meta.batching import in_batches

_UNREFERENCED = (
    "NOT EXISTS (SELECT 1 FROM revision_blocks rb WHERE rb.block_id = b.id)"
    " AND NOT EXISTS (SELECT 1 FROM upload_blocks ub WHERE ub.block_id = b.id)"
    " AND NOT EXISTS (SELECT 1 FROM uploaded_blocks pb WHERE pb.block_id = b.id)"
)


# -- unfinished uploads ----------------------------------------------------------------


async def open_upload(
    conn: aiosqlite.Connection, user_id: int, path: str, now: int, expires_at: int
) -> int:
    cur = await conn.execute(
        "INSERT INTO uploads (user_id, path, created_at, expires_at) VALUES (?, ?, ?, ?)",
        (user_id, path, now, expires_at),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


async def pin_blocks(
    conn: aiosqlite.Connection, upload_id: int, refs: Sequence[tuple[bytes, int, int]], now: int
) -> None:
    """Pin durable blocks (id, size, stored size) to an unfinished upload."""
    await conn.executemany(
        "INSERT INTO blocks (id, size, stored_size, created_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET unreferenced_since = NULL",
        [(bid, size, stored, now) for bid, size, stored in refs],
    )
    await conn.executemany(
        "INSERT INTO upload_blocks (upload_id, block_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
        [(upload_id, bid) for bid, _, _ in refs],
    )


async def close_upload(conn: aiosqlite.Connection, upload_id: int) -> None:
    await conn.execute("DELETE FROM uploads WHERE id = ?", (upload_id,))


async def expire_uploads(conn: aiosqlite.Connection, now: int) -> int:
    cur = await conn.execute("DELETE FROM uploads WHERE expires_at < ?", (now,))
    return cur.rowcount


async def expire_uploaded_blocks(conn: aiosqlite.Connection, before: int) -> int:
    cur = await conn.execute("DELETE FROM uploaded_blocks WHERE uploaded_at < ?", (before,))
    return cur.rowcount


# -- garbage collection ------------------------------------------------------------------


async def mark_unreferenced(conn: aiosqlite.Connection, now: int) -> int:
    """Start the grace clock of newly unreferenced blocks; stop it for referenced ones."""
    await conn.execute(
        f"UPDATE blocks AS b SET unreferenced_since = NULL"
        f" WHERE unreferenced_since IS NOT NULL AND NOT ({_UNREFERENCED})"
    )
    cur = await conn.execute(
        f"UPDATE blocks AS b SET unreferenced_since = ?"
        f" WHERE unreferenced_since IS NULL AND {_UNREFERENCED}",
        (now,),
    )
    return cur.rowcount


async def take_collectable(
    conn: aiosqlite.Connection, before: int, limit: int
) -> list[tuple[bytes, int]]:
    """Delete the rows of up to *limit* blocks unreferenced since before *before*
    (and still unreferenced now); return their (id, stored size).

    Rows go first: the caller deletes the files after this commits.
    """
    async with conn.execute(
        f"SELECT b.id, b.stored_size FROM blocks b"
        f" WHERE b.unreferenced_since IS NOT NULL AND b.unreferenced_since <= ?"
        f" AND {_UNREFERENCED} LIMIT ?",
        (before, limit),
    ) as cur:
        rows = [(bytes(r[0]), int(r[1])) for r in await cur.fetchall()]
    await conn.executemany("DELETE FROM blocks WHERE id = ?", [(bid,) for bid, _ in rows])
    return rows


async def known_block_ids(conn: aiosqlite.Connection, ids: Sequence[bytes]) -> set[bytes]:
    """Which of *ids* have a block row, or are pinned by an unfinished upload."""
    found: set[bytes] = set()
    for batch, marks in in_batches(ids):
        async with conn.execute(
            f"SELECT id FROM blocks WHERE id IN ({marks}) UNION"
            f" SELECT block_id FROM upload_blocks WHERE block_id IN ({marks})",
            [*batch, *batch],
        ) as cur:
            found.update(bytes(r[0]) for r in await cur.fetchall())
    return found


# -- retention -----------------------------------------------------------------------------


async def files_with_revisions_since(
    conn: aiosqlite.Connection, after_node: int, limit: int
) -> list[int]:
    """Files (ids above *after_node*, ascending) that have more than one revision."""
    async with conn.execute(
        "SELECT node_id FROM revisions WHERE node_id > ? GROUP BY node_id"
        " HAVING count(*) > 1 ORDER BY node_id LIMIT ?",
        (after_node, limit),
    ) as cur:
        return [int(r[0]) for r in await cur.fetchall()]


async def revision_times(
    conn: aiosqlite.Connection, node_id: int
) -> list[tuple[int, int, int, bool]]:
    """(revision row id, rev, created_at, pinned) of a file, newest first."""
    async with conn.execute(
        "SELECT id, rev, created_at, pinned FROM revisions WHERE node_id = ? ORDER BY rev DESC",
        (node_id,),
    ) as cur:
        return [(int(r[0]), int(r[1]), int(r[2]), bool(r[3])) for r in await cur.fetchall()]


async def delete_revisions(conn: aiosqlite.Connection, revision_ids: Sequence[int]) -> None:
    await conn.executemany("DELETE FROM revisions WHERE id = ?", [(i,) for i in revision_ids])
