"""Queries for resumable uploads (the `resumable_uploads` and `upload_parts` tables).

An upload's bytes so far are its parts (whole blocks, in order) and then its
staged tail; `ResumableRow.offset` is what the server holds durably.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import aiosqlite

from selfdrive.store.meta import gc as gcq

_COLUMNS = (
    "r.upload_id, r.token, u.user_id, u.path, u.created_at, u.expires_at, r.device_id,"
    " r.length, r.base_rev, r.mtime, r.metadata, r.parts_end, r.staged_at, r.staged_len,"
    " r.staged_gen, r.done_path, r.done_rev, r.executable, r.link_id"
)


@dataclass(frozen=True)
class ResumableRow:
    upload_id: int
    token: str
    user_id: int
    path: str
    created_at: int
    expires_at: int
    device_id: int | None
    length: int
    base_rev: int | None
    mtime: int | None
    metadata: str
    parts_end: int
    staged_at: int
    staged_len: int
    staged_gen: int
    done_path: str | None
    done_rev: int | None
    #: the revision it makes is executable
    executable: bool = False
    #: the link whose file drop made it; None: the user's own
    link_id: int | None = None

    @property
    def staged_end(self) -> int:
        return self.staged_at + self.staged_len

    @property
    def offset(self) -> int:
        """Bytes the server holds durably: the parts, then the staged tail."""
        return max(self.parts_end, self.staged_end)

    @property
    def tail_len(self) -> int:
        """How many staged bytes follow the parts (0 if the tail was used up)."""
        return max(self.staged_end - self.parts_end, 0)

    @property
    def done(self) -> bool:
        return self.done_rev is not None


def _row(r: Sequence[object]) -> ResumableRow:
    values = list(r)
    values[-2] = bool(values[-2])  # executable
    return ResumableRow(*values)  # type: ignore[arg-type]


async def create(
    conn: aiosqlite.Connection, *, token: str, user_id: int, path: str, device_id: int | None,
    length: int, base_rev: int | None, mtime: int | None, metadata: str, now: int,
    expires_at: int, executable: bool = False, link_id: int | None = None,
) -> int:
    upload_id = await gcq.open_upload(conn, user_id, path, now, expires_at)
    await conn.execute(
        "INSERT INTO resumable_uploads (upload_id, token, device_id, length, base_rev, mtime,"
        " metadata, executable, link_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (upload_id, token, device_id, length, base_rev, mtime, metadata, int(executable),
         link_id),
    )
    return upload_id


async def by_token(conn: aiosqlite.Connection, token: str) -> ResumableRow | None:
    async with conn.execute(
        f"SELECT {_COLUMNS} FROM resumable_uploads r JOIN uploads u ON u.id = r.upload_id"
        " WHERE r.token = ?",
        (token,),
    ) as cur:
        row = await cur.fetchone()
    return None if row is None else _row(row)


async def open_totals(conn: aiosqlite.Connection, user_id: int,
                      link_id: int | None = None) -> tuple[int, int, int]:
    """(count, sum of lengths, staged bytes) of the unfinished resumable uploads
    of one pool: a user's own (*link_id* None), or one file drop's."""
    async with conn.execute(
        "SELECT count(*), coalesce(sum(r.length), 0), coalesce(sum(r.staged_len), 0)"
        " FROM resumable_uploads r JOIN uploads u ON u.id = r.upload_id"
        " WHERE u.user_id = ? AND r.link_id IS ? AND r.done_rev IS NULL",
        (user_id, link_id),
    ) as cur:
        row = await cur.fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


async def parts(conn: aiosqlite.Connection, upload_id: int) -> list[tuple[bytes, int]]:
    """(block id, size) of an upload's parts, in order."""
    async with conn.execute(
        "SELECT block_id, size FROM upload_parts WHERE upload_id = ? ORDER BY seq", (upload_id,)
    ) as cur:
        return [(bytes(r[0]), int(r[1])) for r in await cur.fetchall()]


async def add_parts(
    conn: aiosqlite.Connection, upload_id: int, refs: Sequence[tuple[bytes, int, int]],
    *, old_parts_end: int, now: int,
) -> int | None:
    """Append durable blocks (id, size, stored size) to an upload's parts.

    Compare-and-set on the parts' end: returns the new end, or None (and
    changes nothing) if another writer moved it meanwhile.
    """
    new_end = old_parts_end + sum(size for _, size, _ in refs)
    cur = await conn.execute(
        "UPDATE resumable_uploads SET parts_end = ? WHERE upload_id = ? AND parts_end = ?",
        (new_end, upload_id, old_parts_end),
    )
    if cur.rowcount != 1:
        return None
    async with conn.execute(
        "SELECT coalesce(max(seq), -1) FROM upload_parts WHERE upload_id = ?", (upload_id,)
    ) as c:
        row = await c.fetchone()
    first = int(row[0]) + 1 if row else 0
    await conn.executemany(
        "INSERT INTO upload_parts (upload_id, seq, block_id, size) VALUES (?, ?, ?, ?)",
        [(upload_id, first + i, bid, size) for i, (bid, size, _) in enumerate(refs)],
    )
    await gcq.pin_blocks(conn, upload_id, refs, now)
    return new_end


async def set_staged(
    conn: aiosqlite.Connection, upload_id: int, *, at: int, length: int, gen: int
) -> None:
    await conn.execute(
        "UPDATE resumable_uploads SET staged_at = ?, staged_len = ?, staged_gen = ?"
        " WHERE upload_id = ?",
        (at, length, gen, upload_id),
    )


async def extend(conn: aiosqlite.Connection, upload_id: int, expires_at: int) -> None:
    await conn.execute("UPDATE uploads SET expires_at = ? WHERE id = ?", (expires_at, upload_id))


async def mark_done(
    conn: aiosqlite.Connection, upload_id: int, path: str, rev: int, expires_at: int
) -> None:
    """The upload is a revision now: drop its parts and pins, keep the row (so a
    client that lost the last answer learns the outcome) until it expires."""
    await conn.execute("DELETE FROM upload_parts WHERE upload_id = ?", (upload_id,))
    await conn.execute("DELETE FROM upload_blocks WHERE upload_id = ?", (upload_id,))
    await conn.execute(
        "UPDATE resumable_uploads SET done_path = ?, done_rev = ?, staged_len = 0"
        " WHERE upload_id = ?",
        (path, rev, upload_id),
    )
    await extend(conn, upload_id, expires_at)


async def delete(conn: aiosqlite.Connection, upload_id: int) -> None:
    await gcq.close_upload(conn, upload_id)


async def staging_refs(conn: aiosqlite.Connection) -> tuple[set[tuple[str, int]], set[str]]:
    """(token, gen) of every staged tail in use, and every upload's token."""
    async with conn.execute("SELECT token, staged_gen, staged_len FROM resumable_uploads") as cur:
        rows = await cur.fetchall()
    return {(str(r[0]), int(r[1])) for r in rows if r[2] > 0}, {str(r[0]) for r in rows}
