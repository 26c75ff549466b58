"""Queries for notifications: add (coalescing bursts), list, mark read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import aiosqlite

from selfdrive.store.meta.batching import in_batches

#: events of one kind on one node by one person this close together are one
COALESCE_MS = 60_000

#: journal operations, and the notification each makes
KIND_OF_OP = {"add": "added", "modify": "edited", "delete": "deleted", "move": "moved"}


@dataclass(frozen=True)
class Notification:
    id: int
    kind: str
    actor: str | None
    path: str
    count: int
    created_at: int
    updated_at: int
    read: bool


async def add(
    conn: aiosqlite.Connection, *, user_id: int, kind: str, actor_id: int | None, node_id: int,
    path: str, now: int,
) -> None:
    """Tell *user_id*; a burst of the same event adds to the unread one."""
    cur = await conn.execute(
        "UPDATE notifications SET count = count + 1, updated_at = ?, path = ?"
        " WHERE id = (SELECT id FROM notifications WHERE user_id = ? AND node_id = ?"
        " AND kind = ? AND actor_id IS ? AND read_at IS NULL AND updated_at >= ?"
        " ORDER BY id DESC LIMIT 1)",
        (now, path, user_id, node_id, kind, actor_id, now - COALESCE_MS),
    )
    if cur.rowcount:
        return
    await conn.execute(
        "INSERT INTO notifications (user_id, kind, actor_id, node_id, path, created_at,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (user_id, kind, actor_id, node_id, path, now, now),
    )


async def page(
    conn: aiosqlite.Connection, user_id: int, limit: int, offset: int
) -> tuple[list[Notification], int]:
    """Unread first, newest first; and how many are unread."""
    async with conn.execute(
        "SELECT n.id, n.kind, u.name, n.path, n.count, n.created_at, n.updated_at,"
        " n.read_at IS NOT NULL FROM notifications n LEFT JOIN users u ON u.id = n.actor_id"
        " WHERE n.user_id = ? ORDER BY n.read_at IS NOT NULL, n.updated_at DESC, n.id DESC"
        " LIMIT ? OFFSET ?",
        (user_id, limit, offset),
    ) as cur:
        rows = [Notification(int(r[0]), r[1], r[2], r[3], int(r[4]), int(r[5]), int(r[6]),
                             bool(r[7])) for r in await cur.fetchall()]
    async with conn.execute(
        "SELECT count(*) FROM notifications WHERE user_id = ? AND read_at IS NULL", (user_id,)
    ) as cur:
        row = await cur.fetchone()
    return rows, int(row[0]) if row else 0


async def mark_read(
    conn: aiosqlite.Connection, user_id: int, ids: Sequence[int] | None, now: int
) -> int:
    """Mark *ids* (all if None) of *user_id* read; return how many changed."""
    if ids is None:
        cur = await conn.execute(
            "UPDATE notifications SET read_at = ? WHERE user_id = ? AND read_at IS NULL",
            (now, user_id),
        )
        return cur.rowcount
    changed = 0
    for batch, marks in in_batches(list(ids)):
        cur = await conn.execute(
            f"UPDATE notifications SET read_at = ? WHERE user_id = ? AND read_at IS NULL"
            f" AND id IN ({marks})",
            [now, user_id, *batch],
        )
        changed += cur.rowcount
    return changed
