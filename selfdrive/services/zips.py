"""What goes into the zip of a folder, or of some entries of a folder
(GET /files/zip; http/zipstream.py writes it).

The entries are what the folder's listing shows (`FileService.children_in`):
the caller's own, or a share's as its viewer sees it; ``/Shared with me``
holds the caller's shares, and the zip of ``/`` includes it as the listing
does.  A folder goes in with everything under it, empty folders as
directory entries.  Everything is read in one snapshot, before the first
byte is sent, so an unknown name is a clean 404; the content is read later,
block by block, while the zip streams.
"""

from __future__ import annotations

import aiosqlite

from selfdrive.core import paths
from selfdrive.core.errors import BadRequest, NotFound
from selfdrive.services.auth import Principal
from selfdrive.services.files import Entry, FileService, Opened
from selfdrive.services.links import ZipItem
from selfdrive.store.meta import tree
from selfdrive.store.meta.records import Node
from selfdrive.store.meta.shares import SHARED_ROOT

MAX_NAMES = 1000


class ZipService:
    def __init__(self, files: FileService) -> None:
        self.files = files

    async def items(
        self, who: Principal, path: str, names: list[str] | None = None
    ) -> tuple[Entry, list[ZipItem]]:
        """The folder at *path* and the zip's entries (parents before
        children): the entries of the folder named *names*, or all of them."""
        if names is not None and len(names) > MAX_NAMES:
            raise BadRequest(f"a zip may name at most {MAX_NAMES} entries")
        async with self.files.db.read() as conn:
            folder, kids = await self.files.children_in(conn, who, path)
            if names is not None:
                by_name = {kid.node.name: kid for kid in kids}
                missing = [name for name in names if name not in by_name]
                if missing:
                    shown = paths.join(folder.path, missing[0])
                    raise NotFound(f"{shown} does not exist", path=shown,
                                   missing=missing[:20])
                kids = [by_name[name] for name in sorted(set(names))]
            items: list[ZipItem] = []
            for kid in kids:
                await self._add(conn, who, kid, kid.node.name, items)
        return folder, items

    async def _add(self, conn: aiosqlite.Connection, who: Principal, entry: Entry, rel: str,
                   items: list[ZipItem]) -> None:
        if entry.node.id == 0:  # /Shared with me: a folder of the caller's shares
            items.append(ZipItem(rel, entry.node, None))
            _, shares = await self.files.children_in(conn, who, f"/{SHARED_ROOT}")
            for share in shares:
                await self._add(conn, who, share, f"{rel}/{share.node.name}", items)
            return
        if not entry.node.is_folder:
            opened = await _opened(conn, entry.path, entry.node)
            if opened is not None:
                items.append(ZipItem(rel, entry.node, opened))
            return
        for node, sub in await tree.subtree(conn, entry.node.id):
            if not node.is_folder:
                opened = await _opened(conn, entry.path + sub, node)
                if opened is not None:
                    items.append(ZipItem(rel + sub, node, opened))
            else:
                items.append(ZipItem(rel + sub, node, None))


async def _opened(conn: aiosqlite.Connection, path: str, node: Node) -> Opened | None:
    revision = await tree.revision(conn, node.id, node.current_rev or 0)
    if revision is None:
        return None
    return Opened(Entry(path, node), revision, await tree.extents(conn, revision.id))
