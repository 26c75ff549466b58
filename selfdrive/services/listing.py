"""Recursive listing: everything under a folder, in path order, paged.

For a sync client's first sync.  Terms: *path-segment order* compares two
paths segment by segment, each name by code point (the order of a one-level
listing), a path before the longer paths it starts: ``/a``, ``/a/b``,
``/a b``, ``/a-b``.  So a folder comes right before its contents.  A page
ends at some path; the next page starts after it (`after`), whatever was
added, moved or deleted meanwhile (those show up in the change feed).

Shares: the recipient's ``/Shared with me`` folder and everything in the
shares under it are listed when the listed folder is ``/`` or
``/Shared with me`` (or a folder inside a share), as a one-level listing
shows them, so that a first sync sees what the change feed will report.
"""

from __future__ import annotations

from collections.abc import Sequence

import aiosqlite
import msgspec

from selfdrive.core import paths
from selfdrive.core.errors import BadRequest, NotAFolder
from selfdrive.services.auth import Principal
from selfdrive.services.files import Entry, FileService
from selfdrive.store.meta import shares as sharesq
from selfdrive.store.meta import tree
from selfdrive.store.meta.records import Node
from selfdrive.store.meta.shares import SHARED_ROOT

#: a relative path and its node
Found = tuple[list[str], Node]


class TreeLister:
    def __init__(self, files: FileService) -> None:
        self.files = files

    async def list_tree(
        self, who: Principal, path: str, *, limit: int, after: str | None = None
    ) -> tuple[Entry, list[Entry]]:
        """The folder at *path*, and up to *limit* entries at any depth under it
        that sort after the path *after* (which must lie inside it), in
        path-segment order."""
        if limit < 1:
            raise BadRequest("limit must be at least 1")
        parts = paths.split_path(path)
        rel_after = None if after is None else _relative(parts, after)
        async with self.files.db.read() as conn:
            if parts == [SHARED_ROOT]:
                folder = await self.files.virtual_root(conn, who)
                found = await self._shares(conn, who, [], rel_after, limit)
            else:
                folder, _ = await self.files.resolve(conn, who, path)
                if not folder.node.is_folder:
                    raise NotAFolder(f"{folder.path} is a file, not a folder")
                found = await tree.ordered_subtree(
                    conn, folder.node.id, after=rel_after or [], limit=limit
                )
                if not parts and await sharesq.of_recipient(conn, who.user_id):
                    found += await self._shares(conn, who, [SHARED_ROOT], rel_after, limit)
        found.sort(key=lambda item: item[0])
        return folder, [
            Entry(paths.join_parts([*parts, *rel]), node) for rel, node in found[:limit]
        ]

    async def _shares(
        self, conn: aiosqlite.Connection, who: Principal, prefix: list[str],
        after: list[str] | None, limit: int,
    ) -> list[Found]:
        """/Shared with me (when *prefix* names it) and each share's subtree,
        at their paths relative to the listed folder."""
        out: list[Found] = []
        if prefix and (after is None or prefix > after):
            out.append((list(prefix), (await self.files.virtual_root(conn, who)).node))
        for share in await sharesq.of_recipient(conn, who.user_id):
            mount = [*prefix, share.mount_name]
            if _wholly_before(mount, after):
                continue  # listed on an earlier page
            if await sharesq.node_path(conn, share.node_id) is None:
                continue  # its owner moved it to the trash
            start = None if after is None or after[: len(mount)] != mount else after[len(mount):]
            walked = await tree.ordered_subtree(conn, share.node_id, after=start, limit=limit)
            for rel, node in walked:
                shown = node if rel else msgspec.structs.replace(node, name=share.mount_name)
                out.append(([*mount, *rel], shown))
        return out


def _relative(parts: Sequence[str], after: str) -> list[str]:
    """*after* (a path inside the folder *parts*) relative to that folder."""
    after_parts = paths.split_path(after)
    if after_parts[: len(parts)] != list(parts):
        raise BadRequest(f"after must be a path inside {paths.join_parts(parts)}")
    return after_parts[len(parts):]


def _wholly_before(top: list[str], after: list[str] | None) -> bool:
    """True if *top* and everything under it sort before *after*."""
    return after is not None and top < after and after[: len(top)] != top
