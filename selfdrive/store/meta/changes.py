"""Queries for the change feed: a user's journal rows after a cursor, the
newest seq, pruning (with the floor that tells a cursor it is too old), and
whether anything under a path changed after a cursor (a delete's
precondition)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import aiosqlite

FLOOR_KEY = "journal_floor"


@dataclass(frozen=True)
class Change:
    seq: int
    #: the node changed (nodes.id): kept by a move, new for a copy
    node_id: int
    op: str
    kind: str
    path: str
    old_path: str | None
    rev: int | None
    at: int
    device_id: int | None
    actor: str | None
    size: int | None
    content_hash: bytes | None
    #: files: whether the revision *rev* is executable
    executable: bool | None = None


async def page(
    conn: aiosqlite.Connection, user_id: int, after: int, limit: int
) -> list[Change]:
    """Up to *limit* of *user_id*'s changes with seq > *after*, in order."""
    async with conn.execute(
        "SELECT c.seq, c.node_id, c.op, c.kind, c.path, c.old_path, c.rev, c.at, c.device_id,"
        " u.name, r.size, r.content_hash, r.executable FROM changes c"
        " LEFT JOIN users u ON u.id = c.actor_id"
        " LEFT JOIN revisions r ON r.node_id = c.node_id AND r.rev = c.rev"
        " WHERE c.user_id = ? AND c.seq > ? ORDER BY c.seq LIMIT ?",
        (user_id, after, limit),
    ) as cur:
        return [
            Change(int(r[0]), int(r[1]), r[2], r[3], r[4], r[5], r[6], int(r[7]), r[8], r[9],
                   r[10], None if r[11] is None else bytes(r[11]),
                   None if r[12] is None else bool(r[12]))
            for r in await cur.fetchall()
        ]


async def latest_seq(conn: aiosqlite.Connection) -> int:
    """The newest seq of all (0 before the first change)."""
    async with conn.execute("SELECT coalesce(max(seq), 0) FROM changes") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def latest_for(conn: aiosqlite.Connection, user_id: int) -> int:
    async with conn.execute(
        "SELECT coalesce(max(seq), 0) FROM changes WHERE user_id = ?", (user_id,)
    ) as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def since(conn: aiosqlite.Connection, after: int) -> list[tuple[int, int]]:
    """(seq, user_id) of every change after *after* (what a commit just wrote)."""
    async with conn.execute(
        "SELECT seq, user_id FROM changes WHERE seq > ? ORDER BY seq", (after,)
    ) as cur:
        return [(int(r[0]), int(r[1])) for r in await cur.fetchall()]


#: ?1 user, ?2 cursor, ?3 the path, ?4 and ?5 the length and text of "path/",
#: ?6 the folders above it (a JSON list)
CHANGED_UNDER = (
    "SELECT path, old_path FROM changes"
    " WHERE user_id = ?1 AND seq > ?2"
    " AND (?3 IN (path, old_path) OR substr(path, 1, ?4) = ?5"
    " OR substr(old_path, 1, ?4) = ?5"
    " OR path IN (SELECT value FROM json_each(?6))"
    " OR old_path IN (SELECT value FROM json_each(?6)))"
    " ORDER BY seq LIMIT 1"
)


async def first_change_under(
    conn: aiosqlite.Connection, user_id: int, path: str, after: int
) -> str | None:
    """The path of *user_id*'s first change after *after* that touched *path*
    (a caller's path, not the root) or anything under it, else None.

    Rows name paths as they were at the change, so a row names the subtree
    by another path only while it was elsewhere; then a later move put it
    (or a folder above it) where it is now, and that move's row names *path*
    or a folder above it.  So a row counts when its path or old path is
    *path*, under it, or a folder above it: adds, edits, deletes and moves
    in, out and within, at any depth, and a move of the folder or of one
    above it.

    The cost is the rows of the user after *after* (the (user_id, seq)
    index), not the size of the folder: a client's cursor is usually
    seconds old."""
    parts = path.strip("/").split("/")
    above = ["/" + "/".join(parts[:i]) for i in range(1, len(parts))]
    prefix = path.rstrip("/") + "/"
    async with conn.execute(
        CHANGED_UNDER, (user_id, after, path, len(prefix), prefix, json.dumps(above))
    ) as cur:
        row = await cur.fetchone()
    if row is None:
        return None
    new, old = str(row[0]), row[1]
    # a move out names the way it left by its old path
    inside = new == path or new.startswith(prefix) or new in above
    return new if inside or old is None else str(old)


async def floor(conn: aiosqlite.Connection) -> int:
    async with conn.execute("SELECT value FROM settings WHERE key = ?", (FLOOR_KEY,)) as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def prune(conn: aiosqlite.Connection, before_at: int) -> int:
    """Forget changes older than *before_at* (ms); raise the floor to match."""
    async with conn.execute(
        "SELECT max(seq) FROM changes WHERE at < ?", (before_at,)
    ) as cur:
        row = await cur.fetchone()
    top = row[0] if row else None
    if top is None:
        return 0
    cur2 = await conn.execute("DELETE FROM changes WHERE seq <= ?", (top,))
    await conn.execute(
        "INSERT INTO settings (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)",
        (FLOOR_KEY, int(top)),
    )
    return cur2.rowcount
