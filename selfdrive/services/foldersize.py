"""A folder's size: how many bytes, files and folders lie below it
(GET /files/folder_size; the web UI's folder details).

Terms: a folder's *size* is the sum of the sizes of the current revisions
of the live files at any depth below it; older revisions and the trash are
not in it (they count toward the quota, not toward what the folder holds),
and a block stored once for two files counts twice, as the files' own
sizes do.  *files* and *folders* count what lies below, the folder itself
not included.

Access is the listing's (`FileService.resolve`): the caller's own folders,
and a share's folders for whom it is shared with, viewer or editor; any
other path is the listing's NotFound.  ``/`` holds what its recursive
listing holds (services/listing.py): the caller's own tree, and, when they
have shares, ``/Shared with me`` (one folder) with every share below it
whose folder is not in its owner's trash.  ``/Shared with me`` holds those
shares; a subtree shared twice (a folder and one inside it) counts twice,
as the listing shows it twice.  One query, whatever the depth
(store/meta/tree.py, `summary`); benchmarks/folder_size.py measures it.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiosqlite

from selfdrive.core import paths
from selfdrive.core.errors import NotAFolder
from selfdrive.services.auth import Principal
from selfdrive.services.files import Entry, FileService
from selfdrive.store.meta import shares as sharesq
from selfdrive.store.meta import tree
from selfdrive.store.meta.shares import SHARED_ROOT


@dataclass(frozen=True)
class FolderSize:
    folder: Entry
    #: the sizes of the current revisions of the live files below
    size: int
    files: int
    folders: int


class FolderSizes:
    def __init__(self, files: FileService) -> None:
        self.files = files

    async def of(self, who: Principal, path: str) -> FolderSize:
        """The size of the folder at *path*, and what it holds, in one snapshot."""
        parts = paths.split_path(path)
        async with self.files.db.read() as conn:
            if parts == [SHARED_ROOT]:
                folder = await self.files.virtual_root(conn, who)
                shares = await sharesq.of_recipient(conn, who.user_id)
                tops, shown = await _listed(conn, shares), 0
            else:
                folder, _ = await self.files.resolve(conn, who, path)
                if not folder.node.is_folder:
                    raise NotAFolder(f"{folder.path} is a file, not a folder")
                # the folder itself is a top, not below itself
                tops, shown = [folder.node.id], -1
                shares = await sharesq.of_recipient(conn, who.user_id) if not parts else []
                if shares:
                    # /Shared with me, which is no node, and the shares in it
                    tops += await _listed(conn, shares)
                    shown += 1
            size, files, folders = await tree.summary(conn, tops)
        return FolderSize(folder, size, files, folders + shown)


async def _listed(conn: aiosqlite.Connection, shares: list[sharesq.Share]) -> list[int]:
    """The node of each share /Shared with me lists (not those in the trash)."""
    return [share.node_id for share in shares
            if await sharesq.node_path(conn, share.node_id) is not None]
