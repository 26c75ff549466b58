"""Queries for public links (migration 0007; the rules are in services/links.py)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import aiosqlite


@dataclass(frozen=True)
class Link:
    id: int
    token: str
    node_id: int
    owner_id: int
    creator_id: int
    password_hash: str | None
    expires_at: int | None
    allow_upload: bool
    max_downloads: int | None
    downloads: int
    created_at: int


@dataclass(frozen=True)
class ReceivedShare:
    """The share through which a user who is not the owner may link a node."""

    role: str
    mount_name: str
    share_node_id: int


_COLS = (
    "id, token, node_id, owner_id, creator_id, password_hash, expires_at, allow_upload,"
    " max_downloads, downloads, created_at FROM links"
)


def _link(row: Iterable[Any]) -> Link:
    r = tuple(row)
    return Link(
        id=r[0], token=r[1], node_id=r[2], owner_id=r[3], creator_id=r[4], password_hash=r[5],
        expires_at=r[6], allow_upload=bool(r[7]), max_downloads=r[8], downloads=r[9],
        created_at=r[10],
    )


async def insert(
    conn: aiosqlite.Connection, *, token: str, node_id: int, owner_id: int, creator_id: int,
    password_hash: str | None, expires_at: int | None, allow_upload: bool,
    max_downloads: int | None, now: int,
) -> int:
    cur = await conn.execute(
        "INSERT INTO links (token, node_id, owner_id, creator_id, password_hash, expires_at,"
        " allow_upload, max_downloads, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (token, node_id, owner_id, creator_id, password_hash, expires_at, int(allow_upload),
         max_downloads, now),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


async def by_id(conn: aiosqlite.Connection, link_id: int) -> Link | None:
    async with conn.execute(f"SELECT {_COLS} WHERE id = ?", (link_id,)) as cur:
        row = await cur.fetchone()
    return _link(row) if row else None


async def by_token(conn: aiosqlite.Connection, token: str) -> Link | None:
    async with conn.execute(f"SELECT {_COLS} WHERE token = ?", (token,)) as cur:
        row = await cur.fetchone()
    return _link(row) if row else None


async def of_creator(conn: aiosqlite.Connection, creator_id: int) -> list[Link]:
    async with conn.execute(
        f"SELECT {_COLS} WHERE creator_id = ? ORDER BY id", (creator_id,)
    ) as cur:
        return [_link(r) for r in await cur.fetchall()]


async def delete(conn: aiosqlite.Connection, creator_id: int, link_id: int) -> bool:
    cur = await conn.execute(
        "DELETE FROM links WHERE id = ? AND creator_id = ?", (link_id, creator_id)
    )
    return cur.rowcount > 0


async def count_download(conn: aiosqlite.Connection, link_id: int) -> bool:
    """Count one more download; False (and nothing counted) if the link is used up."""
    cur = await conn.execute(
        "UPDATE links SET downloads = downloads + 1"
        " WHERE id = ? AND (max_downloads IS NULL OR downloads < max_downloads)",
        (link_id,),
    )
    return cur.rowcount > 0


async def received_share(
    conn: aiosqlite.Connection, node_id: int, user_id: int
) -> ReceivedShare | None:
    """The share on *node_id* or a folder above it that *user_id* received, if any
    (nested shares to one user are refused, so there is at most one)."""
    async with conn.execute(
        "WITH RECURSIVE up(id) AS (SELECT ? UNION ALL"
        " SELECT n.parent_id FROM nodes n JOIN up ON n.id = up.id WHERE n.parent_id IS NOT NULL)"
        " SELECT s.role, s.mount_name, s.node_id FROM shares s JOIN up ON s.node_id = up.id"
        " WHERE s.recipient_id = ? LIMIT 1",
        (node_id, user_id),
    ) as cur:
        row = await cur.fetchone()
    return ReceivedShare(str(row[0]), str(row[1]), int(row[2])) if row else None


async def folder_stats(conn: aiosqlite.Connection, node_id: int) -> tuple[int, int, int]:
    """(files, folders, bytes) of the live nodes under a folder (not itself)."""
    async with conn.execute(
        "WITH RECURSIVE t(id) AS (SELECT ? UNION ALL"
        " SELECT c.id FROM nodes c JOIN t ON c.parent_id = t.id WHERE c.trashed_at IS NULL)"
        " SELECT coalesce(sum(m.kind = 'file'), 0), coalesce(sum(m.kind = 'folder'), 0),"
        " coalesce(sum(r.size), 0) FROM t JOIN nodes m ON m.id = t.id"
        " LEFT JOIN revisions r ON r.node_id = m.id AND r.rev = m.current_rev"
        " WHERE m.id != ?",
        (node_id, node_id),
    ) as cur:
        row = await cur.fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])
