"""A file's or folder's recent activity: who did what to it, when, from which device.

Built from the change journal (store/meta/activity.py), which keeps every
change for the journal's retention (30 days by default), so this is recent
activity, not a full history; revisions keep a file's older versions.

Who may see it: whoever can see the item, its owner and the people it is
shared with; anyone else gets NotFound, as for any path or id of another
user's.  A recipient sees what happened while the item was in their view,
with the paths as they saw them; its owner also sees whom it was shared
with.  Actions:

``created``, ``edited``, ``renamed`` (a move within its folder), ``moved``,
``deleted`` (to the trash), ``restored`` (an old revision made the newest,
or put back from the trash), ``shared`` and ``unshared``.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiosqlite

from selfdrive.core import paths
from selfdrive.core.errors import BadRequest, NotFound
from selfdrive.services.auth import Principal
from selfdrive.services.files import Entry, FileService
from selfdrive.store.meta import activity as q
from selfdrive.store.meta import shares as sharesq
from selfdrive.store.meta import tree
from selfdrive.store.meta.db import Database

MAX_PAGE = 200

_ACTION_OF_OP = {"add": "created", "mkdir": "created", "modify": "edited", "delete": "deleted"}


@dataclass(frozen=True)
class Activity:
    seq: int
    action: str
    kind: str
    path: str
    old_path: str | None
    rev: int | None
    at: int
    by: str | None
    device: str | None
    #: shared and unshared: with whom (None: with the caller)
    to: str | None


@dataclass(frozen=True)
class ActivityPage:
    #: the item, at the path the caller sees it
    path: str
    items: list[Activity]
    #: pass as ``before`` for the next page; None on the last
    next_before: int | None


class ActivityService:
    def __init__(self, db: Database, files: FileService) -> None:
        self.db = db
        self.files = files

    async def of_item(
        self, who: Principal, *, path: str | None = None, node_id: int | None = None,
        limit: int = 50, before: int | None = None,
    ) -> ActivityPage:
        """A page of the activity of the item at *path* or with id *node_id*
        (exactly one), newest first, before seq *before*."""
        if (path is None) == (node_id is None):
            raise BadRequest("give either path or id")
        if not 1 <= limit <= MAX_PAGE:
            raise BadRequest(f"limit must be between 1 and {MAX_PAGE}")
        async with self.db.read() as conn:
            if path is not None:
                entry, place = await self.files.resolve(conn, who, path)
                owner = place.role == "owner"
            else:
                assert node_id is not None
                entry, owner = await _visible(conn, who, node_id)
            events = await q.page(conn, entry.node.id, who.user_id, owner=owner,
                                  before=before if before is not None else 2**63 - 1,
                                  limit=limit + 1)
        more = len(events) > limit
        items = [_activity(e, entry, who) for e in events[:limit]]
        return ActivityPage(entry.path, items, items[-1].seq if more else None)


async def _visible(conn: aiosqlite.Connection, who: Principal, node_id: int) -> tuple[Entry, bool]:
    """The node at the path the caller sees it, and whether they own it;
    NotFound unless they own it or a share shows it to them (a trashed item
    is nobody's to see but through the trash)."""
    missing = NotFound(f"there is no file or folder {node_id}")
    node = await tree.node_by_id(conn, node_id)
    parts = None if node is None else await sharesq.node_path(conn, node_id)
    if node is None or parts is None:
        raise missing
    if node.owner_id == who.user_id:
        return Entry(paths.join_parts(parts), node), True
    for cover in await sharesq.covering(conn, node_id):
        if cover.recipient_id == who.user_id:
            return Entry(cover.path_of(parts), node), False
    raise missing


def _activity(e: q.Event, entry: Entry, who: Principal) -> Activity:
    if e.reason is not None:
        action = e.reason
    elif e.op == "move":
        same = e.old_path is not None and _parent(e.old_path) == _parent(e.path)
        action = "renamed" if same else "moved"
    else:
        action = _ACTION_OF_OP.get(e.op, e.op)
    # a share's rows name the item as its recipient sees it; its owner sees their own path
    path = entry.path if e.recipient not in (None, who.username) else e.path
    to = None if e.recipient == who.username else e.recipient  # None: with the caller
    return Activity(e.seq, action, e.kind, path, e.old_path if path == e.path else None,
                    e.rev, e.at, e.actor, e.device, to)


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"
