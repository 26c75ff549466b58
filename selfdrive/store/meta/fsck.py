"""Queries for `selfdrive fsck`: every block, every revision's block list, and
which files a bad block affects.

Everything here reads, in bounded batches keyed by a cursor, so that a check
of a big store never holds one long read transaction.  The one write of fsck
(`--repair`) is `tree.set_broken`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import aiosqlite

from selfdrive.store.meta.batching import in_batches

#: deeper than any real tree; stops a walk up a (damaged) cycle of parents
_MAX_DEPTH = 10_000


@dataclass(frozen=True)
class RevisionRow:
    id: int
    node_id: int
    rev: int
    size: int
    content_hash: bytes
    broken: bool


@dataclass(frozen=True)
class ListedBlock:
    """One entry of a revision's block list; *size* is None if the block has no row."""

    seq: int
    block_id: bytes
    offset: int
    size: int | None


@dataclass(frozen=True)
class RevisionPlace:
    """Where a revision is, for people: its owner, its file's path, its rev."""

    revision_id: int
    owner: str
    path: str
    in_trash: bool
    rev: int
    broken: bool


async def block_rows(
    conn: aiosqlite.Connection, after: bytes, limit: int
) -> list[tuple[bytes, int]]:
    """(id, plaintext size) of up to *limit* block rows with ids above *after*, by id."""
    async with conn.execute(
        "SELECT id, size FROM blocks WHERE id > ? ORDER BY id LIMIT ?", (after, limit)
    ) as cur:
        return [(bytes(r[0]), int(r[1])) for r in await cur.fetchall()]


async def rowless_blocks(conn: aiosqlite.Connection, after: bytes, limit: int) -> list[bytes]:
    """Ids above *after* that a revision lists but that have no block row, by id."""
    async with conn.execute(
        "SELECT DISTINCT rb.block_id FROM revision_blocks rb"
        " WHERE rb.block_id > ? AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.id = rb.block_id)"
        " ORDER BY rb.block_id LIMIT ?",
        (after, limit),
    ) as cur:
        return [bytes(r[0]) for r in await cur.fetchall()]


async def still_wanted(conn: aiosqlite.Connection, ids: Sequence[bytes]) -> set[bytes]:
    """Which of *ids* still have a block row or are still listed by a revision
    (a block that has neither was collected while fsck ran)."""
    found: set[bytes] = set()
    for batch, marks in in_batches(ids):
        async with conn.execute(
            f"SELECT id FROM blocks WHERE id IN ({marks}) UNION"
            f" SELECT block_id FROM revision_blocks WHERE block_id IN ({marks})",
            [*batch, *batch],
        ) as cur:
            found.update(bytes(r[0]) for r in await cur.fetchall())
    return found


async def revisions_after(
    conn: aiosqlite.Connection, after_id: int, limit: int
) -> list[RevisionRow]:
    async with conn.execute(
        "SELECT id, node_id, rev, size, content_hash, broken FROM revisions"
        " WHERE id > ? ORDER BY id LIMIT ?",
        (after_id, limit),
    ) as cur:
        return [
            RevisionRow(int(r[0]), int(r[1]), int(r[2]), int(r[3]), bytes(r[4]), bool(r[5]))
            for r in await cur.fetchall()
        ]


async def block_lists(
    conn: aiosqlite.Connection, first_id: int, last_id: int
) -> dict[int, list[ListedBlock]]:
    """The block lists of the revisions with ids in [first_id, last_id], in order."""
    out: dict[int, list[ListedBlock]] = {}
    async with conn.execute(
        "SELECT rb.revision_id, rb.seq, rb.block_id, rb.offset, b.size FROM revision_blocks rb"
        " LEFT JOIN blocks b ON b.id = rb.block_id"
        " WHERE rb.revision_id BETWEEN ? AND ? ORDER BY rb.revision_id, rb.seq",
        (first_id, last_id),
    ) as cur:
        async for r in cur:
            out.setdefault(int(r[0]), []).append(
                ListedBlock(int(r[1]), bytes(r[2]), int(r[3]), None if r[4] is None else int(r[4]))
            )
    return out


async def revisions_holding(
    conn: aiosqlite.Connection, ids: Sequence[bytes]
) -> list[tuple[int, bytes]]:
    """(revision id, block id) for every revision that lists one of *ids*."""
    out: list[tuple[int, bytes]] = []
    for batch, marks in in_batches(ids):
        async with conn.execute(
            f"SELECT DISTINCT revision_id, block_id FROM revision_blocks"
            f" WHERE block_id IN ({marks}) ORDER BY revision_id",
            batch,
        ) as cur:
            out += [(int(r[0]), bytes(r[1])) for r in await cur.fetchall()]
    return out


async def places(
    conn: aiosqlite.Connection, revision_ids: Sequence[int]
) -> dict[int, RevisionPlace]:
    """Owner, path and rev of each revision that still exists.

    A file in the trash (itself, or under a trashed folder) gets the path it
    was deleted from, as the trash shows it, and ``in_trash``.
    """
    out: dict[int, RevisionPlace] = {}
    for revision_id in revision_ids:
        async with conn.execute(
            "SELECT r.node_id, r.rev, r.broken, u.name FROM revisions r"
            " JOIN nodes n ON n.id = r.node_id JOIN users u ON u.id = n.owner_id"
            " WHERE r.id = ?",
            (revision_id,),
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            continue  # deleted since it was checked (retention, a purge)
        path, in_trash = await node_path(conn, int(row[0]))
        out[revision_id] = RevisionPlace(
            revision_id, str(row[3]), path, in_trash, int(row[1]), bool(row[2])
        )
    return out


async def node_path(conn: aiosqlite.Connection, node_id: int) -> tuple[str, bool]:
    """The path of a node, and whether it is in the trash.

    Only the node that was deleted is marked (trashed_at, trashed_path); what
    is under it keeps its links.  So the path of a trashed file is the
    trashed_path of its topmost trashed ancestor-or-self, followed by the
    names below that one.
    """
    async with conn.execute(
        "WITH RECURSIVE up(id, parent_id, name, trashed, trashed_path, depth) AS ("
        " SELECT id, parent_id, name, trashed_at IS NOT NULL, trashed_path, 0"
        " FROM nodes WHERE id = ?"
        " UNION ALL SELECT n.id, n.parent_id, n.name, n.trashed_at IS NOT NULL,"
        " n.trashed_path, up.depth + 1 FROM nodes n JOIN up ON n.id = up.parent_id"
        " WHERE up.depth < ?)"  # a damaged tree with a cycle must not loop for ever
        " SELECT parent_id, name, trashed, trashed_path FROM up ORDER BY depth",
        (node_id, _MAX_DEPTH),
    ) as cur:
        # The node first, the root (parent_id NULL, no name) last.
        chain = [tuple(r) for r in await cur.fetchall() if r[0] is not None]
    names = [str(r[1]) for r in chain]
    trashed = [i for i, r in enumerate(chain) if r[2]]
    if not trashed:
        return "/" + "/".join(reversed(names)), False
    top = trashed[-1]
    base = chain[top][3]
    if base is None:  # not expected: every delete records the path
        base = "/" + "/".join(reversed(names[top:]))
    return str(base).rstrip("/") + "".join("/" + n for n in reversed(names[:top])), True
