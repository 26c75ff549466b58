"""The trash: list, restore, purge, and expiry of old entries.

Deleting moves a file or folder to the trash (FileService.delete); it keeps
counting toward the owner's quota until it is purged, by the owner or by the
expiry task after `trash_retention_s`.  Purging deletes the nodes and their
revisions; their blocks are left to the garbage collector.
"""

from __future__ import annotations

from collections.abc import Sequence

import aiosqlite

from selfdrive.core import paths
from selfdrive.core.clock import Clock
from selfdrive.core.errors import BadRequest, NotFound
from selfdrive.services.auth import Principal
from selfdrive.services.files import Entry, FileService
from selfdrive.store.meta import shares as sharesq
from selfdrive.store.meta import trash as q
from selfdrive.store.meta import tree
from selfdrive.store.meta import users as uq
from selfdrive.store.meta.db import Database
from selfdrive.store.meta.trash import TrashEntry

EXPIRY_BATCH = 200


class TrashService:
    def __init__(self, db: Database, files: FileService, clock: Clock) -> None:
        self.db = db
        self.files = files
        self.clock = clock

    async def list(self, who: Principal) -> list[TrashEntry]:
        async with self.db.read() as conn:
            return await q.entries(conn, who.user_id)

    async def restore(self, who: Principal, entry_id: int) -> Entry:
        """Put an entry back where it was, or beside it as "name (restored)" if
        that name is taken now; missing parent folders are made again."""
        now = self.clock.now_ms()
        async with self.db.write() as conn:
            found = await q.entry(conn, who.user_id, entry_id)
            if found is None:
                raise NotFound(f"there is no trash entry {entry_id}")
            parent_path, name = paths.parent_and_name(found.path)
            user = await uq.user_by_id(conn, who.user_id)
            assert user is not None
            parent = await self.files.ensure_folders(
                conn, who, user, paths.split_path(parent_path), now
            )
            name = await _free_name(conn, parent.id, name)
            await q.untrash(conn, found.id, parent.id, name)
            path = paths.join(parent_path, name)
            for node, rel in await tree.subtree(conn, found.id):
                await sharesq.journal_all(
                    conn, owner_id=who.user_id, node_id=node.id, kind=node.kind,
                    op="mkdir" if node.is_folder else "add",
                    parts=paths.split_path(path + rel), rev=node.current_rev, now=now,
                    device_id=who.device_id, actor_id=who.user_id,
                    notify=rel == "", reason="restored",
                )
            restored = await tree.node_by_id(conn, found.id)
        assert restored is not None
        return Entry(path, restored)

    async def purge(self, who: Principal, entry_ids: Sequence[int] | None) -> tuple[int, int]:
        """Delete chosen entries (all if None) for good; (files, bytes) freed."""
        async with self.db.write() as conn:
            entries = await q.entries(conn, who.user_id)
            if entry_ids is None:
                chosen = [e.id for e in entries]
            else:
                mine = {e.id for e in entries}
                unknown = sorted(set(entry_ids) - mine)
                if unknown:
                    raise NotFound(f"there is no trash entry {unknown[0]}", ids=unknown)
                chosen = list(dict.fromkeys(entry_ids))
            files, size = await q.purge(conn, chosen)
            await uq.add_usage(conn, who.user_id, -size)
        return files, size

    async def expire(self, older_than_ms: int) -> int:
        """Purge entries deleted more than *older_than_ms* ago, in bounded batches."""
        before = self.clock.now_ms() - older_than_ms
        purged = 0
        while True:
            async with self.db.write() as conn:
                batch = await q.expired(conn, before, EXPIRY_BATCH)
                for owner_id, node_id in batch:
                    _, size = await q.purge(conn, [node_id])
                    await uq.add_usage(conn, owner_id, -size)
            purged += len(batch)
            if len(batch) < EXPIRY_BATCH:
                return purged


async def _free_name(conn: aiosqlite.Connection, parent_id: int, name: str) -> str:
    """*name*, or "stem (restored).ext", "stem (restored 2).ext"... if taken."""
    if await tree.child(conn, parent_id, name) is None:
        return name
    stem, dot, ext = name.rpartition(".")
    if not stem:  # no extension, or a dotfile
        stem, dot, ext = name, "", ""
    for n in range(1, 10_000):
        label = "restored" if n == 1 else f"restored {n}"
        candidate = f"{stem} ({label}){dot}{ext}"
        if len(candidate.encode()) > paths.MAX_NAME_BYTES:
            raise BadRequest("the restored name would be too long; rename the entry in the way")
        if await tree.child(conn, parent_id, candidate) is None:
            return candidate
    raise BadRequest("too many restored copies of this name")
