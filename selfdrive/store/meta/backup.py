"""Queries of the backup: its queue of blocks per target, the targets'
state and the snapshots' (migrations 0012 and 0013).

A *target* is a bucket blocks are copied to, by name: ``primary`` ([backup])
or ``replica`` ([backup.replica]).  The queue holds one row per (block,
target) not yet known to be in that target's bucket.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiosqlite

from selfdrive.core.errors import StorageError

PRIMARY = "primary"
REPLICA = "replica"


@dataclass(frozen=True)
class Pending:
    blocks: int
    bytes: int
    #: when the oldest pending block was recorded (ms), None if none is
    oldest_ms: int | None


@dataclass(frozen=True)
class State:
    """The newest snapshot taken (uploaded to at least one target)."""

    snapshot_id: str | None
    snapshot_at: int | None
    snapshot_seq: int
    snapshot_bytes: int | None


@dataclass(frozen=True)
class TargetState:
    name: str
    #: the bucket its queue is for (`S3Target.location`); '' not bound yet
    location: str
    snapshot_id: str | None
    snapshot_at: int | None
    snapshot_bytes: int | None
    last_error: str | None
    last_error_at: int | None
    last_success_at: int | None


@dataclass(frozen=True)
class Queued:
    """A block of the queue with the targets it is still queued for."""

    block_id: bytes
    stored_size: int
    queued_at: int
    targets: frozenset[str]


def _marks(n: int) -> str:
    return ",".join("?" * n)


async def pending(conn: aiosqlite.Connection, target: str) -> Pending:
    async with conn.execute(
        "SELECT count(*), coalesce(sum(stored_size), 0), min(queued_at) FROM backup_queue"
        " WHERE target = ?", (target,)
    ) as cur:
        row = await cur.fetchone()
    assert row is not None
    return Pending(int(row[0]), int(row[1]), row[2])


async def next_batch(conn: aiosqlite.Connection, targets: Sequence[str], limit: int,
                     after: tuple[int, bytes] | None = None) -> list[Queued]:
    """Up to *limit* blocks queued for any of *targets*, oldest first, after
    the (queued_at, id) *after* (a pass walks the queue once), each with the
    targets (of those) it is queued for."""
    where = f"target IN ({_marks(len(targets))})"
    args: list[object] = list(targets)
    if after is not None:
        where += " AND (queued_at, block_id) > (?, ?)"
        args += [after[0], after[1]]
    async with conn.execute(
        "SELECT block_id, max(stored_size), queued_at, group_concat(target, ',')"
        f" FROM backup_queue WHERE {where} GROUP BY queued_at, block_id"
        " ORDER BY queued_at, block_id LIMIT ?", (*args, limit)
    ) as cur:
        return [Queued(bytes(r[0]), int(r[1]), int(r[2]), frozenset(str(r[3]).split(",")))
                for r in await cur.fetchall()]


async def done(conn: aiosqlite.Connection, pairs: Sequence[tuple[bytes, str]]) -> None:
    """These (block, target): the target's bucket has the block (or it is
    gone from the store)."""
    await conn.executemany("DELETE FROM backup_queue WHERE block_id = ? AND target = ?", pairs)


async def failed(conn: aiosqlite.Connection,
                 failures: Sequence[tuple[bytes, str, str]]) -> None:
    """(block, target, error) of copies that failed."""
    await conn.executemany(
        "UPDATE backup_queue SET attempts = attempts + 1, last_error = ?"
        " WHERE block_id = ? AND target = ?",
        [(error[:500], b, target) for b, target, error in failures])


async def still_queued(conn: aiosqlite.Connection, target: str,
                       block_ids: Sequence[bytes]) -> set[bytes]:
    out: set[bytes] = set()
    for start in range(0, len(block_ids), 500):
        chunk = block_ids[start:start + 500]
        async with conn.execute(
            f"SELECT block_id FROM backup_queue WHERE target = ? AND block_id IN"
            f" ({_marks(len(chunk))})", (target, *chunk)
        ) as cur:
            out.update(bytes(r[0]) for r in await cur.fetchall())
    return out


async def state(conn: aiosqlite.Connection) -> State:
    async with conn.execute(
        "SELECT snapshot_id, snapshot_at, snapshot_seq, snapshot_bytes FROM backup_state"
        " WHERE id = 1"
    ) as cur:
        row = await cur.fetchone()
    assert row is not None, "migration 0012 makes the row"
    return State(*row)


async def targets(conn: aiosqlite.Connection) -> dict[str, TargetState]:
    async with conn.execute(
        "SELECT name, location, snapshot_id, snapshot_at, snapshot_bytes, last_error,"
        " last_error_at, last_success_at FROM backup_targets ORDER BY name"
    ) as cur:
        return {str(r[0]): TargetState(*r) for r in await cur.fetchall()}


async def bind_target(conn: aiosqlite.Connection, name: str, location: str) -> int:
    """Make *name*'s queue the one of the bucket at *location*: a new target,
    or one whose bucket changed, gets every block queued (a new bucket has
    none); an unbound one (location '', from before 0013) adopts it.  Returns
    how many blocks were queued."""
    async with conn.execute("SELECT location FROM backup_targets WHERE name = ?",
                            (name,)) as cur:
        row = await cur.fetchone()
    if row is not None and row[0] in ("", location):
        if row[0] == "":
            await conn.execute("UPDATE backup_targets SET location = ? WHERE name = ?",
                               (location, name))
        return 0
    await conn.execute(
        "INSERT INTO backup_targets (name, location) VALUES (?, ?) ON CONFLICT (name) DO"
        " UPDATE SET location = excluded.location, snapshot_id = NULL, snapshot_at = NULL,"
        " snapshot_bytes = NULL, last_error = NULL, last_error_at = NULL", (name, location))
    cur = await conn.execute(
        "INSERT INTO backup_queue (block_id, target, stored_size, queued_at)"
        " SELECT id, ?, stored_size, created_at FROM blocks WHERE true"
        " ON CONFLICT (block_id, target) DO NOTHING", (name,))
    return int(cur.rowcount)


async def drop_target(conn: aiosqlite.Connection, name: str) -> bool:
    """Forget a target no longer configured, and its queue (foreign key cascade)."""
    cur = await conn.execute("DELETE FROM backup_targets WHERE name = ?", (name,))
    return bool(cur.rowcount)


async def record_snapshot(conn: aiosqlite.Connection, snapshot_id: str, at: int, seq: int,
                          size: int) -> None:
    """The newest snapshot taken, whichever targets got it."""
    await conn.execute(
        "UPDATE backup_state SET snapshot_id = ?, snapshot_at = ?, snapshot_seq = ?,"
        " snapshot_bytes = ? WHERE id = 1", (snapshot_id, at, seq, size))


async def record_target_snapshot(conn: aiosqlite.Connection, target: str, snapshot_id: str,
                                 at: int, size: int) -> None:
    await conn.execute(
        "UPDATE backup_targets SET snapshot_id = ?, snapshot_at = ?, snapshot_bytes = ?"
        " WHERE name = ?", (snapshot_id, at, size, target))


async def record_error(conn: aiosqlite.Connection, target: str, error: str, at: int) -> None:
    await conn.execute(
        "UPDATE backup_targets SET last_error = ?, last_error_at = ? WHERE name = ?",
        (error[:1000], at, target))


async def record_success(conn: aiosqlite.Connection, target: str, at: int) -> None:
    await conn.execute(
        "UPDATE backup_targets SET last_error = NULL, last_error_at = NULL,"
        " last_success_at = ? WHERE name = ?", (at, target))


async def change_seq(conn: aiosqlite.Connection) -> int:
    """The change journal's last seq (pruning the journal never lowers it)."""
    async with conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'changes'") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def requeue(conn: aiosqlite.Connection, target: str, block_ids: Sequence[bytes]) -> None:
    """Queue these blocks again for *target* (verify found them missing there)."""
    await conn.executemany(
        "INSERT INTO backup_queue (block_id, target, stored_size, queued_at)"
        " SELECT id, ?, stored_size, created_at FROM blocks WHERE id = ?"
        " AND EXISTS (SELECT 1 FROM backup_targets WHERE name = ?)"
        " ON CONFLICT (block_id, target) DO NOTHING",
        [(target, b, target) for b in block_ids])


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


def read_snapshot_queue(path: Path) -> tuple[int, dict[str, list[bytes]]]:
    """(the journal's last seq, the blocks still queued per target) of a
    snapshot's copy."""
    conn = _open_copy(path)
    try:
        row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'changes'").fetchone()
        queued: dict[str, list[bytes]] = {}
        for block_id, target in conn.execute("SELECT block_id, target FROM backup_queue"):
            queued.setdefault(str(target), []).append(bytes(block_id))
    finally:
        conn.close()
    return (int(row[0]) if row else 0), queued


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


def mark_restored(path: Path, source: str, snapshot_id: str, now: int) -> None:
    """A restored database: the target *source* it came from has every block
    it needs (a snapshot is uploaded only after the blocks it lists as queued
    for that target), so nothing is queued for it; the other target's queue
    is kept (those blocks may still be missing there)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("DELETE FROM backup_queue WHERE target = ?", (source,))
        conn.execute(
            "UPDATE backup_state SET snapshot_id = ?, snapshot_at = ?, snapshot_seq = coalesce("
            "(SELECT seq FROM sqlite_sequence WHERE name = 'changes'), 0) WHERE id = 1",
            (snapshot_id, now))
        conn.execute(
            "UPDATE backup_targets SET snapshot_id = ?, snapshot_at = ?, last_error = NULL,"
            " last_error_at = NULL, last_success_at = ? WHERE name = ?",
            (snapshot_id, now, now, source))
        conn.execute("COMMIT")
    finally:
        conn.close()
