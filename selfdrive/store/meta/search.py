"""Queries of the name search (migration 0011: nodes.name_fold, nodes_search).

Terms: a *key* is a path below the searched folder as one string, each name
preceded by ``\\x01`` (``"\\x01Docs\\x01cv.pdf"``).  ``\\x01`` sorts below
every character a name may hold (core/paths.py refuses control characters),
and SQLite compares text as UTF-8 bytes, which is code point order; so
comparing keys, in SQL or in Python, is comparing paths segment by segment:
the path-segment order of the recursive listing (services/listing.py).
"""

from __future__ import annotations

import aiosqlite

from selfdrive.core.names import fold

SEP = "\x01"
#: rows folded per transaction by `fold_missing`
FOLD_BATCH = 2000

# `f` walks the live folders below the top (?1, whose key is ?2) through the
# index; then the live children of each are read from the same index, and
# only those whose fold holds ?3 and whose key sorts after ?4 are kept, the
# first ?5 of them (SQLite keeps a top-N heap, not a full sort).
_SEARCH = """
WITH RECURSIVE f(id, key) AS (
  SELECT ?1, ?2
  UNION ALL
  SELECT n.id, f.key || char(1) || n.name FROM f
  JOIN nodes n INDEXED BY nodes_search
    ON n.parent_id = f.id AND n.kind = 'folder' AND n.trashed_at IS NULL
)
SELECT n.id, f.key || char(1) || n.name AS k FROM f
JOIN nodes n INDEXED BY nodes_search ON n.parent_id = f.id AND n.trashed_at IS NULL
WHERE instr(n.name_fold, ?3) > 0 AND k > ?4
ORDER BY k LIMIT ?5
"""


async def below(
    conn: aiosqlite.Connection, top_id: int, top_key: str, folded: str, *, after: str,
    limit: int,
) -> list[tuple[str, int]]:
    """(key, id) of the first *limit* live nodes below *top_id* whose fold
    holds *folded*, with keys (starting with *top_key*) after *after*."""
    async with conn.execute(_SEARCH, (top_id, top_key, folded, after, limit)) as cur:
        return [(str(r[1]), int(r[0])) for r in await cur.fetchall()]


async def any_unfolded(conn: aiosqlite.Connection) -> bool:
    async with conn.execute(
        "SELECT 1 FROM nodes INDEXED BY nodes_unfolded WHERE name_fold IS NULL LIMIT 1"
    ) as cur:
        return await cur.fetchone() is not None


async def fold_missing(conn: aiosqlite.Connection, limit: int = FOLD_BATCH) -> int:
    """Fold up to *limit* names not folded yet (rows from before migration
    0011); returns how many.  Call in a write transaction, until it returns 0."""
    async with conn.execute(
        "SELECT id, name FROM nodes INDEXED BY nodes_unfolded WHERE name_fold IS NULL LIMIT ?",
        (limit,),
    ) as cur:
        rows = [(int(r[0]), str(r[1])) for r in await cur.fetchall()]
    await conn.executemany("UPDATE nodes SET name_fold = ? WHERE id = ?",
                           [(fold(name), node_id) for node_id, name in rows])
    return len(rows)
