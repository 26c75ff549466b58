"""Queries for WebDAV clients' side files (migration 0009, table dav_junk)."""

from __future__ import annotations

import aiosqlite
import msgspec


class JunkRow(msgspec.Struct, frozen=True):
    parent_id: int
    name: str
    owner_id: int
    size: int
    modified_at: int


_COLS = "parent_id, name, owner_id, size, modified_at"


async def get(conn: aiosqlite.Connection, parent_id: int, name: str) -> JunkRow | None:
    async with conn.execute(f"SELECT {_COLS} FROM dav_junk WHERE parent_id = ? AND name = ?",
                            (parent_id, name)) as cur:
        row = await cur.fetchone()
    return JunkRow(*tuple(row)) if row else None


async def sealed(conn: aiosqlite.Connection, parent_id: int, name: str) -> bytes | None:
    async with conn.execute("SELECT sealed FROM dav_junk WHERE parent_id = ? AND name = ?",
                            (parent_id, name)) as cur:
        row = await cur.fetchone()
    return bytes(row[0]) if row else None


async def in_folder(conn: aiosqlite.Connection, parent_id: int) -> list[JunkRow]:
    async with conn.execute(f"SELECT {_COLS} FROM dav_junk WHERE parent_id = ? ORDER BY name",
                            (parent_id,)) as cur:
        return [JunkRow(*tuple(row)) for row in await cur.fetchall()]


async def usage(conn: aiosqlite.Connection, owner_id: int) -> tuple[int, int]:
    """(files, bytes) of an owner's side files."""
    async with conn.execute("SELECT count(*), coalesce(sum(size), 0) FROM dav_junk"
                            " WHERE owner_id = ?", (owner_id,)) as cur:
        row = await cur.fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


async def put(conn: aiosqlite.Connection, row: JunkRow, sealed_: bytes) -> None:
    await conn.execute(
        "INSERT INTO dav_junk (parent_id, name, owner_id, size, sealed, modified_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (parent_id, name) DO UPDATE SET"
        " size = excluded.size, sealed = excluded.sealed, modified_at = excluded.modified_at",
        (row.parent_id, row.name, row.owner_id, row.size, sealed_, row.modified_at),
    )


async def delete(conn: aiosqlite.Connection, parent_id: int, name: str) -> bool:
    cur = await conn.execute("DELETE FROM dav_junk WHERE parent_id = ? AND name = ?",
                             (parent_id, name))
    return cur.rowcount > 0
