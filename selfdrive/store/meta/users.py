"""Queries on users and devices (device tokens and web sessions: `Device.kind`)."""

from __future__ import annotations

import aiosqlite

from selfdrive.store.meta.records import Device, User

_USER_COLS = (
    "id, name, password_hash, is_admin, quota_bytes, used_bytes, root_id, created_at, disabled_at"
)


def _user(row: aiosqlite.Row | tuple[object, ...]) -> User:
    r = tuple(row)
    return User(
        id=r[0], name=r[1], password_hash=r[2], is_admin=bool(r[3]), quota_bytes=r[4],
        used_bytes=r[5], root_id=r[6], created_at=r[7], disabled_at=r[8],
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
        "INSERT INTO nodes (owner_id, parent_id, name, name_fold, kind, created_at, modified_at)"
        " VALUES (?, NULL, '', '', 'folder', ?, ?)",
        (user_id, now, now),
    )
    await conn.execute("UPDATE users SET root_id = ? WHERE id = ?", (cur.lastrowid, user_id))
    return user_id


async def set_password_hash(conn: aiosqlite.Connection, user_id: int, password_hash: str) -> None:
    await conn.execute("UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id))


async def set_quota(conn: aiosqlite.Connection, user_id: int, quota_bytes: int) -> None:
    await conn.execute("UPDATE users SET quota_bytes = ? WHERE id = ?", (quota_bytes, user_id))


async def set_admin(conn: aiosqlite.Connection, user_id: int, is_admin: bool) -> None:
    await conn.execute("UPDATE users SET is_admin = ? WHERE id = ?", (int(is_admin), user_id))


async def set_disabled(conn: aiosqlite.Connection, user_id: int, disabled_at: int | None) -> None:
    """Disable (at *disabled_at*, ms) or re-enable (None) an account."""
    await conn.execute("UPDATE users SET disabled_at = ? WHERE id = ?", (disabled_at, user_id))


async def count_active_admins(conn: aiosqlite.Connection) -> int:
    """Administrators whose account is not disabled."""
    async with conn.execute(
        "SELECT count(*) FROM users WHERE is_admin = 1 AND disabled_at IS NULL"
    ) as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def add_usage(conn: aiosqlite.Connection, user_id: int, delta: int) -> None:
    await conn.execute(
        "UPDATE users SET used_bytes = max(used_bytes + ?, 0) WHERE id = ?", (delta, user_id)
    )


_DEVICE_COLS = "id, user_id, name, created_at, last_seen_at, kind"


async def insert_device(
    conn: aiosqlite.Connection, user_id: int, name: str, token_hash: bytes, now: int,
    kind: str = "device",
) -> int:
    cur = await conn.execute(
        "INSERT INTO devices (user_id, name, token_hash, created_at, last_seen_at, kind)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (user_id, name, token_hash, now, now, kind),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


async def device_by_token_hash(
    conn: aiosqlite.Connection, token_hash: bytes, kind: str = "device"
) -> tuple[Device, User] | None:
    """The device (or web session, by *kind*) that holds this token, and its user."""
    async with conn.execute(
        f"SELECT {_DEVICE_COLS} FROM devices WHERE token_hash = ? AND kind = ?",
        (token_hash, kind),
    ) as cur:
        row = await cur.fetchone()
    if row is None:
        return None
    device = Device(*tuple(row))
    user = await user_by_id(conn, device.user_id)
    return (device, user) if user else None


async def list_devices(conn: aiosqlite.Connection, user_id: int) -> list[Device]:
    """Device tokens and web sessions alike, oldest first."""
    async with conn.execute(
        f"SELECT {_DEVICE_COLS} FROM devices WHERE user_id = ? ORDER BY id", (user_id,),
    ) as cur:
        return [Device(*tuple(row)) for row in await cur.fetchall()]


async def delete_device(conn: aiosqlite.Connection, user_id: int, device_id: int) -> bool:
    cur = await conn.execute(
        "DELETE FROM devices WHERE id = ? AND user_id = ?", (device_id, user_id)
    )
    return cur.rowcount > 0


async def touch_device(conn: aiosqlite.Connection, device_id: int, now: int) -> None:
    await conn.execute("UPDATE devices SET last_seen_at = ? WHERE id = ?", (now, device_id))


async def delete_devices_of(
    conn: aiosqlite.Connection, user_id: int, kinds: tuple[str, ...]
) -> int:
    """Delete every device of these kinds of a user; returns how many."""
    marks = ", ".join("?" * len(kinds))
    cur = await conn.execute(
        f"DELETE FROM devices WHERE user_id = ? AND kind IN ({marks})", (user_id, *kinds)
    )
    return cur.rowcount


async def delete_session_by_token_hash(conn: aiosqlite.Connection, token_hash: bytes) -> bool:
    cur = await conn.execute(
        "DELETE FROM devices WHERE token_hash = ? AND kind = 'web'", (token_hash,)
    )
    return cur.rowcount > 0


async def delete_ended_sessions(
    conn: aiosqlite.Connection, idle_since: int, created_since: int
) -> int:
    """Delete the web sessions last seen before *idle_since* or created before
    *created_since*; returns how many."""
    cur = await conn.execute(
        "DELETE FROM devices WHERE kind = 'web' AND (last_seen_at < ? OR created_at < ?)",
        (idle_since, created_since),
    )
    return cur.rowcount
