"""Queries for shares, and the journal's fan-out to everyone who can see a change.

A change is journaled once for the owner (with the owner's path) and once
for every user a share lets see it, with the path as they see it:
``/Shared with me/<mount>/<rest>``.  A user's feed is then just their rows.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass

import aiosqlite

from selfdrive.store.meta import notifications as notes
from selfdrive.store.meta import tree

#: the virtual folder where a user finds what others share with them
SHARED_ROOT = "Shared with me"


@dataclass(frozen=True)
class Share:
    id: int
    node_id: int
    owner_id: int
    owner: str
    recipient_id: int
    recipient: str
    role: str
    mount_name: str
    created_at: int

    @property
    def mount_path(self) -> str:
        return f"/{SHARED_ROOT}/{self.mount_name}"


_COLS = (
    "s.id, s.node_id, s.owner_id, o.name, s.recipient_id, r.name, s.role, s.mount_name,"
    " s.created_at FROM shares s JOIN users o ON o.id = s.owner_id"
    " JOIN users r ON r.id = s.recipient_id"
)


def _share(row: Sequence[object]) -> Share:
    return Share(*row)  # type: ignore[arg-type]


async def insert(
    conn: aiosqlite.Connection, *, node_id: int, owner_id: int, recipient_id: int, role: str,
    mount_name: str, now: int,
) -> int:
    cur = await conn.execute(
        "INSERT INTO shares (node_id, owner_id, recipient_id, role, mount_name, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (node_id, owner_id, recipient_id, role, mount_name, now),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


async def by_id(conn: aiosqlite.Connection, share_id: int) -> Share | None:
    async with conn.execute(f"SELECT {_COLS} WHERE s.id = ?", (share_id,)) as cur:
        row = await cur.fetchone()
    return _share(row) if row else None


async def by_mount(conn: aiosqlite.Connection, recipient_id: int, mount: str) -> Share | None:
    async with conn.execute(
        f"SELECT {_COLS} WHERE s.recipient_id = ? AND s.mount_name = ?", (recipient_id, mount)
    ) as cur:
        row = await cur.fetchone()
    return _share(row) if row else None


async def of_owner(conn: aiosqlite.Connection, owner_id: int) -> list[Share]:
    async with conn.execute(f"SELECT {_COLS} WHERE s.owner_id = ? ORDER BY s.id", (owner_id,)) as c:
        return [_share(r) for r in await c.fetchall()]


async def of_recipient(conn: aiosqlite.Connection, recipient_id: int) -> list[Share]:
    async with conn.execute(
        f"SELECT {_COLS} WHERE s.recipient_id = ? ORDER BY s.mount_name", (recipient_id,)
    ) as cur:
        return [_share(r) for r in await cur.fetchall()]


async def set_role(conn: aiosqlite.Connection, share_id: int, role: str) -> None:
    await conn.execute("UPDATE shares SET role = ? WHERE id = ?", (role, share_id))


async def delete(conn: aiosqlite.Connection, share_id: int) -> None:
    await conn.execute("DELETE FROM shares WHERE id = ?", (share_id,))


async def mount_taken(conn: aiosqlite.Connection, recipient_id: int, mount: str) -> bool:
    return await by_mount(conn, recipient_id, mount) is not None


async def node_path(conn: aiosqlite.Connection, node_id: int) -> list[str] | None:
    """The path parts of a node in its owner's tree, or None if it (or a
    folder above it) is in the trash."""
    async with conn.execute(
        "WITH RECURSIVE up(id, parent_id, name, trashed, depth) AS ("
        " SELECT id, parent_id, name, trashed_at IS NOT NULL, 0 FROM nodes WHERE id = ?"
        " UNION ALL SELECT n.id, n.parent_id, n.name, n.trashed_at IS NOT NULL, up.depth + 1"
        " FROM nodes n JOIN up ON n.id = up.parent_id)"
        " SELECT name, trashed, parent_id FROM up ORDER BY depth DESC",
        (node_id,),
    ) as cur:
        rows = list(await cur.fetchall())
    if not rows or any(r[1] for r in rows):
        return None
    return [str(r[0]) for r in rows[1:]]  # the first is the root, whose name is ''


@dataclass(frozen=True)
class Cover:
    """A share through which a user sees a node: the share's node's owner path."""

    recipient_id: int
    mount_name: str
    share_parts: list[str]

    def path_of(self, owner_parts: Sequence[str]) -> str:
        rest = list(owner_parts[len(self.share_parts):])
        return "/" + "/".join([SHARED_ROOT, self.mount_name, *rest])


async def covering(conn: aiosqlite.Connection, node_id: int) -> list[Cover]:
    """Every share on *node_id* or a folder above it (live ones only)."""
    async with conn.execute(
        "WITH RECURSIVE up(id) AS (SELECT ? UNION ALL"
        " SELECT n.parent_id FROM nodes n JOIN up ON n.id = up.id WHERE n.parent_id IS NOT NULL)"
        " SELECT s.recipient_id, s.mount_name, s.node_id FROM shares s"
        " JOIN up ON s.node_id = up.id",
        (node_id,),
    ) as cur:
        rows = await cur.fetchall()
    out = []
    for recipient_id, mount, share_node in rows:
        parts = await node_path(conn, int(share_node))
        if parts is not None:
            out.append(Cover(int(recipient_id), str(mount), parts))
    return out


async def shared_with_in_subtree(
    conn: aiosqlite.Connection, node_id: int, recipient_id: int
) -> bool:
    """True if a folder above *node_id*, the node itself, or a node below it is
    already shared with *recipient_id* (nested shares are refused)."""
    async with conn.execute(
        "WITH RECURSIVE up(id) AS (SELECT ? UNION ALL"
        " SELECT n.parent_id FROM nodes n JOIN up ON n.id = up.id WHERE n.parent_id IS NOT NULL),"
        " down(id) AS (SELECT ? UNION ALL"
        " SELECT n.id FROM nodes n JOIN down ON n.parent_id = down.id)"
        " SELECT 1 FROM shares WHERE recipient_id = ? AND"
        " (node_id IN (SELECT id FROM up) OR node_id IN (SELECT id FROM down)) LIMIT 1",
        (node_id, node_id, recipient_id),
    ) as cur:
        return await cur.fetchone() is not None


async def journal_all(
    conn: aiosqlite.Connection, *, owner_id: int, node_id: int, op: str, kind: str,
    parts: Sequence[str], now: int, rev: int | None = None,
    old_parts: Sequence[str] | None = None, device_id: int | None = None,
    actor_id: int | None = None, before: Sequence[Cover] | None = None,
    notify: bool = True, reason: str | None = None,
) -> None:
    """Journal a change for the owner and for everyone a share lets see it.

    *parts* is the node's path in the owner's tree (after the change).  For a
    move, *old_parts* is where it was and *before* who saw it there: a user
    who saw it before and after gets a move; only before, a delete; only
    after, the node and everything in it appearing.  For a delete, *before*
    is who saw it.

    With *notify*, everyone who sees it through a share, and its owner if it
    is shared, is notified, except whoever did it (*actor_id*); *reason*
    names the event when the operation does not ("restored").  Operations on
    many nodes at once notify for the top one only.
    """
    path = "/" + "/".join(parts)
    old_path = None if old_parts is None else "/" + "/".join(old_parts)
    # the journal keeps what a restore was (a file's activity shows it)
    kept = reason if reason == "restored" else None
    write = functools.partial(tree.journal, conn, node_id=node_id, kind=kind, now=now, rev=rev,
                              device_id=device_id, actor_id=actor_id, reason=kept)
    await write(user_id=owner_id, op=op, path=path, old_path=old_path)
    event = (reason or notes.KIND_OF_OP.get(op)) if notify and actor_id is not None else None
    told: list[tuple[int, str]] = []
    if old_parts is None:
        # A delete passes *before*: once in the trash, a node is nobody's to see.
        covers = list(before) if before is not None else await covering(conn, node_id)
        for cover in covers:
            await write(user_id=cover.recipient_id, op=op, path=cover.path_of(parts))
            told.append((cover.recipient_id, cover.path_of(parts)))
        if covers:
            told.append((owner_id, path))
        await _notify(conn, told, event, actor_id, node_id, now)
        return
    was = {c.recipient_id: c for c in before or ()}
    now_in = {c.recipient_id: c for c in await covering(conn, node_id)}
    for user_id, cover in now_in.items():
        if user_id in was:
            await write(user_id=user_id, op=op, path=cover.path_of(parts),
                        old_path=was[user_id].path_of(old_parts))
        else:
            await journal_appeared(conn, user_id, node_id, cover.path_of(parts), now,
                                   device_id=device_id, actor_id=actor_id)
        told.append((user_id, cover.path_of(parts)))
    for user_id, cover in was.items():
        if user_id not in now_in:
            await write(user_id=user_id, op="delete", path=cover.path_of(old_parts))
            told.append((user_id, cover.path_of(old_parts)))
    if was or now_in:
        told.append((owner_id, path))
    await _notify(conn, told, event, actor_id, node_id, now)


async def _notify(
    conn: aiosqlite.Connection, told: Sequence[tuple[int, str]], event: str | None,
    actor_id: int | None, node_id: int, now: int,
) -> None:
    if event is None:
        return
    for user_id, path in told:
        if user_id != actor_id:
            await notes.add(conn, user_id=user_id, kind=event, actor_id=actor_id,
                            node_id=node_id, path=path, now=now)


async def journal_appeared(
    conn: aiosqlite.Connection, user_id: int, node_id: int, path: str, now: int, *,
    device_id: int | None = None, actor_id: int | None = None, reason: str | None = None,
) -> None:
    """A node came into *user_id*'s view at *path* with all it holds (a new
    share, a folder moved in): one row for it and for each node inside,
    each with *reason* ('shared': a share brought it into view)."""
    for node, rel in await tree.subtree(conn, node_id):
        await tree.journal(
            conn, user_id=user_id, node_id=node.id, op="mkdir" if node.is_folder else "add",
            kind=node.kind, path=path + rel, rev=node.current_rev, now=now,
            device_id=device_id, actor_id=actor_id, reason=reason,
        )


async def marks(
    conn: aiosqlite.Connection, node_ids: Sequence[int], now: int
) -> dict[int, set[str]]:
    """Which of *node_ids* are shared with someone (``"share"``) or by a
    public link that still works (``"link"``: not expired, not used up).

    One query for a whole listing page, on the shares_by_node and
    links_by_node indexes: its cost is the page, not the owner's shares."""
    out: dict[int, set[str]] = {}
    if not node_ids:
        return out
    ids = json.dumps(list(node_ids))
    async with conn.execute(
        "SELECT node_id, 'share' FROM shares WHERE node_id IN (SELECT value FROM json_each(?))"
        " UNION SELECT node_id, 'link' FROM links"
        " WHERE node_id IN (SELECT value FROM json_each(?))"
        " AND (expires_at IS NULL OR expires_at > ?)"
        " AND (max_downloads IS NULL OR allow_upload = 1 OR downloads < max_downloads)",
        (ids, ids, now),
    ) as cur:
        for node_id, mark in await cur.fetchall():
            out.setdefault(int(node_id), set()).add(str(mark))
    return out


async def usernames_starting(
    conn: aiosqlite.Connection, prefix: str, *, limit: int, asker_id: int
) -> list[str]:
    """Usernames that start with *prefix*, in any case, the asker's own and
    disabled accounts left out: people the asker shares with, or who share with the asker, first,
    then by name.  It scans the users table (LIKE ignores the name index),
    which costs well under a millisecond for thousands of users."""
    pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    async with conn.execute(
        "SELECT u.name FROM users u WHERE u.name LIKE ? ESCAPE '\\' AND u.id != ?"
        " AND u.disabled_at IS NULL"
        " ORDER BY EXISTS (SELECT 1 FROM shares s WHERE (s.owner_id = ? AND s.recipient_id = u.id)"
        " OR (s.owner_id = u.id AND s.recipient_id = ?)) DESC, u.name LIMIT ?",
        (pattern, asker_id, asker_id, asker_id, limit),
    ) as cur:
        return [str(row[0]) for row in await cur.fetchall()]
