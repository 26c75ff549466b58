"""Queries on users and devices."""

from __future__ import annotations

import aiosqlite

from selfdrive.store.meta.records import Device, User

_USER_COLS = "id, name, password_hash, is_admin, quota_bytes, used_bytes, root_id, created_at"


def _user(row: aiosqlite.Row | tuple[object, ...]) -> User:
    r = tuple(row)
    return User(
        id=r[0], name=r[1], password_hash=r[2], is_admin=bool(r[3]), quota_bytes=r[4],
        used_bytes=r[5], root_id=r[6], created_at=r[7],
    )


async def count_users(conn: aiosqlite.Connection) -> int:
    async with conn.execute("SELECT count(*) FROM users") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def user_by_name(conn: aiosqlite.Connection, name: str) -> User | None:
    async with conn.execute(f"SELECT {_USER_COLS} FROM users WHERE name = ?", (name,)) as cur:
        row = await cur.fetchone()
    return _user(row) if row else None


async def user_by_id(conn: aiosqlite.Connection, user_id: int) -> User | None:
    async with conn.execute(f"SELECT {_USER_COLS} FROM users WHERE id = ?", (user_id,)) as cur:
        row = await cur.fetchone()
    return _user(row) if row else None


async def list_users(conn: aiosqlite.Connection) -> list[User]:
    async with conn.execute(f"SELECT {_USER_COLS} FROM users ORDER BY name") as cur:
        return [_user(row) for row in await cur.fetchall()]


async def insert_user(
    conn: aiosqlite.Connection, name: str, password_hash: str, *, is_admin: bool,
    quota_bytes: int, now: int,
) -> int:
    """A new user and their root folder; returns the user id."""
    cur = await conn.execute(
        "INSERT INTO users (name, password_hash, is_admin, quota_bytes, created_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (name, password_hash, int(is_admin), quota_bytes, now),
    )
    user_id = cur.lastrowid
    assert user_id is not None
    cur = await conn.execute(
        "INSERT INTO nodes (owner_id, parent_id, name, kind, created_at, modified_at)"
        " VALUES (?, NULL, '', 'folder', ?, ?)",
        (user_id, now, now),
    )
    await conn.execute("UPDATE users SET root_id = ? WHERE id = ?", (cur.lastrowid, user_id))
    return user_id


async def add_usage(conn: aiosqlite.Connection, user_id: int, delta: int) -> None:
    await conn.execute(
        "UPDATE users SET used_bytes = max(used_bytes + ?, 0) WHERE id = ?", (delta, user_id)
    )


async def insert_device(
    conn: aiosqlite.Connection, user_id: int, name: str, token_hash: bytes, now: int
) -> int:
    cur = await conn.execute(
        "INSERT INTO devices (user_id, name, token_hash, created_at, last_seen_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (user_id, name, token_hash, now, now),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


async def device_by_token_hash(
    conn: aiosqlite.Connection, token_hash: bytes
) -> tuple[Device, User] | None:
    async with conn.execute(
        "SELECT d.id, d.user_id, d.name, d.created_at, d.last_seen_at"
        " FROM devices d WHERE d.token_hash = ?",
        (token_hash,),
    ) as cur:
        row = await cur.fetchone()
    if row is None:
        return None
    device = Device(*tuple(row))
    user = await user_by_id(conn, device.user_id)
    return (device, user) if user else None


async def list_devices(conn: aiosqlite.Connection, user_id: int) -> list[Device]:
    async with conn.execute(
        "SELECT id, user_id, name, created_at, last_seen_at FROM devices"
        " WHERE user_id = ? ORDER BY id",
        (user_id,),
    ) as cur:
        return [Device(*tuple(row)) for row in await cur.fetchall()]


async def delete_device(conn: aiosqlite.Connection, user_id: int, device_id: int) -> bool:
    cur = await conn.execute(
        "DELETE FROM devices WHERE id = ? AND user_id = ?", (device_id, user_id)
    )
    return cur.rowcount > 0


async def touch_device(conn: aiosqlite.Connection, device_id: int, now: int) -> None:
    await conn.execute("UPDATE devices SET last_seen_at = ? WHERE id = ?", (now, device_id))
