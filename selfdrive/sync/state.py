"""The client's state: one SQLite file in the sync root's `.selfdrive/` folder.

It holds the base (what disk and server last agreed on), the remote tree as
of the change-feed cursor, the hashes of local files keyed by their stat (so
an unchanged file is not read again), and the problems to report.  Every
write is its own transaction, made after the action it records has happened,
so a client killed at any moment finds a base that is at worst one action
behind; the planner then sees both sides agree and records it, with nothing
sent twice and no spurious conflict.
"""

from __future__ import annotations

import sqlite3
import time
from array import array
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from selfdrive.sync.tree import Base, Kind, Remote, under

SCHEMA_VERSION = 1

_SCHEMA = """
-- What disk and server last agreed on, per key (tree.py).
CREATE TABLE base (
    key          TEXT PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('file', 'folder')),
    remote_id    INTEGER NOT NULL,
    ino          INTEGER NOT NULL,
    content_hash TEXT,
    size         INTEGER NOT NULL,
    rev          INTEGER NOT NULL,
    mtime_ns     INTEGER NOT NULL,
    executable   INTEGER NOT NULL
) STRICT;
-- The server's tree under the remote folder, as of meta.cursor.
CREATE TABLE remote (
    key          TEXT PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('file', 'folder')),
    id           INTEGER NOT NULL,
    content_hash TEXT,
    size         INTEGER NOT NULL,
    rev          INTEGER NOT NULL,
    executable   INTEGER NOT NULL,
    mtime        INTEGER
) STRICT;
CREATE INDEX remote_by_id ON remote (id);
-- A local file's hash and block list, valid while its stat is unchanged.
-- blocks: the 32-byte ids in order; sizes: their lengths (uint32 array).
CREATE TABLE hashes (
    key          TEXT PRIMARY KEY,
    ino          INTEGER NOT NULL,
    size         INTEGER NOT NULL,
    mtime_ns     INTEGER NOT NULL,
    ctime_ns     INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    blocks       BLOB NOT NULL,
    sizes        BLOB NOT NULL
) STRICT;
-- The block list of each file as last agreed: an upload of an edited file
-- compresses its new blocks against the old ones (transfer.py).
CREATE TABLE agreed (
    key          TEXT PRIMARY KEY,
    ino          INTEGER NOT NULL,
    size         INTEGER NOT NULL,
    mtime_ns     INTEGER NOT NULL,
    ctime_ns     INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    blocks       BLOB NOT NULL,
    sizes        BLOB NOT NULL
) STRICT;
-- What the client would not or could not do, for `selfdrive sync --status`.
CREATE TABLE problems (
    key    TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    at     INTEGER NOT NULL
) STRICT;
-- Small values: cursor, server, remote folder, pending count.
CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
"""


@dataclass(frozen=True, slots=True)
class Hashed:
    """A local file's content as chunked: block ids and sizes, in order."""
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int
    content_hash: str
    blocks: list[bytes]
    sizes: list[int]

    def offsets(self) -> Iterator[tuple[bytes, int, int]]:
        """(block id, offset, size) of each block."""
        at = 0
        for bid, n in zip(self.blocks, self.sizes, strict=True):
            yield bid, at, n
            at += n


class State:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version == 0:  # executescript commits as it goes: one script, one transaction
            self._db.executescript(
                f"BEGIN IMMEDIATE;\n{_SCHEMA}\nPRAGMA user_version={SCHEMA_VERSION};\nCOMMIT;")
        elif version != SCHEMA_VERSION:
            raise RuntimeError(f"{path} is from a newer selfdrive (schema {version})")

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # ---- meta ----

    def get(self, name: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def put(self, name: str, value: str | None) -> None:
        if value is None:
            self._db.execute("DELETE FROM meta WHERE name = ?", (name,))
        else:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (name, value))

    # ---- base ----

    def base(self) -> dict[str, Base]:
        return {
            r[0]: Base(kind=r[1], remote_id=r[2], ino=r[3], content_hash=r[4], size=r[5],
                       rev=r[6], mtime_ns=r[7], executable=bool(r[8]))
            for r in self._db.execute("SELECT * FROM base")
        }

    def set_base(self, key: str, item: Base) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO base VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (key, item.kind, item.remote_id, item.ino, item.content_hash, item.size, item.rev,
             item.mtime_ns, int(item.executable)),
        )

    def forget_base(self, key: str, *, subtree: bool = False) -> None:
        self._db.execute("DELETE FROM base WHERE key = ?", (key,))
        if subtree:
            self._db.execute("DELETE FROM base WHERE substr(key, 1, ?) = ?",
                             (len(key) + 1, key + "/"))

    def move_base(self, src: str, dst: str) -> None:
        self._move("base", src, dst)

    def clear_base(self) -> None:
        self._db.execute("DELETE FROM base")

    # ---- remote ----

    def remote(self) -> dict[str, Remote]:
        return {
            r[0]: Remote(kind=r[1], id=r[2], content_hash=r[3], size=r[4], rev=r[5],
                         executable=bool(r[6]), mtime=r[7])
            for r in self._db.execute("SELECT * FROM remote")
        }

    def remote_key_of(self, item_id: int) -> str | None:
        row = self._db.execute("SELECT key FROM remote WHERE id = ? LIMIT 1",
                               (item_id,)).fetchone()
        return None if row is None else str(row[0])

    def remote_get(self, key: str) -> Remote | None:
        r = self._db.execute("SELECT * FROM remote WHERE key = ?", (key,)).fetchone()
        if r is None:
            return None
        return Remote(kind=r[1], id=r[2], content_hash=r[3], size=r[4], rev=r[5],
                      executable=bool(r[6]), mtime=r[7])

    def remote_has(self, key: str) -> bool:
        return self._db.execute("SELECT 1 FROM remote WHERE key = ?", (key,)).fetchone() is not None

    def set_remote(self, key: str, item: Remote) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO remote VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (key, item.kind, item.id, item.content_hash, item.size, item.rev,
             int(item.executable), item.mtime),
        )

    def forget_remote(self, key: str) -> None:
        self._db.execute("DELETE FROM remote WHERE key = ? OR substr(key, 1, ?) = ?",
                         (key, len(key) + 1, key + "/"))

    def move_remote(self, src: str, dst: str) -> None:
        self._move("remote", src, dst)

    def replace_remote(self, items: Iterable[tuple[str, Remote]], cursor: str) -> None:
        """A fresh listing and the cursor it stands at, in one transaction."""
        with self.transaction():
            self._db.execute("DELETE FROM remote")
            for key, item in items:
                self.set_remote(key, item)
            self.put("cursor", cursor)

    def _move(self, table: str, src: str, dst: str) -> None:
        rows = self._db.execute(
            f"SELECT key FROM {table} WHERE key = ? OR substr(key, 1, ?) = ?",
            (src, len(src) + 1, src + "/"),
        ).fetchall()
        for (key,) in rows:
            assert under(key, src)
            self._db.execute(f"DELETE FROM {table} WHERE key = ?", (dst + key[len(src):],))
            self._db.execute(f"UPDATE {table} SET key = ? WHERE key = ?",
                             (dst + key[len(src):], key))

    # ---- hashes ----

    def hashed(self, key: str, table: str = "hashes") -> Hashed | None:
        r = self._db.execute(f"SELECT * FROM {table} WHERE key = ?", (key,)).fetchone()
        if r is None:
            return None
        blob: bytes = r[6]
        sizes = array("I")
        sizes.frombytes(r[7])
        return Hashed(ino=r[1], size=r[2], mtime_ns=r[3], ctime_ns=r[4], content_hash=r[5],
                      blocks=[blob[i:i + 32] for i in range(0, len(blob), 32)],
                      sizes=list(sizes))

    def set_hashed(self, key: str, h: Hashed, table: str = "hashes") -> None:
        self._db.execute(
            f"INSERT OR REPLACE INTO {table} VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (key, h.ino, h.size, h.mtime_ns, h.ctime_ns, h.content_hash, b"".join(h.blocks),
             array("I", h.sizes).tobytes()),
        )

    def forget_hashed(self, key: str) -> None:
        for table in ("hashes", "agreed"):
            self._db.execute(f"DELETE FROM {table} WHERE key = ? OR substr(key, 1, ?) = ?",
                             (key, len(key) + 1, key + "/"))

    def agreed(self, key: str) -> Hashed | None:
        return self.hashed(key, "agreed")

    def set_agreed(self, key: str, h: Hashed) -> None:
        self.set_hashed(key, h, "agreed")

    def move_hashed(self, src: str, dst: str) -> None:
        self._move("hashes", src, dst)
        self._move("agreed", src, dst)

    def hashed_by_content(self, content_hash: str) -> tuple[str, Hashed] | None:
        """A local file already known to hold this content (a copy costs no download)."""
        row = self._db.execute("SELECT key FROM hashes WHERE content_hash = ? LIMIT 1",
                               (content_hash,)).fetchone()
        if row is None:
            return None
        h = self.hashed(row[0])
        return None if h is None else (row[0], h)

    # ---- problems ----

    def problems(self) -> dict[str, str]:
        return {r[0]: r[1] for r in self._db.execute("SELECT key, reason FROM problems")}

    def set_problem(self, key: str, reason: str | None) -> None:
        if reason is None:
            self._db.execute("DELETE FROM problems WHERE key = ?", (key,))
        else:
            self._db.execute("INSERT OR REPLACE INTO problems VALUES (?, ?, ?)",
                             (key, reason, int(time.time() * 1000)))

    def clear_problems(self) -> None:
        self._db.execute("DELETE FROM problems")


def kind_of(text: str) -> Kind:
    if text not in ("file", "folder"):
        raise ValueError(f"not a kind: {text!r}")
    return "file" if text == "file" else "folder"
