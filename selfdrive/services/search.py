"""Search by name: what lies anywhere below a folder and has a name that
contains the query, case- and accent-insensitively (core/names.py, fold).

Terms: a *space* is one tree searched, seen from the searched folder: the
searcher's own tree below the folder, or a share's tree (the owner's nodes
below the shared folder), each at the path under the searched folder where
it appears (``[]``, or ``["Shared with me", mount]``).  Searching ``/`` or
``/Shared with me`` also searches every share mounted there, as the
recursive listing shows them (services/listing.py); searching inside a share
searches that share's subtree only.

How: one query per space (store/meta/search.py) walks the live folders
below the space's top through the index ``nodes_search`` and keeps the
first matches in path order; a folder in the trash hides all it holds, and
nothing outside the top is ever read.  The spaces' pages are merged in path
order (the keys of store/meta/search.py), paged by `after`, the last path of
the previous page.  benchmarks/search.py measures it (docs/benchmarks.md).
"""

from __future__ import annotations

import msgspec

from selfdrive.core import paths
from selfdrive.core.errors import BadRequest, NotAFolder
from selfdrive.core.names import fold
from selfdrive.services.auth import Principal
from selfdrive.services.files import Entry, FileService
from selfdrive.store.meta import search as q
from selfdrive.store.meta import shares as sharesq
from selfdrive.store.meta import tree
from selfdrive.store.meta.search import SEP
from selfdrive.store.meta.shares import SHARED_ROOT

MAX_QUERY_CHARS = 255
MAX_PAGE = 1000


def _key(parts: list[str]) -> str:
    return "".join(SEP + part for part in parts)


class SearchService:
    def __init__(self, files: FileService) -> None:
        self.files = files
        self.db = files.db

    async def fold_missing(self) -> int:
        """Fold the names of rows made before migration 0011 (once, at
        start-up; a batch per transaction); returns how many."""
        async with self.db.read() as conn:
            if not await q.any_unfolded(conn):
                return 0  # no write transaction: the CLI may run beside the server
        total = 0
        while True:
            async with self.db.write() as conn:
                done = await q.fold_missing(conn)
            total += done
            if done < q.FOLD_BATCH:
                return total

    async def search(
        self, who: Principal, path: str, query: str, *, limit: int, after: str | None = None
    ) -> tuple[Entry, list[Entry], bool]:
        """The folder at *path*, up to *limit* entries below it whose name
        holds *query*, in path-segment order, after the path *after*, and
        whether more follow."""
        if not 1 <= len(query) <= MAX_QUERY_CHARS:
            raise BadRequest(f"q must hold 1 to {MAX_QUERY_CHARS} characters")
        folded = fold(query)
        if not folded:
            raise BadRequest("q holds nothing to search for (only accents?)")
        if not 1 <= limit <= MAX_PAGE:
            raise BadRequest(f"limit must be between 1 and {MAX_PAGE}")
        parts = paths.split_path(path)
        after_key = "" if after is None else _key(_relative(parts, after))
        async with self.db.read() as conn:
            # (key, node id, name shown instead of the node's own) of each match
            found: list[tuple[str, int, str | None]] = []
            if parts == [SHARED_ROOT]:
                folder, shared = await self.files.virtual_root(conn, who), [""]
            else:
                folder, _ = await self.files.resolve(conn, who, path)
                if not folder.node.is_folder:
                    raise NotAFolder(f"{folder.path} is a file, not a folder")
                found += [(key, node_id, None) for key, node_id in await q.below(
                    conn, folder.node.id, "", folded, after=after_key, limit=limit + 1)]
                shared = [SEP + SHARED_ROOT] if not parts else []
                if shared and await sharesq.of_recipient(conn, who.user_id) and (
                        folded in fold(SHARED_ROOT)):
                    found.append((shared[0], 0, None))  # the virtual folder itself
            for prefix in shared:
                for share in await sharesq.of_recipient(conn, who.user_id):
                    if await sharesq.node_path(conn, share.node_id) is None:
                        continue  # its owner moved it to the trash
                    top = prefix + SEP + share.mount_name
                    if folded in fold(share.mount_name):
                        found.append((top, share.node_id, share.mount_name))
                    found += [(key, node_id, None) for key, node_id in await q.below(
                        conn, share.node_id, top, folded, after=after_key, limit=limit + 1)]
            found = sorted(f for f in found if f[0] > after_key)[: limit + 1]
            nodes = await tree.nodes_by_ids(conn, [node_id for _, node_id, _ in found])
            base = paths.split_path(folder.path)
            page = []
            for key, node_id, shown in found[:limit]:
                node = (await self.files.virtual_root(conn, who)).node if node_id == 0 \
                    else nodes.get(node_id)
                if node is not None:
                    if shown is not None:
                        node = msgspec.structs.replace(node, name=shown)
                    page.append(Entry(paths.join_parts([*base, *key.split(SEP)[1:]]), node))
            folder, *page = await self.files.marked_anywhere(conn, who, [folder, *page])
        return folder, page, len(found) > limit


def _relative(parts: list[str], after: str) -> list[str]:
    """*after* (a path inside the folder *parts*) relative to that folder."""
    after_parts = paths.split_path(after)
    if after_parts[: len(parts)] != parts:
        raise BadRequest(f"after must be a path inside {paths.join_parts(parts)}")
    return after_parts[len(parts):]
