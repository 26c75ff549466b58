"""Queries for a node's activity: its journal rows, newest first.

The journal (migration 0004) holds a row per user who could see a change,
with the path as that user saw it, the actor and the device; migration 0016
adds the reason and the ``(node_id, seq)`` index, so a node's history is one
range of one index.  A user reads their own rows of the node (what they
could see, as they saw it); its owner also reads the rows that shares wrote
for their recipients ('shared', 'unshared'), which say who was given access.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiosqlite


@dataclass(frozen=True)
class Event:
    seq: int
    op: str
    reason: str | None
    kind: str
    path: str
    old_path: str | None
    rev: int | None
    at: int
    #: who did it (None: the account is gone)
    actor: str | None
    #: the device it was done from, as named then (None: unknown or revoked)
    device: str | None
    #: for 'shared' and 'unshared': whom the share is for
    recipient: str | None


#: ?1 the node, ?2 the caller, ?3 1 if the caller owns it, ?4 before this seq, ?5 the limit.
#: An edit (and an add that is not a trash restore) made a revision, which
#: names its device as it was then; other rows name the device by its id.
PAGE = (
    "SELECT c.seq, c.op, c.reason, c.kind, c.path, c.old_path, c.rev, c.at, a.name,"
    " coalesce(r.device_name, d.name), t.name FROM changes c"
    " LEFT JOIN users a ON a.id = c.actor_id"
    " LEFT JOIN revisions r ON r.node_id = c.node_id AND r.rev = c.rev"
    "  AND (c.op = 'modify' OR (c.op = 'add' AND c.reason IS NULL))"
    " LEFT JOIN devices d ON d.id = c.device_id"
    " LEFT JOIN users t ON t.id = c.user_id AND c.reason IN ('shared', 'unshared')"
    " WHERE c.node_id = ?1 AND c.seq < ?4"
    " AND (c.user_id = ?2 OR (?3 AND c.reason IN ('shared', 'unshared')))"
    " ORDER BY c.seq DESC LIMIT ?5"
)


async def page(
    conn: aiosqlite.Connection, node_id: int, user_id: int, *, owner: bool, before: int,
    limit: int,
) -> list[Event]:
    """Up to *limit* events of *node_id* that *user_id* may see, seq < *before*."""
    async with conn.execute(PAGE, (node_id, user_id, int(owner), before, limit)) as cur:
        return [Event(int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], int(r[7]), r[8], r[9], r[10])
                for r in await cur.fetchall()]
