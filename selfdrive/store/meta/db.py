"""The SQLite database: one writer, a few read-only readers, migrations.

Terms: the *writer* is the single connection that changes the database; every
change runs in `Database.write()`, which holds an asyncio lock for the whole
``BEGIN IMMEDIATE`` ... ``COMMIT``, so writers never fight over SQLite's lock
and a transaction never sees ``SQLITE_BUSY`` from this process.  *Readers* are
read-only connections (``mode=ro``) handed out by `Database.read()`; in WAL
mode they read a consistent snapshot while the writer works.

Durability: ``journal_mode=WAL`` and ``synchronous=FULL``, so a committed
transaction survives a power cut (DESIGN.md rule 1).

Cancellation: a request may be cancelled at any await (its client went
away), also while a BEGIN, COMMIT or ROLLBACK waits its turn on the
connection's thread, where it still runs.  So these statements are awaited
to their end (`_settled`) before the cancellation goes on, and a connection
goes back (to the pool, or to the next writer) only with no transaction
open.

Migrations are the files ``migrations/NNNN_name.sql``, applied in order;
``PRAGMA user_version`` records the last one applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import TypeVar

import aiosqlite

from selfdrive.core.errors import SchemaTooNew

log = logging.getLogger("selfdrive.db")

READERS = 4
BUSY_TIMEOUT_MS = 10_000

_T = TypeVar("_T")


async def _settled(work: Awaitable[_T]) -> _T:
    """Await *work* to its end even if this task is cancelled meanwhile; a
    cancellation is raised once the work is done (and its own error, if any,
    is logged rather than lost)."""
    task = asyncio.ensure_future(work)
    cancelled = False
    while not task.done():
        try:
            await asyncio.wait([task])
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        if not task.cancelled() and task.exception() is not None:
            log.error("a statement failed while its request was cancelled",
                      exc_info=task.exception())
        raise asyncio.CancelledError
    return task.result()


async def _end_transaction(conn: aiosqlite.Connection) -> None:
    """Roll back whatever is still open on *conn* (nothing is pending on its
    thread when this is called)."""
    if conn.in_transaction:
        await _settled(conn.execute("ROLLBACK"))


def migrations() -> list[tuple[int, str, str]]:
    """(number, file name, SQL) of every migration, in order."""
    found = []
    for entry in resources.files("selfdrive.store.meta").joinpath("migrations").iterdir():
        if entry.name.endswith(".sql"):
            number = int(entry.name.split("_", 1)[0])
            found.append((number, entry.name, entry.read_text("utf-8")))
    found.sort()
    numbers = [n for n, _, _ in found]
    if numbers != list(range(1, len(numbers) + 1)):
        raise RuntimeError(f"migrations are not numbered 1..n: {numbers}")
    return found


def _configure(conn: sqlite3.Connection) -> None:
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")


def migrate(path: Path) -> int:
    """Bring the database at *path* to the newest schema; return its version.

    Synchronous on purpose: it runs once at start-up (and from the CLI), before
    any connection is opened for serving.
    """
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        _configure(conn)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        known = migrations()
        newest = known[-1][0]
        if version > newest:
            raise SchemaTooNew(
                f"{path} is at schema version {version}, newer than this selfdrive knows"
                f" ({newest}): a newer version upgraded it. Run that version, or restore the"
                " copy taken before the upgrade (backups/ in the data dir)")
        if 0 < version < newest:
            copy = _copy_before_upgrade(conn, path, version)
            log.info("upgrading %s from schema %d to %d; a copy of it is in %s",
                     path, version, newest, copy)
        for number, _name, sql in known:
            if number <= version:
                continue
            conn.execute("BEGIN IMMEDIATE")
            try:
                # executescript would COMMIT first; run statement by statement.
                for statement in _statements(sql):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            version = number
        return int(version)
    finally:
        conn.close()


def _copy_before_upgrade(conn: sqlite3.Connection, path: Path, version: int) -> Path:
    """A consistent copy of the database, before migrations change it."""
    folder = path.parent / "backups"
    folder.mkdir(mode=0o700, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    target = folder / f"{path.stem}-schema{version}-{stamp}.db"
    backup(conn, target)
    return target


def backup(source: sqlite3.Connection, target: Path) -> None:
    """Copy a live database consistently (SQLite's online backup), whatever
    writes happen meanwhile, to *target*, then fsync it; a file already there
    is replaced only once the copy is whole."""
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    dest = sqlite3.connect(partial)
    try:
        source.backup(dest, pages=1024)
        dest.execute("PRAGMA journal_mode = DELETE")
    finally:
        dest.close()
    with partial.open("rb+") as f:
        os.fsync(f.fileno())
    os.chmod(partial, 0o600)
    os.replace(partial, target)


def backup_file(path: Path, target: Path) -> None:
    """`backup` of the database at *path*, read through its own connection
    (the server may be running: WAL lets both go on)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        _configure(conn)
        backup(conn, target)
    finally:
        conn.close()


def _statements(sql: str) -> list[str]:
    out, current = [], ""
    for line in sql.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                out.append(current)
            current = ""
    if current.strip() and not all(
        ln.strip().startswith("--") or not ln.strip() for ln in current.splitlines()
    ):
        raise RuntimeError(f"incomplete SQL statement in migration: {current[:80]!r}")
    return out


class Database:
    """The open database: `write()` for changes, `read()` for queries."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        self._readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self._all_readers: list[aiosqlite.Connection] = []
        #: called after every committed write transaction, still under the
        #: write lock (the change feed reads what was journaled); it must not
        #: raise: the transaction is committed whatever it does
        self.after_commit: Callable[[aiosqlite.Connection], Awaitable[None]] | None = None
        #: told how long each `write()` waited for the write lock, in seconds
        #: (the metrics' histogram); it must be cheap and must not raise
        self.on_write_wait: Callable[[float], None] | None = None

    async def open(self) -> None:
        migrate(self.path)
        self._writer = await aiosqlite.connect(self.path, isolation_level=None)
        await self._writer.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        await self._writer.execute("PRAGMA foreign_keys = ON")
        await self._writer.execute("PRAGMA synchronous = FULL")
        uri = f"{self.path.resolve().as_uri()}?mode=ro"
        for _ in range(READERS):
            reader = await aiosqlite.connect(uri, uri=True, isolation_level=None)
            await reader.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._all_readers.append(reader)
            self._readers.put_nowait(reader)

    async def close(self) -> None:
        """Close every connection; the WAL is checkpointed into the database
        first, so a stopped server leaves one self-contained file."""
        for reader in self._all_readers:
            await reader.close()
        self._all_readers.clear()
        if self._writer is not None:
            async with self._write_lock:
                with contextlib.suppress(sqlite3.Error):
                    await self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            await self._writer.close()
            self._writer = None

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction: committed if the block ends normally, else rolled back."""
        assert self._writer is not None, "database is not open"
        asked = time.perf_counter()
        async with self._write_lock:
            if self.on_write_wait is not None:
                self.on_write_wait(time.perf_counter() - asked)
            conn = self._writer
            try:
                await _settled(conn.execute("BEGIN IMMEDIATE"))
                try:
                    yield conn
                except BaseException:
                    await _settled(conn.execute("ROLLBACK"))
                    raise
                # Settled: a cancelled request must not leave the writer
                # mid-commit, nor skip the hook of a commit that happened.
                await _settled(self._commit(conn))
            finally:
                await _end_transaction(conn)  # a failed BEGIN, COMMIT or ROLLBACK

    async def _commit(self, conn: aiosqlite.Connection) -> None:
        await conn.execute("COMMIT")
        if self.after_commit is not None:
            try:
                await self.after_commit(conn)
            except Exception:
                log.exception("after-commit hook failed")

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[aiosqlite.Connection]:
        """A read-only connection inside one snapshot transaction."""
        conn = await self._readers.get()
        try:
            await _settled(conn.execute("BEGIN"))
            try:
                yield conn
            finally:
                await _settled(conn.execute("COMMIT"))
        finally:
            try:
                await _end_transaction(conn)
            finally:
                self._readers.put_nowait(conn)
