"""Queries on the trash: entries, restoring, purging."""

from __future__ import annotations

from collections.abc import Sequence

import aiosqlite
import msgspec

from selfdrive.core.names import fold


class TrashEntry(msgspec.Struct, frozen=True):
    id: int
    kind: str
    path: str
    name: str
    parent_id: int | None
    deleted_at: int
    deleted_by: str | None
    size: int


# Every trashed node is a trash entry: each delete makes one.  A file deleted
# on its own and later the folder that held it are two entries; the folder's
# size leaves out what lies in entries of their own, so nothing counts twice.
_ENTRY = (
    "SELECT n.id, n.kind, coalesce(n.trashed_path, n.name), n.name, n.parent_id, n.trashed_at,"
    " u.name,"
    " (WITH RECURSIVE t(id) AS (SELECT n.id UNION ALL"
    "   SELECT c.id FROM nodes c JOIN t ON c.parent_id = t.id WHERE c.trashed_at IS NULL)"
    "  SELECT coalesce(sum(r.size), 0) FROM t JOIN nodes m ON m.id = t.id"
    "  JOIN revisions r ON r.node_id = m.id AND r.rev = m.current_rev)"
    " FROM nodes n LEFT JOIN users u ON u.id = n.trashed_by"
)
_IS_ENTRY = "n.trashed_at IS NOT NULL"


async def mark_trashed(
    conn: aiosqlite.Connection, node_id: int, path: str, user_id: int, now: int
) -> None:
    await conn.execute(
        "UPDATE nodes SET trashed_at = ?, trashed_by = ?, trashed_path = ? WHERE id = ?",
        (now, user_id, path, node_id),
    )


async def entries(conn: aiosqlite.Connection, owner_id: int) -> list[TrashEntry]:
    async with conn.execute(
        f"{_ENTRY} WHERE n.owner_id = ? AND {_IS_ENTRY} ORDER BY n.trashed_at DESC, n.id DESC",
        (owner_id,),
    ) as cur:
        return [TrashEntry(*tuple(row)) for row in await cur.fetchall()]


async def entry(conn: aiosqlite.Connection, owner_id: int, node_id: int) -> TrashEntry | None:
    async with conn.execute(
        f"{_ENTRY} WHERE n.owner_id = ? AND n.id = ? AND {_IS_ENTRY}", (owner_id, node_id)
    ) as cur:
        row = await cur.fetchone()
    return TrashEntry(*tuple(row)) if row else None


async def expired(conn: aiosqlite.Connection, before: int, limit: int) -> list[tuple[int, int]]:
    """(owner_id, node_id) of trash entries deleted before *before*."""
    async with conn.execute(
        "SELECT n.owner_id, n.id FROM nodes n"
        f" WHERE n.trashed_at < ? AND {_IS_ENTRY} ORDER BY n.trashed_at LIMIT ?",
        (before, limit),
    ) as cur:
        return [(int(r[0]), int(r[1])) for r in await cur.fetchall()]


async def untrash(conn: aiosqlite.Connection, node_id: int, parent_id: int, name: str) -> None:
    await conn.execute(
        "UPDATE nodes SET trashed_at = NULL, trashed_by = NULL, trashed_path = NULL,"
        " parent_id = ?, name = ?, name_fold = ? WHERE id = ?",
        (parent_id, name, fold(name), node_id),
    )


async def purge(conn: aiosqlite.Connection, node_ids: Sequence[int]) -> tuple[int, int]:
    """Delete trash entries and everything under them (entries of their own
    inside a purged folder included), for good.

    Returns (files deleted, bytes of their current revisions), the latter for
    the owner's usage.  Revisions and their block lists go with the nodes
    (ON DELETE CASCADE); the blocks themselves are left to the garbage
    collector.
    """
    files = size = 0
    for node_id in node_ids:
        async with conn.execute(
            "WITH RECURSIVE t(id) AS (SELECT ? UNION ALL"
            " SELECT c.id FROM nodes c JOIN t ON c.parent_id = t.id)"
            " SELECT count(r.id), coalesce(sum(r.size), 0) FROM t JOIN nodes m ON m.id = t.id"
            " LEFT JOIN revisions r ON r.node_id = m.id AND r.rev = m.current_rev"
            " WHERE m.kind = 'file'",
            (node_id,),
        ) as cur:
            row = await cur.fetchone()
        assert row is not None
        files += int(row[0])
        size += int(row[1])
        # Children first: nodes.parent_id has no ON DELETE CASCADE on purpose
        # (a live folder must never lose its children by accident).
        await conn.execute(
            "WITH RECURSIVE t(id, depth) AS (SELECT ?, 0 UNION ALL"
            " SELECT c.id, t.depth + 1 FROM nodes c JOIN t ON c.parent_id = t.id)"
            " DELETE FROM nodes WHERE id IN (SELECT id FROM t)",
            (node_id,),
        )
    return files, size
