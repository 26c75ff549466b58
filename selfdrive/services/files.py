"""Files and folders: upload, download, revisions, and tree operations.

Write ordering (docs/storage.md): content is made durable in the block store
first (`ContentStore.ingest`), then one metadata transaction records the
blocks, the revision, the usage and the journal row; only after it commits
does the caller answer.  A failure before the commit leaves unreferenced
blocks for the garbage collector and no trace in the tree.

Checks that depend on the tree (file/folder in the way, base_rev, quota) run
twice: before the body is read, so a doomed upload is refused at once, and
again inside the commit transaction, which is the one that counts.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

import aiosqlite

from selfdrive.core import paths
from selfdrive.core.blockhash import content_hash
from selfdrive.core.clock import Clock
from selfdrive.core.errors import (
    AlreadyExists,
    BadRequest,
    MissingBlocks,
    NotAFile,
    NotAFolder,
    NotFound,
    PayloadTooLarge,
    QuotaExceeded,
    RevisionConflict,
    RevisionNotFound,
)
from selfdrive.services.auth import Principal
from selfdrive.store.content import BlockRef, ContentStore, Extent
from selfdrive.store.meta import gc as gcq
from selfdrive.store.meta import trash as trashq
from selfdrive.store.meta import tree
from selfdrive.store.meta import users as uq
from selfdrive.store.meta.db import Database
from selfdrive.store.meta.records import Node, Revision, User

MAX_REVISIONS_PAGE = 1000

#: work done inside a commit's transaction: (connection, path, new rev)
InTransaction = Callable[[aiosqlite.Connection, str, int], Awaitable[None]]


@dataclass(frozen=True)
class Entry:
    """A node and the path it was found at."""

    path: str
    node: Node


@dataclass(frozen=True)
class Opened:
    """A revision ready to stream: its facts and its blocks."""

    entry: Entry
    revision: Revision
    extents: list[Extent]


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int
    #: an unfinished upload's pins are dropped this long after it started
    upload_expiry_ms: int = 24 * 3600 * 1000
    #: an upload starts pinning its blocks this long after it started; must be
    #: well inside the GC grace period (runtime.py derives it from the grace)
    pin_after_s: float = 15.0


class FileService:
    def __init__(self, db: Database, content: ContentStore, clock: Clock, limits: Limits) -> None:
        self.db = db
        self.content = content
        self.clock = clock
        self.limits = limits

    # -- lookups -----------------------------------------------------------------

    async def _user(self, conn: aiosqlite.Connection, who: Principal) -> User:
        user = await uq.user_by_id(conn, who.user_id)
        if user is None:
            raise NotFound("your account no longer exists")
        return user

    async def _resolve(self, conn: aiosqlite.Connection, who: Principal, path: str) -> Entry:
        parts = paths.split_path(path)
        user = await self._user(conn, who)
        nodes, matched = await tree.walk(conn, user.root_id, parts)
        if matched < len(parts):
            if not nodes[-1].is_folder:
                raise NotAFolder(f"{_path(parts[:matched])} is a file, not a folder")
            raise NotFound(f"{_path(parts)} does not exist", path=_path(parts))
        return Entry(_path(parts), nodes[-1])

    async def stat(self, who: Principal, path: str) -> Entry:
        async with self.db.read() as conn:
            return await self._resolve(conn, who, path)

    async def list_folder(
        self, who: Principal, path: str, *, limit: int = -1, after: str | None = None
    ) -> tuple[Entry, list[Entry]]:
        async with self.db.read() as conn:
            folder = await self._resolve(conn, who, path)
            if not folder.node.is_folder:
                raise NotAFolder(f"{folder.path} is a file, not a folder")
            kids = await tree.children(conn, folder.node.id, limit=limit, after=after)
        return folder, [Entry(paths.join(folder.path, k.name), k) for k in kids]

    async def list_revisions(self, who: Principal, path: str, limit: int) -> list[Revision]:
        if not 1 <= limit <= MAX_REVISIONS_PAGE:
            raise BadRequest(f"limit must be between 1 and {MAX_REVISIONS_PAGE}")
        async with self.db.read() as conn:
            entry = await self._resolve(conn, who, path)
            if entry.node.is_folder:
                raise NotAFile(f"{entry.path} is a folder; folders have no revisions")
            return await tree.revisions(conn, entry.node.id, limit)

    async def open(self, who: Principal, path: str, rev: int | None = None) -> Opened:
        """A file's revision (the current one unless *rev*) and its blocks."""
        async with self.db.read() as conn:
            entry = await self._resolve(conn, who, path)
            if entry.node.is_folder:
                raise NotAFile(f"{entry.path} is a folder, not a file")
            number = entry.node.current_rev if rev is None else rev
            found = await tree.revision(conn, entry.node.id, number) if number else None
            if found is None:
                raise RevisionNotFound(f"{entry.path} has no revision {rev}", rev=rev)
            extents = await tree.extents(conn, found.id)
        return Opened(entry, found, extents)

    def read(self, opened: Opened, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """The bytes [start, end) of an opened revision, verified block by block."""
        stop = opened.revision.size if end is None else end
        return self.content.read(opened.extents, start, stop)

    # -- writing content -------------------------------------------------------------

    async def upload(
        self,
        who: Principal,
        path: str,
        body: AsyncIterator[bytes],
        *,
        base_rev: int | None = None,
        mtime: int | None = None,
        content_length: int | None = None,
    ) -> Entry:
        """Store a stream as the newest revision of *path* (missing folders are made)."""
        parts = paths.split_path(path)
        if not parts:
            raise NotAFile("/ is a folder, not a file")
        async with self.db.read() as conn:
            user = await self._user(conn, who)
            existing = await self._check_target(conn, user, parts, base_rev)
        room = user.quota_bytes - user.used_bytes + (existing.size if existing else 0)
        if content_length is not None:
            self._check_size(content_length, room)
        too_large: type[Exception] = (
            QuotaExceeded if room < self.limits.max_file_bytes else PayloadTooLarge
        )
        # Pins protect the blocks of an upload that lasts longer than the GC
        # grace period.  A short upload commits before its first pin is due
        # and costs no extra transaction (docs/storage.md, write ordering 5).
        upload_id: int | None = None

        async def pin(refs: list[BlockRef]) -> None:
            nonlocal upload_id
            now = self.clock.now_ms()
            async with self.db.write() as conn:
                if upload_id is None:
                    upload_id = await gcq.open_upload(
                        conn, who.user_id, _path(parts), now, now + self.limits.upload_expiry_ms
                    )
                await gcq.pin_blocks(
                    conn, upload_id, [(r.id, r.size, r.stored_size) for r in refs], now
                )

        try:
            ingested = await self.content.ingest(
                body, max_bytes=max(min(room, self.limits.max_file_bytes), 0),
                expected_bytes=content_length, too_large=too_large, pin=pin,
                pin_after_s=self.limits.pin_after_s,
            )
            return await self.commit(
                who, parts, ingested.blocks, ingested.size, ingested.content_hash, base_rev,
                mtime, upload_id=upload_id,
            )
        except BaseException:
            # The blocks are unpinned now, for the garbage collector (after its
            # grace period); a crash here leaves the row to expire instead.
            if upload_id is not None:
                await asyncio.shield(self._close_upload(upload_id))
            raise

    async def _close_upload(self, upload_id: int) -> None:
        async with self.db.write() as conn:
            await gcq.close_upload(conn, upload_id)

    async def commit_blocks(
        self,
        who: Principal,
        path: str,
        block_ids: Sequence[bytes],
        size: int,
        *,
        base_rev: int | None = None,
        mtime: int | None = None,
    ) -> Entry:
        """A new revision from blocks the caller already holds or has sent."""
        parts = paths.split_path(path)
        if not parts:
            raise NotAFile("/ is a folder, not a file")
        async with self.db.read() as conn:
            user = await self._user(conn, who)
            await self._check_target(conn, user, parts, base_rev)
            known = await tree.blocks_known_to(conn, who.user_id, list(set(block_ids)))
            sizes = await tree.block_sizes(conn, list(known))
        missing = sorted({b for b in block_ids if b not in known})
        if missing:
            raise MissingBlocks(
                f"{len(missing)} block(s) must be sent first", missing=[b.hex() for b in missing]
            )
        total = sum(sizes[b] for b in block_ids)
        if total != size:
            raise BadRequest(f"the blocks add up to {total} bytes, not {size}")
        # These blocks all have rows already (known_to found them through rows).
        refs = [BlockRef(b, sizes[b], 0, new=False) for b in block_ids]
        return await self.commit(who, parts, refs, size, content_hash(block_ids), base_rev, mtime)

    def _check_size(self, size: int, room: int) -> None:
        if size > self.limits.max_file_bytes:
            raise PayloadTooLarge(
                f"a file may be at most {self.limits.max_file_bytes} bytes",
                max_bytes=self.limits.max_file_bytes,
            )
        if size > room:
            raise QuotaExceeded(
                f"this upload needs {size} bytes but only {max(room, 0)} are left in your quota",
                available_bytes=max(room, 0),
            )

    async def _check_target(
        self, conn: aiosqlite.Connection, user: User, parts: list[str], base_rev: int | None
    ) -> Node | None:
        """The file that a write to *parts* would replace (None if new); raise if
        a file or folder is in the way, or if *base_rev* is not the current rev.

        base_rev 0 means "I expect no file there".
        """
        nodes, matched = await tree.walk(conn, user.root_id, parts)
        existing: Node | None = None
        if matched == len(parts):
            existing = nodes[-1]
            if existing.is_folder:
                raise NotAFile(f"{_path(parts)} is a folder, not a file")
        elif not nodes[-1].is_folder:
            raise NotAFolder(f"{_path(parts[:matched])} is a file, not a folder")
        current = (existing.current_rev or 0) if existing else 0
        if base_rev is not None and base_rev != current:
            raise RevisionConflict(
                f"{_path(parts)} is at revision {current}, not {base_rev}",
                current_rev=current,
            )
        return existing

    async def ensure_folders(
        self, conn: aiosqlite.Connection, who: Principal, user: User, parts: Sequence[str],
        now: int,
    ) -> Node:
        """The folder at *parts*, creating what is missing (each creation journaled)."""
        nodes, matched = await tree.walk(conn, user.root_id, parts)
        if matched < len(parts) and not nodes[-1].is_folder:
            raise NotAFolder(f"{_path(parts[:matched])} is a file, not a folder")
        if matched == len(parts) and not nodes[-1].is_folder:
            raise NotAFolder(f"{_path(parts)} is a file, not a folder")
        folder = nodes[-1]
        for depth in range(matched, len(parts)):
            node_id = await tree.insert_node(conn, user.id, folder.id, parts[depth], "folder", now)
            await tree.journal(
                conn, user_id=user.id, node_id=node_id, op="mkdir", kind="folder",
                path=_path(parts[: depth + 1]), now=now, device_id=who.device_id,
            )
            new = await tree.node_by_id(conn, node_id)
            assert new is not None
            folder = new
        return folder

    async def commit(
        self, who: Principal, parts: list[str], refs: Sequence[BlockRef], size: int,
        digest: bytes, base_rev: int | None, mtime: int | None, *, upload_id: int | None = None,
        expect_node_id: int | None = None, in_transaction: InTransaction | None = None,
    ) -> Entry:
        """Record durable blocks as the newest revision of *parts*, in one transaction.

        *upload_id* is the streamed upload whose pins the revision replaces;
        *in_transaction* runs inside the same transaction, after the revision
        is written (a resumable upload marks itself done there).
        """
        now = self.clock.now_ms()
        async with self.db.write() as conn:
            user = await self._user(conn, who)
            existing = await self._check_target(conn, user, parts, base_rev)
            if expect_node_id is not None and (existing is None or existing.id != expect_node_id):
                raise RevisionConflict(f"{_path(parts)} changed while it was being restored")
            old_size = existing.size if existing else 0
            if size > old_size:
                self._check_size(size, user.quota_bytes - user.used_bytes + old_size)
            if existing is None:
                parent = await self.ensure_folders(conn, who, user, parts[:-1], now)
                node_id = await tree.insert_node(conn, user.id, parent.id, parts[-1], "file", now)
            else:
                node_id = existing.id
            await tree.insert_blocks(conn, refs, now)
            rev = await tree.add_revision(
                conn, node_id=node_id, size=size, content_hash=digest,
                mtime=now if mtime is None else mtime, now=now, author_id=user.id,
                device_id=who.device_id, device_name=who.device_name,
                block_ids=[r.id for r in refs], block_sizes=[r.size for r in refs],
            )
            await tree.forget_uploaded_blocks(conn, user.id, [r.id for r in refs])
            if upload_id is not None:
                # The revision now holds the blocks: the pins can go, in the
                # same transaction, so there is no moment without a reference.
                await gcq.close_upload(conn, upload_id)
            await uq.add_usage(conn, user.id, size - old_size)
            await tree.journal(
                conn, user_id=user.id, node_id=node_id, op="modify" if existing else "add",
                kind="file", path=_path(parts), rev=rev, now=now, device_id=who.device_id,
            )
            if in_transaction is not None:
                await in_transaction(conn, _path(parts), rev)
            node = await tree.node_by_id(conn, node_id)
        assert node is not None
        return Entry(_path(parts), node)

    async def restore_revision(self, who: Principal, path: str, rev: int) -> Entry:
        """Make an old revision's content the newest revision (history is kept)."""
        async with self.db.read() as conn:
            entry = await self._resolve(conn, who, path)
            if entry.node.is_folder:
                raise NotAFile(f"{entry.path} is a folder; folders have no revisions")
            old = await tree.revision(conn, entry.node.id, rev)
            if old is None:
                raise RevisionNotFound(f"{entry.path} has no revision {rev}", rev=rev)
            extents = await tree.extents(conn, old.id)
        refs = [BlockRef(e.id, e.size, 0, new=False) for e in extents]
        # base_rev and the node id pin the file to what was just read: a write,
        # move or delete in between wins (409), never another file.
        return await self.commit(
            who, paths.split_path(path), refs, old.size, old.content_hash,
            entry.node.current_rev, None, expect_node_id=entry.node.id,
        )

    async def pin_revision(self, who: Principal, path: str, rev: int, pinned: bool) -> Revision:
        """Keep a revision for ever (retention skips it), or stop keeping it."""
        async with self.db.write() as conn:
            entry = await self._resolve(conn, who, path)
            if entry.node.is_folder or not await tree.set_pinned(conn, entry.node.id, rev, pinned):
                raise RevisionNotFound(f"{entry.path} has no revision {rev}", rev=rev)
            found = await tree.revision(conn, entry.node.id, rev)
        assert found is not None
        return found

    # -- tree operations -----------------------------------------------------------------

    async def mkdir(self, who: Principal, path: str) -> Entry:
        parts = paths.split_path(path)
        if not parts:
            raise AlreadyExists("/ already exists")
        async with self.db.write() as conn:
            user = await self._user(conn, who)
            _, matched = await tree.walk(conn, user.root_id, parts)
            if matched == len(parts):
                raise AlreadyExists(f"{_path(parts)} already exists", path=_path(parts))
            folder = await self.ensure_folders(conn, who, user, parts, self.clock.now_ms())
        return Entry(_path(parts), folder)

    async def move(self, who: Principal, src: str, dst: str) -> Entry:
        """Move or rename a file or folder; missing parents of *dst* are made."""
        src_parts, dst_parts = paths.split_path(src), paths.split_path(dst)
        if not src_parts or not dst_parts:
            raise BadRequest("the root folder cannot be moved or replaced")
        now = self.clock.now_ms()
        async with self.db.write() as conn:
            user = await self._user(conn, who)
            source = await self._resolve(conn, who, src)
            if src_parts == dst_parts:
                return source
            if paths.is_within(_path(dst_parts), source.path):
                raise BadRequest(f"cannot move {source.path} into itself")
            _, matched = await tree.walk(conn, user.root_id, dst_parts)
            if matched == len(dst_parts):
                raise AlreadyExists(f"{_path(dst_parts)} already exists", path=_path(dst_parts))
            parent = await self.ensure_folders(conn, who, user, dst_parts[:-1], now)
            await tree.rename_node(conn, source.node.id, parent.id, dst_parts[-1], now)
            await tree.journal(
                conn, user_id=user.id, node_id=source.node.id, op="move", kind=source.node.kind,
                path=_path(dst_parts), old_path=source.path, rev=source.node.current_rev,
                now=now, device_id=who.device_id,
            )
            node = await tree.node_by_id(conn, source.node.id)
        assert node is not None
        return Entry(_path(dst_parts), node)

    async def copy(self, who: Principal, src: str, dst: str) -> Entry:
        """Copy a file or a folder tree; copies share blocks, no content is copied."""
        dst_parts = paths.split_path(dst)
        if not dst_parts:
            raise AlreadyExists("/ already exists")
        now = self.clock.now_ms()
        async with self.db.write() as conn:
            user = await self._user(conn, who)
            source = await self._resolve(conn, who, src)
            if paths.is_within(_path(dst_parts), source.path):
                raise BadRequest(f"cannot copy {source.path} into itself")
            _, matched = await tree.walk(conn, user.root_id, dst_parts)
            if matched == len(dst_parts):
                raise AlreadyExists(f"{_path(dst_parts)} already exists", path=_path(dst_parts))
            items = await tree.subtree(conn, source.node.id)
            added = sum(n.size for n, _ in items if not n.is_folder)
            if added > user.quota_bytes - user.used_bytes:
                raise QuotaExceeded(
                    f"the copy needs {added} bytes but only "
                    f"{max(user.quota_bytes - user.used_bytes, 0)} are left in your quota"
                )
            parent = await self.ensure_folders(conn, who, user, dst_parts[:-1], now)
            new_ids: dict[str, int] = {}
            for node, rel in items:
                target = _path(dst_parts) + rel
                under = parent.id if rel == "" else new_ids[rel.rsplit("/", 1)[0]]
                name = dst_parts[-1] if rel == "" else node.name
                new_id = await tree.insert_node(conn, user.id, under, name, node.kind, now)
                new_ids[rel] = new_id
                rev = None
                if not node.is_folder:
                    source_rev = await tree.revision_id(conn, node.id, node.current_rev or 0)
                    assert source_rev is not None
                    rev = await tree.copy_revision(
                        conn, source_rev, new_id, now, user.id, who.device_id, who.device_name
                    )
                await tree.journal(
                    conn, user_id=user.id, node_id=new_id, op="mkdir" if node.is_folder else "add",
                    kind=node.kind, path=target, rev=rev, now=now, device_id=who.device_id,
                )
            await uq.add_usage(conn, user.id, added)
            copied = await tree.node_by_id(conn, new_ids[""])
        assert copied is not None
        return Entry(_path(dst_parts), copied)

    async def delete(self, who: Principal, path: str) -> Entry:
        """Move a file or folder to the trash (it still counts toward the quota)."""
        if not paths.split_path(path):
            raise BadRequest("the root folder cannot be deleted")
        now = self.clock.now_ms()
        async with self.db.write() as conn:
            entry = await self._resolve(conn, who, path)
            await trashq.mark_trashed(conn, entry.node.id, entry.path, who.user_id, now)
            await tree.journal(
                conn, user_id=who.user_id, node_id=entry.node.id, op="delete",
                kind=entry.node.kind, path=entry.path, now=now, device_id=who.device_id,
            )
        return entry


_path = paths.join_parts
