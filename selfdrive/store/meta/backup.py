"""Queries of the backup: its queue of blocks and its state (migration 0012)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiosqlite

from selfdrive.core.errors import StorageError


@dataclass(frozen=True)
class Pending:
    blocks: int
    bytes: int
    #: when the oldest pending block was recorded (ms), None if none is
    oldest_ms: int | None


@dataclass(frozen=True)
class State:
    snapshot_id: str | None
    snapshot_at: int | None
    snapshot_seq: int
    snapshot_bytes: int | None
    last_error: str | None
    last_error_at: int | None
    last_success_at: int | None


async def pending(conn: aiosqlite.Connection) -> Pending:
    async with conn.execute(
        "SELECT count(*), coalesce(sum(stored_size), 0), min(queued_at) FROM backup_queue"
    ) as cur:
        row = await cur.fetchone()
    assert row is not None
    return Pending(int(row[0]), int(row[1]), row[2])


async def next_batch(
    conn: aiosqlite.Connection, limit: int, after: tuple[int, bytes] | None = None
) -> list[tuple[bytes, int, int]]:
    """Up to *limit* queued blocks (id, stored size, queued_at), oldest first,
    after the (queued_at, id) *after* (a pass walks the queue once)."""
    if after is None:
        sql, args = ("SELECT block_id, stored_size, queued_at FROM backup_queue"
                     " ORDER BY queued_at, block_id LIMIT ?", (limit,))
    else:
        sql = ("SELECT block_id, stored_size, queued_at FROM backup_queue"
               " WHERE (queued_at, block_id) > (?, ?) ORDER BY queued_at, block_id LIMIT ?")
        args = (after[0], after[1], limit)  # type: ignore[assignment]
    async with conn.execute(sql, args) as cur:
        return [(bytes(r[0]), int(r[1]), int(r[2])) for r in await cur.fetchall()]


async def done(conn: aiosqlite.Connection, block_ids: Sequence[bytes]) -> None:
    """The bucket has these blocks (or they are gone from the store)."""
    await conn.executemany("DELETE FROM backup_queue WHERE block_id = ?",
                           [(b,) for b in block_ids])


async def failed(conn: aiosqlite.Connection, failures: Sequence[tuple[bytes, str]]) -> None:
    await conn.executemany(
        "UPDATE backup_queue SET attempts = attempts + 1, last_error = ? WHERE block_id = ?",
        [(error[:500], b) for b, error in failures])


async def still_queued(conn: aiosqlite.Connection, block_ids: Sequence[bytes]) -> set[bytes]:
    out: set[bytes] = set()
    for start in range(0, len(block_ids), 500):
        chunk = block_ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        async with conn.execute(
            f"SELECT block_id FROM backup_queue WHERE block_id IN ({marks})", chunk
        ) as cur:
            out.update(bytes(r[0]) for r in await cur.fetchall())
    return out


async def queued_ids(conn: aiosqlite.Connection) -> list[bytes]:
    async with conn.execute("SELECT block_id FROM backup_queue") as cur:
        return [bytes(r[0]) for r in await cur.fetchall()]


async def clear_queue(conn: aiosqlite.Connection) -> None:
    await conn.execute("DELETE FROM backup_queue")


async def state(conn: aiosqlite.Connection) -> State:
    async with conn.execute(
        "SELECT snapshot_id, snapshot_at, snapshot_seq, snapshot_bytes, last_error,"
        " last_error_at, last_success_at FROM backup_state WHERE id = 1"
    ) as cur:
        row = await cur.fetchone()
    assert row is not None, "migration 0012 makes the row"
    return State(*row)


async def record_snapshot(conn: aiosqlite.Connection, snapshot_id: str, at: int, seq: int,
                          size: int) -> None:
    await conn.execute(
        "UPDATE backup_state SET snapshot_id = ?, snapshot_at = ?, snapshot_seq = ?,"
        " snapshot_bytes = ? WHERE id = 1", (snapshot_id, at, seq, size))


async def record_error(conn: aiosqlite.Connection, error: str, at: int) -> None:
    await conn.execute("UPDATE backup_state SET last_error = ?, last_error_at = ? WHERE id = 1",
                       (error[:1000], at))


async def record_success(conn: aiosqlite.Connection, at: int) -> None:
    await conn.execute(
        "UPDATE backup_state SET last_error = NULL, last_error_at = NULL, last_success_at = ?"
        " WHERE id = 1", (at,))


async def change_seq(conn: aiosqlite.Connection) -> int:
    """The change journal's last seq (pruning the journal never lowers it)."""
    async with conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'changes'") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def requeue(conn: aiosqlite.Connection, block_ids: Sequence[bytes]) -> None:
    """Queue these blocks again (verify found them missing in the bucket)."""
    await conn.executemany(
        "INSERT INTO backup_queue (block_id, stored_size, queued_at)"
        " SELECT id, stored_size, created_at FROM blocks WHERE id = ?"
        " ON CONFLICT (block_id) DO NOTHING", [(b,) for b in block_ids])


#: every block something needs: a revision (live, old or in the trash), an
#: unfinished upload, a block sent and not yet committed
REFERENCED_SQL = (
    "SELECT b.id, b.stored_size FROM blocks b WHERE"
    " EXISTS (SELECT 1 FROM revision_blocks rb WHERE rb.block_id = b.id)"
    " OR EXISTS (SELECT 1 FROM upload_blocks ub WHERE ub.block_id = b.id)"
    " OR EXISTS (SELECT 1 FROM uploaded_blocks ud WHERE ud.block_id = b.id)"
)


async def referenced_blocks(conn: aiosqlite.Connection) -> list[tuple[bytes, int]]:
    """(id, stored size) of every block something needs (`REFERENCED_SQL`)."""
    async with conn.execute(REFERENCED_SQL) as cur:
        return [(bytes(r[0]), int(r[1])) for r in await cur.fetchall()]


# --- a snapshot's copy of the database, read where it lies (in a worker thread) ---------

def _open_copy(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def read_snapshot_queue(path: Path) -> tuple[int, list[bytes]]:
    """(the journal's last seq, the blocks still queued) of a snapshot's copy."""
    conn = _open_copy(path)
    try:
        row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'changes'").fetchone()
        ids = [bytes(r[0]) for r in conn.execute("SELECT block_id FROM backup_queue")]
    finally:
        conn.close()
    return (int(row[0]) if row else 0), ids


def read_referenced(path: Path) -> list[tuple[bytes, int]]:
    """(id, stored size) of every block a snapshot's copy needs."""
    conn = _open_copy(path)
    try:
        return [(bytes(r[0]), int(r[1])) for r in conn.execute(REFERENCED_SQL)]
    finally:
        conn.close()


def check_integrity(path: Path) -> None:
    """Raise StorageError unless SQLite finds the database file whole."""
    conn = _open_copy(path)
    try:
        result = conn.execute("PRAGMA integrity_check").fetchall()
    except sqlite3.DatabaseError as exc:
        raise StorageError(f"the snapshot is not a database: {exc}") from None
    finally:
        conn.close()
    if result != [("ok",)]:
        raise StorageError(f"the snapshot's database is damaged: {result[:3]}")


def drop_what_stays_behind(path: Path) -> tuple[int, int]:
    """In a database being restored: drop unfinished uploads (their staged
    bytes were on the old disk) and the rows of blocks nothing references
    (garbage when the snapshot was taken); returns how many of each."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("BEGIN IMMEDIATE")
        uploads = conn.execute("DELETE FROM uploads").rowcount
        unreferenced = conn.execute(
            "DELETE FROM blocks WHERE id NOT IN (SELECT id FROM (" + REFERENCED_SQL + "))"
        ).rowcount
        conn.execute("COMMIT")
    finally:
        conn.close()
    return uploads, unreferenced


def mark_restored(path: Path, snapshot_id: str, now: int) -> None:
    """The bucket has every block of a restored database: nothing is queued."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("DELETE FROM backup_queue")
        conn.execute(
            "UPDATE backup_state SET snapshot_id = ?, snapshot_at = ?, last_error = NULL,"
            " last_error_at = NULL, last_success_at = ?, snapshot_seq = coalesce("
            "(SELECT seq FROM sqlite_sequence WHERE name = 'changes'), 0) WHERE id = 1",
            (snapshot_id, now, now))
        conn.execute("COMMIT")
    finally:
        conn.close()
