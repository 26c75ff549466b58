"""Queries on the file tree: nodes, revisions, their blocks, and the journal.

Every function takes an open connection; the caller chooses the transaction
(`Database.write()` for changes, so that a mutation and its journal row
commit together, or `Database.read()` for a consistent snapshot).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

import aiosqlite

from selfdrive.core.names import fold
from selfdrive.store.content import BlockRef, Extent
from selfdrive.store.meta.batching import in_batches
from selfdrive.store.meta.records import Node, Revision

_NODE_COLS = (
    "n.id, n.owner_id, n.parent_id, n.name, n.kind, n.current_rev, n.created_at,"
    " n.modified_at, coalesce(r.size, 0), r.content_hash, r.mtime, coalesce(r.executable, 0)"
)
_NODE_FROM = (
    "FROM nodes n LEFT JOIN revisions r ON r.node_id = n.id AND r.rev = n.current_rev"
)


def _node(row: Iterable[object]) -> Node:
    r = list(row)
    r[11] = bool(r[11])
    return Node(*r)  # type: ignore[arg-type]


async def node_by_id(conn: aiosqlite.Connection, node_id: int) -> Node | None:
    async with conn.execute(f"SELECT {_NODE_COLS} {_NODE_FROM} WHERE n.id = ?", (node_id,)) as cur:
        row = await cur.fetchone()
    return _node(row) if row else None


async def nodes_by_ids(conn: aiosqlite.Connection, ids: Sequence[int]) -> dict[int, Node]:
    """The nodes of *ids* that exist, by id."""
    out: dict[int, Node] = {}
    for batch, marks in in_batches(ids):
        async with conn.execute(
            f"SELECT {_NODE_COLS} {_NODE_FROM} WHERE n.id IN ({marks})", batch
        ) as cur:
            for row in await cur.fetchall():
                node = _node(row)
                out[node.id] = node
    return out


async def child(conn: aiosqlite.Connection, parent_id: int, name: str) -> Node | None:
    async with conn.execute(
        f"SELECT {_NODE_COLS} {_NODE_FROM}"
        " WHERE n.parent_id = ? AND n.name = ? AND n.trashed_at IS NULL",
        (parent_id, name),
    ) as cur:
        row = await cur.fetchone()
    return _node(row) if row else None


async def walk(
    conn: aiosqlite.Connection, root_id: int, parts: Sequence[str]
) -> tuple[list[Node], int]:
    """Follow *parts* from the root: the nodes found, and how many parts matched.

    Stops at the first missing name or at a file (a file has no children).
    """
    root = await node_by_id(conn, root_id)
    assert root is not None, "every user has a root folder"
    found = [root]
    for name in parts:
        if not found[-1].is_folder:
            break
        nxt = await child(conn, found[-1].id, name)
        if nxt is None:
            break
        found.append(nxt)
    return found, len(found) - 1


async def children(
    conn: aiosqlite.Connection, folder_id: int, *, limit: int = -1, after: str | None = None
) -> list[Node]:
    """Live children of a folder, ordered by name, optionally after a name (paging)."""
    sql = f"SELECT {_NODE_COLS} {_NODE_FROM} WHERE n.parent_id = ? AND n.trashed_at IS NULL"
    args: list[object] = [folder_id]
    if after is not None:
        sql += " AND n.name > ?"
        args.append(after)
    sql += " ORDER BY n.name LIMIT ?"
    args.append(limit)
    async with conn.execute(sql, args) as cur:
        return [_node(row) for row in await cur.fetchall()]


async def insert_node(
    conn: aiosqlite.Connection, owner_id: int, parent_id: int, name: str, kind: str, now: int
) -> int:
    cur = await conn.execute(
        "INSERT INTO nodes (owner_id, parent_id, name, name_fold, kind, created_at, modified_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (owner_id, parent_id, name, fold(name), kind, now, now),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


async def rename_node(
    conn: aiosqlite.Connection, node_id: int, parent_id: int, name: str, now: int
) -> None:
    await conn.execute(
        "UPDATE nodes SET parent_id = ?, name = ?, name_fold = ?, modified_at = ? WHERE id = ?",
        (parent_id, name, fold(name), now, node_id),
    )


async def subtree(conn: aiosqlite.Connection, node_id: int) -> list[tuple[Node, str]]:
    """Every live node under *node_id* (itself first), each with its path relative to it."""
    async with conn.execute(
        "WITH RECURSIVE t(id, rel) AS (SELECT ?, '' UNION ALL"
        " SELECT n.id, t.rel || '/' || n.name FROM nodes n JOIN t ON n.parent_id = t.id"
        " WHERE n.trashed_at IS NULL)"
        f" SELECT {_NODE_COLS}, t.rel FROM t JOIN nodes n ON n.id = t.id"
        " LEFT JOIN revisions r ON r.node_id = n.id AND r.rev = n.current_rev ORDER BY t.rel",
        (node_id,),
    ) as cur:
        rows = await cur.fetchall()
    return [(_node(tuple(row)[:-1]), str(tuple(row)[-1])) for row in rows]


# The walk of `summary`.  `t` starts at the tops (?1, a JSON array of node
# ids; a top may be a file) and goes down through live folders only (index
# nodes_live_name); a folder in the trash hides all it holds, since its
# children keep trashed_at NULL but the walk never reaches them.  Each file's
# size is its current revision's (revisions' UNIQUE (node_id, rev)).  Carrying
# current_rev in the walk beat an index-only walk (nodes_search) that looks
# each file up again by 10-20% on 100,000 nodes; taking the newest revision
# instead of current_rev saves that lookup too (40%), but would count another
# revision the day current_rev is not the newest (docs/benchmarks.md).
_SUMMARY = """
WITH RECURSIVE t(id, kind, rev) AS (
  SELECT n.id, n.kind, n.current_rev FROM nodes n
  WHERE n.id IN (SELECT value FROM json_each(?1))
  UNION ALL
  SELECT n.id, n.kind, n.current_rev FROM t JOIN nodes n
    ON n.parent_id = t.id AND n.trashed_at IS NULL
  WHERE t.kind = 'folder'
)
SELECT coalesce(sum(r.size), 0), coalesce(sum(t.kind = 'file'), 0),
  coalesce(sum(t.kind = 'folder'), 0)
FROM t LEFT JOIN revisions r ON r.node_id = t.id AND r.rev = t.rev
"""


async def summary(conn: aiosqlite.Connection, top_ids: Sequence[int]) -> tuple[int, int, int]:
    """(bytes, files, folders) of the live nodes under *top_ids*, the tops
    included: the bytes are the sizes of the files' current revisions.  One
    query; a subtree under two tops counts twice."""
    async with conn.execute(_SUMMARY, (json.dumps(list(top_ids)),)) as cur:
        row = await cur.fetchone()
    assert row is not None  # an aggregate always answers one row
    return int(row[0]), int(row[1]), int(row[2])


#: joins the names of a path in a sort key (char(1) in _WALK): below every
#: character a name may hold (core/paths.py refuses control characters), so
#: that comparing keys compares paths segment by segment, and a folder sorts
#: right before its contents
_SEP = "\x01"

# The walk of ordered_subtree.  `chain` follows the `after` path (?2, a JSON
# array of names) down from the top (?1) as far as it exists.  `t` is the
# walk: its queue is ordered by the sort key (ORDER BY 5), so rows leave it in
# final order, and it stops after ?4 rows.  A row taken from the queue adds
# just two: its first child and its next sibling; so the smallest row not yet
# taken is always queued (its parent or its previous sibling was taken
# before it), and a page costs ?4 rows, not the size of the folders it
# crosses.  It starts from the top itself (?3 = 1), or (?3 = 0) from the
# first entry after `after` in each folder of the chain.
_WALK = """
WITH RECURSIVE
  seg(d, name) AS (SELECT key + 1, value FROM json_each(?2)),
  chain(d, id, key) AS (
    SELECT 0, ?1, ''
    UNION ALL
    SELECT chain.d + 1, n.id, chain.key || char(1) || n.name
    FROM chain JOIN seg ON seg.d = chain.d + 1
    JOIN nodes n ON n.parent_id = chain.id AND n.name = seg.name AND n.trashed_at IS NULL
  ),
  t(id, parent, name, pkey, key, top) AS (
    SELECT n.id, n.parent_id, n.name, NULL, '', 1 FROM nodes n WHERE n.id = ?1 AND ?3
    UNION ALL
    SELECT n.id, n.parent_id, n.name, chain.key, chain.key || char(1) || n.name, 0
    FROM chain LEFT JOIN seg ON seg.d = chain.d + 1
    JOIN nodes n ON n.id = (
      SELECT c.id FROM nodes c WHERE c.parent_id = chain.id AND c.trashed_at IS NULL
      AND c.name > coalesce(seg.name, '') ORDER BY c.name LIMIT 1)
    WHERE NOT ?3
    UNION ALL
    SELECT n.id, n.parent_id, n.name, iif(s.k = 0, t.key, t.pkey),
      iif(s.k = 0, t.key, t.pkey) || char(1) || n.name, 0
    FROM t JOIN (SELECT 0 AS k UNION ALL SELECT 1) s
    JOIN nodes n ON n.id = iif(s.k = 0,
      (SELECT c.id FROM nodes c WHERE c.parent_id = t.id AND c.trashed_at IS NULL
       ORDER BY c.name LIMIT 1),
      (SELECT c.id FROM nodes c WHERE NOT t.top AND c.parent_id = t.parent
       AND c.trashed_at IS NULL AND c.name > t.name ORDER BY c.name LIMIT 1))
    ORDER BY 5 LIMIT ?4
  )
"""


async def ordered_subtree(
    conn: aiosqlite.Connection, node_id: int, *, after: Sequence[str] | None, limit: int
) -> list[tuple[list[str], Node]]:
    """Up to *limit* live nodes under *node_id*, each with its path relative to
    it, in path-segment order (a folder right before its contents; names
    compared by code point, as `children` orders them).

    With *after* (a relative path, which need not exist any more) only what
    sorts after it; ``after=[]`` leaves out just the node itself, ``None``
    includes it (relative path ``[]``).  One query, whatever the depth or the
    size of the folders (see _WALK).
    """
    async with conn.execute(
        f"{_WALK} SELECT {_NODE_COLS}, t.key FROM t JOIN nodes n ON n.id = t.id"
        " LEFT JOIN revisions r ON r.node_id = n.id AND r.rev = n.current_rev ORDER BY t.key",
        (node_id, json.dumps(list(after or [])), int(after is None), limit),
    ) as cur:
        rows = [tuple(row) for row in await cur.fetchall()]
    return [(str(row[-1]).split(_SEP)[1:], _node(row[:-1])) for row in rows]


# -- revisions -----------------------------------------------------------------

_REV_COLS = (
    "r.id, r.node_id, r.rev, r.size, r.content_hash, r.mtime, r.created_at,"
    " u.name, r.device_name, r.pinned, r.broken, r.executable"
)


def _revision(row: Iterable[object]) -> Revision:
    r = list(row)
    r[9], r[10], r[11] = bool(r[9]), bool(r[10]), bool(r[11])
    return Revision(*r)  # type: ignore[arg-type]


async def revision(conn: aiosqlite.Connection, node_id: int, rev: int) -> Revision | None:
    async with conn.execute(
        f"SELECT {_REV_COLS} FROM revisions r LEFT JOIN users u ON u.id = r.author_id"
        " WHERE r.node_id = ? AND r.rev = ?",
        (node_id, rev),
    ) as cur:
        row = await cur.fetchone()
    return _revision(row) if row else None


async def revisions(conn: aiosqlite.Connection, node_id: int, limit: int) -> list[Revision]:
    async with conn.execute(
        f"SELECT {_REV_COLS} FROM revisions r LEFT JOIN users u ON u.id = r.author_id"
        " WHERE r.node_id = ? ORDER BY r.rev DESC LIMIT ?",
        (node_id, limit),
    ) as cur:
        return [_revision(row) for row in await cur.fetchall()]


async def insert_blocks(conn: aiosqlite.Connection, refs: Sequence[BlockRef], now: int) -> None:
    """Record blocks (once each; a known block keeps its row)."""
    await conn.executemany(
        "INSERT INTO blocks (id, size, stored_size, created_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (id) DO NOTHING",
        [(ref.id, ref.size, ref.stored_size, now) for ref in refs],
    )


async def add_revision(
    conn: aiosqlite.Connection,
    *,
    node_id: int,
    size: int,
    content_hash: bytes,
    mtime: int,
    now: int,
    author_id: int | None,
    device_id: int | None,
    device_name: str | None,
    block_ids: Sequence[bytes],
    block_sizes: Sequence[int],
    executable: bool = False,
) -> int:
    """A new revision of a file, made current; returns its rev number.

    The blocks must already have rows (insert_blocks) and be durable.
    """
    async with conn.execute(
        "SELECT coalesce(max(rev), 0) + 1 FROM revisions WHERE node_id = ?", (node_id,)
    ) as cur:
        row = await cur.fetchone()
    rev = int(row[0]) if row else 1
    cur2 = await conn.execute(
        "INSERT INTO revisions (node_id, rev, size, content_hash, mtime, created_at,"
        " author_id, device_id, device_name, executable) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (node_id, rev, size, content_hash, mtime, now, author_id, device_id, device_name,
         int(executable)),
    )
    revision_id = cur2.lastrowid
    offsets, offset = [], 0
    for block_size in block_sizes:
        offsets.append(offset)
        offset += block_size
    await conn.executemany(
        "INSERT INTO revision_blocks (revision_id, seq, block_id, offset) VALUES (?, ?, ?, ?)",
        [
            (revision_id, seq, bid, off)
            for seq, (bid, off) in enumerate(zip(block_ids, offsets, strict=True))
        ],
    )
    await conn.execute(
        "UPDATE nodes SET current_rev = ?, modified_at = ? WHERE id = ?", (rev, now, node_id)
    )
    return rev


async def extents(conn: aiosqlite.Connection, revision_id: int) -> list[Extent]:
    async with conn.execute(
        "SELECT rb.block_id, rb.offset, b.size FROM revision_blocks rb"
        " JOIN blocks b ON b.id = rb.block_id WHERE rb.revision_id = ? ORDER BY rb.seq",
        (revision_id,),
    ) as cur:
        return [Extent(bytes(row[0]), int(row[1]), int(row[2])) for row in await cur.fetchall()]


async def copy_revision(
    conn: aiosqlite.Connection, source_revision_id: int, node_id: int, now: int,
    author_id: int, device_id: int | None, device_name: str | None,
) -> int:
    """Rev 1 of *node_id* with the blocks (and the executable bit) of another
    revision (no data copied)."""
    cur = await conn.execute(
        "INSERT INTO revisions (node_id, rev, size, content_hash, mtime, created_at,"
        " author_id, device_id, device_name, executable)"
        " SELECT ?, 1, size, content_hash, mtime, ?, ?, ?, ?, executable FROM revisions"
        " WHERE id = ?",
        (node_id, now, author_id, device_id, device_name, source_revision_id),
    )
    await conn.execute(
        "INSERT INTO revision_blocks (revision_id, seq, block_id, offset)"
        " SELECT ?, seq, block_id, offset FROM revision_blocks WHERE revision_id = ?",
        (cur.lastrowid, source_revision_id),
    )
    await conn.execute("UPDATE nodes SET current_rev = 1 WHERE id = ?", (node_id,))
    return 1


async def revision_id(conn: aiosqlite.Connection, node_id: int, rev: int) -> int | None:
    async with conn.execute(
        "SELECT id FROM revisions WHERE node_id = ? AND rev = ?", (node_id, rev)
    ) as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else None


# -- blocks a user may see ---------------------------------------------------------


async def blocks_known_to(
    conn: aiosqlite.Connection, user_id: int, ids: Sequence[bytes]
) -> set[bytes]:
    """Which of *ids* the user can already read: held by one of their files
    (any revision, trash included), sent by them with PUT /blocks, or held by
    a file they see through a share."""
    known: set[bytes] = set()
    for batch, marks in in_batches(ids):
        async with conn.execute(
            f"SELECT block_id FROM uploaded_blocks WHERE user_id = ? AND block_id IN ({marks})"
            " UNION"
            " SELECT rb.block_id FROM revision_blocks rb"
            " JOIN revisions r ON r.id = rb.revision_id JOIN nodes n ON n.id = r.node_id"
            f" WHERE n.owner_id = ? AND rb.block_id IN ({marks})",
            [user_id, *batch, user_id, *batch],
        ) as cur:
            known.update(bytes(row[0]) for row in await cur.fetchall())
        rest = [b for b in batch if b not in known]
        if not rest:
            continue
        # Through shares: a file holding the block with a shared folder above it.
        marks = ",".join("?" * len(rest))
        async with conn.execute(
            "WITH RECURSIVE up(block_id, id) AS ("
            " SELECT rb.block_id, r.node_id FROM revision_blocks rb"
            f" JOIN revisions r ON r.id = rb.revision_id WHERE rb.block_id IN ({marks})"
            " UNION SELECT up.block_id, n.parent_id FROM nodes n JOIN up ON n.id = up.id"
            " WHERE n.parent_id IS NOT NULL)"
            " SELECT DISTINCT up.block_id FROM up JOIN shares s ON s.node_id = up.id"
            " WHERE s.recipient_id = ?",
            [*rest, user_id],
        ) as cur:
            known.update(bytes(row[0]) for row in await cur.fetchall())
    return known


async def block_sizes(conn: aiosqlite.Connection, ids: Sequence[bytes]) -> dict[bytes, int]:
    out: dict[bytes, int] = {}
    for batch, marks in in_batches(ids):
        async with conn.execute(f"SELECT id, size FROM blocks WHERE id IN ({marks})", batch) as cur:
            out.update((bytes(row[0]), int(row[1])) for row in await cur.fetchall())
    return out


async def record_uploaded_block(
    conn: aiosqlite.Connection, user_id: int, block_id: bytes, now: int
) -> None:
    await conn.execute(
        "INSERT INTO uploaded_blocks (user_id, block_id, uploaded_at) VALUES (?, ?, ?)"
        " ON CONFLICT (user_id, block_id) DO UPDATE SET uploaded_at = excluded.uploaded_at",
        (user_id, block_id, now),
    )


async def forget_uploaded_blocks(
    conn: aiosqlite.Connection, user_id: int, ids: Sequence[bytes]
) -> None:
    """Blocks now held by a committed revision need no pending row."""
    await conn.executemany(
        "DELETE FROM uploaded_blocks WHERE user_id = ? AND block_id = ?",
        [(user_id, bid) for bid in ids],
    )


# -- the change journal ---------------------------------------------------------------


async def journal(
    conn: aiosqlite.Connection, *, user_id: int, node_id: int, op: str, path: str, kind: str,
    now: int, rev: int | None = None, old_path: str | None = None, device_id: int | None = None,
    actor_id: int | None = None, reason: str | None = None,
) -> int:
    """Record one change; call it in the transaction that makes the change.

    *actor_id* is who made it (default: *user_id*, the owner); *reason* what
    it meant when *op* does not say it (migration 0016: 'restored', 'shared',
    'unshared')."""
    cur = await conn.execute(
        "INSERT INTO changes (user_id, node_id, op, path, old_path, kind, rev, device_id, at,"
        " actor_id, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (user_id, node_id, op, path, old_path, kind, rev, device_id, now,
         user_id if actor_id is None else actor_id, reason),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


async def set_pinned(conn: aiosqlite.Connection, node_id: int, rev: int, pinned: bool) -> bool:
    cur = await conn.execute(
        "UPDATE revisions SET pinned = ? WHERE node_id = ? AND rev = ?",
        (int(pinned), node_id, rev),
    )
    return cur.rowcount > 0


async def set_broken(conn: aiosqlite.Connection, revision_ids: Sequence[int]) -> None:
    await conn.executemany(
        "UPDATE revisions SET broken = 1 WHERE id = ?", [(i,) for i in revision_ids]
    )
