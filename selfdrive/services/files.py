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
from dataclasses import replace as with_fields

import aiosqlite
import msgspec

from selfdrive.core import paths
from selfdrive.core.blockhash import content_hash
from selfdrive.core.clock import Clock
from selfdrive.core.errors import (
    AlreadyExists,
    BadRequest,
    ChangedSinceCursor,
    Forbidden,
    MissingBlocks,
    NotAFile,
    NotAFolder,
    NotFound,
    ParentNotFound,
    PayloadTooLarge,
    QuotaExceeded,
    RevisionConflict,
    RevisionNotFound,
)
from selfdrive.services.auth import Principal
from selfdrive.store.content import BlockRef, ContentStore, Extent
from selfdrive.store.meta import changes as changesq
from selfdrive.store.meta import gc as gcq
from selfdrive.store.meta import props as propsq
from selfdrive.store.meta import shares as sharesq
from selfdrive.store.meta import trash as trashq
from selfdrive.store.meta import tree
from selfdrive.store.meta import users as uq
from selfdrive.store.meta.db import Database
from selfdrive.store.meta.records import Node, Revision, User
from selfdrive.store.meta.shares import SHARED_ROOT

MAX_REVISIONS_PAGE = 1000

#: work done inside a commit's transaction: (connection, path, new rev)
InTransaction = Callable[[aiosqlite.Connection, str, int], Awaitable[None]]


@dataclass(frozen=True)
class Entry:
    """A node and the path it was found at.

    Listings and metadata (`list_folder`, `stat`) also say what the caller
    may do there and whose it is; other answers leave these at their
    defaults."""

    path: str
    node: Node
    #: the caller's right: "owner" in their own tree, a share's "editor" or
    #: "viewer" in it; /Shared with me itself is "viewer" (nothing is written there)
    role: str | None = None
    #: whose tree it is in, when that is not the caller's
    owner: str | None = None
    #: the caller's own item is shared with someone
    shared: bool = False
    #: the caller's own item has a public link that still works
    linked: bool = False


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


@dataclass(frozen=True)
class Place:
    """Where a caller's path lands: in whose tree, at which parts, with what right.

    A path in the caller's own tree is theirs (role ``owner``).  A path under
    ``/Shared with me/<mount>`` lands in the tree of the user who shared it,
    with the share's role; *mine* and *theirs* are the share's root as the
    caller and as the owner see it, to translate paths between the two.
    """

    owner: User
    parts: list[str]
    role: str
    mine: tuple[str, ...] = ()
    theirs: tuple[str, ...] = ()
    share_id: int | None = None

    def show(self, owner_parts: Sequence[str]) -> str:
        """The caller's path for a path in the owner's tree (inside this place)."""
        return _path([*self.mine, *owner_parts[len(self.theirs):]])

    @property
    def path(self) -> str:
        return self.show(self.parts)

    @property
    def is_share_root(self) -> bool:
        return self.share_id is not None and len(self.parts) == len(self.theirs)

    def same_space(self, other: Place) -> bool:
        return self.owner.id == other.owner.id and self.share_id == other.share_id


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

    async def place(
        self, conn: aiosqlite.Connection, who: Principal, parts: Sequence[str], *,
        write: bool = False,
    ) -> Place:
        """Where *parts* (a caller's path) lands; Forbidden if *write* and the
        caller may only read there."""
        user = await self._user(conn, who)
        if not parts or parts[0] != SHARED_ROOT:
            return Place(user, list(parts), "owner")
        if len(parts) == 1:
            if write:
                raise Forbidden(f"/{SHARED_ROOT} lists what others share with you;"
                                " nothing can be written there")
            raise NotAFile(f"/{SHARED_ROOT} is a folder")
        share = await sharesq.by_mount(conn, user.id, parts[1])
        theirs = None if share is None else await sharesq.node_path(conn, share.node_id)
        if share is None or theirs is None:
            if write and len(parts) == 2:
                raise Forbidden(f"only shares appear in /{SHARED_ROOT}; nothing can be made"
                                " there")
            raise NotFound(f"{_path(parts)} does not exist", path=_path(parts))
        owner = await uq.user_by_id(conn, share.owner_id)
        assert owner is not None
        if write and share.role != "editor":
            raise Forbidden(f"{share.owner} shared {share.mount_path} with you to view only")
        return Place(owner, [*theirs, *parts[2:]], share.role, tuple(parts[:2]),
                     tuple(theirs), share.id)

    async def resolve(
        self, conn: aiosqlite.Connection, who: Principal, path: str, *, write: bool = False
    ) -> tuple[Entry, Place]:
        place = await self.place(conn, who, paths.split_path(path), write=write)
        nodes, matched = await tree.walk(conn, place.owner.root_id, place.parts)
        if matched < len(place.parts):
            if not nodes[-1].is_folder:
                raise NotAFolder(f"{place.show(place.parts[:matched])} is a file, not a folder")
            raise NotFound(f"{place.path} does not exist", path=place.path)
        return Entry(place.path, nodes[-1]), place

    async def locate(self, who: Principal, path: str) -> tuple[int, tuple[str, ...]]:
        """Where a caller's path lands, whether or not anything is there: (the
        owner of the tree, the parts in it), so that a share's recipient and its
        owner name the same place alike (WebDAV locks are keyed by it)."""
        parts = paths.split_path(path)
        async with self.db.read() as conn:
            try:
                place = await self.place(conn, who, parts)
            except (NotFound, NotAFile):  # /Shared with me and what is not a share
                return who.user_id, tuple(parts)
        return place.owner.id, tuple(place.parts)

    async def virtual_root(self, conn: aiosqlite.Connection, who: Principal) -> Entry:
        """/Shared with me: a folder that is no node (its id is 0)."""
        user = await self._user(conn, who)
        return Entry(f"/{SHARED_ROOT}", Node(
            id=0, owner_id=user.id, parent_id=user.root_id, name=SHARED_ROOT, kind="folder",
            current_rev=None, created_at=user.created_at, modified_at=user.created_at,
        ))

    async def stat(self, who: Principal, path: str) -> Entry:
        """One entry, with the caller's role there and its sharing marks."""
        async with self.db.read() as conn:
            if paths.split_path(path) == [SHARED_ROOT]:
                return with_fields(await self.virtual_root(conn, who), role="viewer")
            entry, place = await self.resolve(conn, who, path)
            return (await self._marked(conn, place, [entry]))[0]

    async def list_folder(
        self, who: Principal, path: str, *, limit: int = -1, after: str | None = None
    ) -> tuple[Entry, list[Entry]]:
        """A folder's entries; the folder says the caller's role there, its
        entries whether they are shared (one query for the page)."""
        async with self.db.read() as conn:
            folder, kids = await self.children_in(conn, who, path, limit=limit, after=after)
            parts = paths.split_path(path)
            if parts == [SHARED_ROOT]:  # its entries carry their owner and role
                return with_fields(folder, role="viewer"), kids
            place = await self.place(conn, who, parts)
            marked = await self._marked(conn, place, [folder, *kids])
            return marked[0], marked[1:]

    async def _marked(
        self, conn: aiosqlite.Connection, place: Place, entries: list[Entry]
    ) -> list[Entry]:
        """*entries* (all in *place*) with the caller's role there, and, in
        the caller's own tree, whether each is shared or linked."""
        if place.role != "owner":
            return [with_fields(e, role=place.role, owner=place.owner.name) for e in entries]
        marks = await sharesq.marks(
            conn, [e.node.id for e in entries if e.node.id], self.clock.now_ms())
        out = []
        for e in entries:
            if e.node.id == 0:  # /Shared with me, in the root's listing
                out.append(with_fields(e, role="viewer"))
                continue
            m = marks.get(e.node.id, set())
            out.append(with_fields(e, role="owner", shared="share" in m, linked="link" in m))
        return out

    async def marked_anywhere(
        self, conn: aiosqlite.Connection, who: Principal, entries: list[Entry]
    ) -> list[Entry]:
        """Entries from anywhere in the caller's view (a search's), each with
        the caller's role there and its sharing marks: one marks query for
        the caller's own, one place per share the entries are in."""
        groups: dict[tuple[str, ...], list[int]] = {}
        for i, e in enumerate(entries):
            parts = paths.split_path(e.path)
            groups.setdefault(tuple(parts[:2]) if parts[:1] == [SHARED_ROOT] else (), []).append(i)
        out = list(entries)
        for key, where in groups.items():
            if key == (SHARED_ROOT,):  # the virtual folder itself
                for i in where:
                    out[i] = with_fields(entries[i], role="viewer")
                continue
            place = await self.place(conn, who, list(key))
            marked = await self._marked(conn, place, [entries[i] for i in where])
            for i, e in zip(where, marked, strict=True):
                out[i] = e
        return out

    async def children_in(
        self, conn: aiosqlite.Connection, who: Principal, path: str, *, limit: int = -1,
        after: str | None = None,
    ) -> tuple[Entry, list[Entry]]:
        """`list_folder` inside the caller's transaction."""
        parts = paths.split_path(path)
        if parts == [SHARED_ROOT]:
            return await self._list_shared(conn, who, limit, after)
        folder, _ = await self.resolve(conn, who, path)
        if not folder.node.is_folder:
            raise NotAFolder(f"{folder.path} is a file, not a folder")
        kids = [Entry(paths.join(folder.path, k.name), k)
                for k in await tree.children(conn, folder.node.id, limit=limit, after=after)]
        if not parts and await sharesq.of_recipient(conn, who.user_id):
            # The virtual folder takes its place in the root's name order.
            virtual = await self.virtual_root(conn, who)
            fits = (after is None or after < SHARED_ROOT) and (
                limit < 0 or len(kids) < limit or kids[-1].node.name > SHARED_ROOT)
            if fits and all(k.node.name != SHARED_ROOT for k in kids):
                kids = sorted([*kids, virtual], key=lambda e: e.node.name)
                kids = kids if limit < 0 else kids[:limit]
        return folder, kids

    async def _list_shared(
        self, conn: aiosqlite.Connection, who: Principal, limit: int, after: str | None
    ) -> tuple[Entry, list[Entry]]:
        """/Shared with me: one entry per share, named by its mount."""
        out: list[Entry] = []
        for share in await sharesq.of_recipient(conn, who.user_id):
            if after is not None and share.mount_name <= after:
                continue
            node = await tree.node_by_id(conn, share.node_id)
            if node is None or await sharesq.node_path(conn, share.node_id) is None:
                continue  # its owner moved it to the trash
            shown = msgspec.structs.replace(node, name=share.mount_name)
            out.append(Entry(share.mount_path, shown, role=share.role, owner=share.owner))
            if 0 <= limit <= len(out):
                break
        return await self.virtual_root(conn, who), out

    async def list_revisions(self, who: Principal, path: str, limit: int) -> list[Revision]:
        if not 1 <= limit <= MAX_REVISIONS_PAGE:
            raise BadRequest(f"limit must be between 1 and {MAX_REVISIONS_PAGE}")
        async with self.db.read() as conn:
            entry, _ = await self.resolve(conn, who, path)
            if entry.node.is_folder:
                raise NotAFile(f"{entry.path} is a folder; folders have no revisions")
            return await tree.revisions(conn, entry.node.id, limit)

    async def open(self, who: Principal, path: str, rev: int | None = None) -> Opened:
        """A file's revision (the current one unless *rev*) and its blocks."""
        async with self.db.read() as conn:
            entry, _ = await self.resolve(conn, who, path)
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
        in_transaction: InTransaction | None = None,
        executable: bool = False,
        parents: bool = True,
    ) -> Entry:
        """Store a stream as the newest revision of *path* (missing folders are
        made, unless not *parents*: then ParentNotFound); *in_transaction* runs
        in the commit's transaction (see `commit`)."""
        parts = paths.split_path(path)
        if not parts:
            raise NotAFile("/ is a folder, not a file")
        async with self.db.read() as conn:
            place = await self.place(conn, who, parts, write=True)
            existing = await self.check_target(conn, place, base_rev)
            if not parents:
                await self.parent(conn, who, place.owner, place.parts, 0, make=False)
        user = place.owner  # an upload into a share counts toward its owner's quota
        room = user.quota_bytes - user.used_bytes + (existing.size if existing else 0)
        if content_length is not None:
            self.check_size(content_length, room)
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
                mtime, upload_id=upload_id, in_transaction=in_transaction,
                executable=executable, parents=parents,
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
        executable: bool = False,
    ) -> Entry:
        """A new revision from blocks the caller already holds or has sent."""
        parts = paths.split_path(path)
        if not parts:
            raise NotAFile("/ is a folder, not a file")
        async with self.db.read() as conn:
            place = await self.place(conn, who, parts, write=True)
            await self.check_target(conn, place, base_rev)
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
        return await self.commit(who, parts, refs, size, content_hash(block_ids), base_rev, mtime,
                                 executable=executable)

    def check_size(self, size: int, room: int) -> None:
        """PayloadTooLarge past the file limit, QuotaExceeded past *room*."""
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

    async def check_target(
        self, conn: aiosqlite.Connection, place: Place, base_rev: int | None
    ) -> Node | None:
        """The file that a write to *place* would replace (None if new); raise if
        a file or folder is in the way, or if *base_rev* is not the current rev.

        base_rev 0 means "I expect no file there".
        """
        parts = place.parts
        if not parts:
            raise NotAFile("/ is a folder, not a file")
        nodes, matched = await tree.walk(conn, place.owner.root_id, parts)
        existing: Node | None = None
        if matched == len(parts):
            existing = nodes[-1]
            if existing.is_folder:
                raise NotAFile(f"{place.path} is a folder, not a file")
        elif not nodes[-1].is_folder:
            raise NotAFolder(f"{place.show(parts[:matched])} is a file, not a folder")
        current = (existing.current_rev or 0) if existing else 0
        if base_rev is not None and base_rev != current:
            raise RevisionConflict(
                f"{place.path} is at revision {current}, not {base_rev}",
                current_rev=current,
            )
        return existing

    async def ensure_folders(
        self, conn: aiosqlite.Connection, who: Principal, user: User, parts: Sequence[str],
        now: int,
    ) -> Node:
        """The folder at *parts* of *user*'s tree, creating what is missing (each
        creation journaled, for everyone who can see it)."""
        nodes, matched = await tree.walk(conn, user.root_id, parts)
        if matched < len(parts) and not nodes[-1].is_folder:
            raise NotAFolder(f"{_path(parts[:matched])} is a file, not a folder")
        if matched == len(parts) and not nodes[-1].is_folder:
            raise NotAFolder(f"{_path(parts)} is a file, not a folder")
        folder = nodes[-1]
        for depth in range(matched, len(parts)):
            node_id = await tree.insert_node(conn, user.id, folder.id, parts[depth], "folder", now)
            await sharesq.journal_all(
                conn, owner_id=user.id, node_id=node_id, op="mkdir", kind="folder",
                parts=parts[: depth + 1], now=now, device_id=who.device_id,
                actor_id=who.user_id,
            )
            new = await tree.node_by_id(conn, node_id)
            assert new is not None
            folder = new
        return folder

    async def parent(
        self, conn: aiosqlite.Connection, who: Principal, user: User, parts: Sequence[str],
        now: int, *, make: bool,
    ) -> Node:
        """The folder that holds *parts*: made if missing when *make*, else
        ParentNotFound (WebDAV's rule: a write never makes folders)."""
        if make:
            return await self.ensure_folders(conn, who, user, parts[:-1], now)
        nodes, matched = await tree.walk(conn, user.root_id, parts[:-1])
        if matched < len(parts) - 1 or not nodes[-1].is_folder:
            raise ParentNotFound(f"{_path(parts[:-1])} is not a folder that exists; make it"
                                 " first", path=_path(parts[:-1]))
        return nodes[-1]

    async def replace(
        self, conn: aiosqlite.Connection, who: Principal, there: Place, now: int, *,
        overwrite: bool, keep: str,
    ) -> bool:
        """Clear the way for a move or copy to *there*: AlreadyExists if something
        is there, unless *overwrite*: then it goes to the trash (True).

        *keep* is the caller's path of what is moved or copied: what holds it
        cannot be replaced by it."""
        nodes, matched = await tree.walk(conn, there.owner.root_id, there.parts)
        if matched < len(there.parts):
            return False
        if not overwrite:
            raise AlreadyExists(f"{there.path} already exists", path=there.path)
        if there.is_share_root:
            raise Forbidden("a share's own folder cannot be replaced; leave the share instead")
        if paths.is_within(keep, there.path):
            raise BadRequest(f"{there.path} holds what is moved or copied; it cannot be"
                             " replaced by it")
        victim = nodes[-1]
        seen_by = await sharesq.covering(conn, victim.id)
        await trashq.mark_trashed(conn, victim.id, _path(there.parts), who.user_id, now)
        await sharesq.journal_all(
            conn, owner_id=there.owner.id, node_id=victim.id, op="delete", kind=victim.kind,
            parts=there.parts, now=now, device_id=who.device_id, actor_id=who.user_id,
            before=seen_by,
        )
        return True

    async def commit(
        self, who: Principal, parts: list[str], refs: Sequence[BlockRef], size: int,
        digest: bytes, base_rev: int | None, mtime: int | None, *, upload_id: int | None = None,
        expect_node_id: int | None = None, in_transaction: InTransaction | None = None,
        reason: str | None = None, executable: bool = False, parents: bool = True,
    ) -> Entry:
        """Record durable blocks as the newest revision of *parts*, in one transaction.

        *upload_id* is the streamed upload whose pins the revision replaces;
        *in_transaction* runs inside the same transaction, after the revision
        is written (a resumable upload marks itself done there).
        """
        now = self.clock.now_ms()
        async with self.db.write() as conn:
            place = await self.place(conn, who, parts, write=True)
            user = place.owner
            existing = await self.check_target(conn, place, base_rev)
            if expect_node_id is not None and (existing is None or existing.id != expect_node_id):
                raise RevisionConflict(f"{place.path} changed while it was being restored")
            old_size = existing.size if existing else 0
            if size > old_size:
                self.check_size(size, user.quota_bytes - user.used_bytes + old_size)
            if existing is None:
                parent = await self.parent(conn, who, user, place.parts, now, make=parents)
                node_id = await tree.insert_node(
                    conn, user.id, parent.id, place.parts[-1], "file", now
                )
            else:
                node_id = existing.id
            await tree.insert_blocks(conn, refs, now)
            rev = await tree.add_revision(
                conn, node_id=node_id, size=size, content_hash=digest,
                mtime=now if mtime is None else mtime, now=now, author_id=who.user_id,
                device_id=who.device_id, device_name=who.device_name,
                block_ids=[r.id for r in refs], block_sizes=[r.size for r in refs],
                executable=executable,
            )
            await tree.forget_uploaded_blocks(conn, who.user_id, [r.id for r in refs])
            if upload_id is not None:
                # The revision now holds the blocks: the pins can go, in the
                # same transaction, so there is no moment without a reference.
                await gcq.close_upload(conn, upload_id)
            await uq.add_usage(conn, user.id, size - old_size)
            await sharesq.journal_all(
                conn, owner_id=user.id, node_id=node_id, op="modify" if existing else "add",
                kind="file", parts=place.parts, rev=rev, now=now, device_id=who.device_id,
                actor_id=who.user_id, reason=reason,
            )
            if in_transaction is not None:
                await in_transaction(conn, place.path, rev)
            node = await tree.node_by_id(conn, node_id)
        assert node is not None
        return Entry(place.path, node)

    async def restore_revision(self, who: Principal, path: str, rev: int) -> Entry:
        """Make an old revision's content the newest revision (history is kept)."""
        async with self.db.read() as conn:
            entry, _ = await self.resolve(conn, who, path, write=True)
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
            entry.node.current_rev, None, expect_node_id=entry.node.id, reason="restored",
            executable=old.executable,
        )

    async def pin_revision(self, who: Principal, path: str, rev: int, pinned: bool) -> Revision:
        """Keep a revision for ever (retention skips it), or stop keeping it."""
        async with self.db.write() as conn:
            entry, _ = await self.resolve(conn, who, path, write=True)
            if entry.node.is_folder or not await tree.set_pinned(conn, entry.node.id, rev, pinned):
                raise RevisionNotFound(f"{entry.path} has no revision {rev}", rev=rev)
            found = await tree.revision(conn, entry.node.id, rev)
        assert found is not None
        return found

    # -- tree operations -----------------------------------------------------------------

    async def mkdir(self, who: Principal, path: str, *, parents: bool = True) -> Entry:
        """Make a folder (and its missing parents, unless not *parents*)."""
        parts = paths.split_path(path)
        if not parts:
            raise AlreadyExists("/ already exists")
        async with self.db.write() as conn:
            place = await self.place(conn, who, parts, write=True)
            _, matched = await tree.walk(conn, place.owner.root_id, place.parts)
            if matched == len(place.parts):
                raise AlreadyExists(f"{place.path} already exists", path=place.path)
            now = self.clock.now_ms()
            if not parents:
                await self.parent(conn, who, place.owner, place.parts, now, make=False)
            folder = await self.ensure_folders(conn, who, place.owner, place.parts, now)
        return Entry(place.path, folder)

    async def move(
        self, who: Principal, src: str, dst: str, *, base_rev: int | None = None,
        parents: bool = True, overwrite: bool = False,
    ) -> Entry:
        """Move or rename a file or folder; missing parents of *dst* are made
        (unless not *parents*); what is at *dst* goes to the trash if
        *overwrite* (else AlreadyExists).

        With *base_rev*, only a file at that revision moves (`check_rev`)."""
        src_parts, dst_parts = paths.split_path(src), paths.split_path(dst)
        if not src_parts or not dst_parts:
            raise BadRequest("the root folder cannot be moved or replaced")
        now = self.clock.now_ms()
        async with self.db.write() as conn:
            source, here = await self.resolve(conn, who, src, write=True)
            check_rev(source, base_rev)
            if src_parts == dst_parts:
                return source
            there = await self.place(conn, who, dst_parts, write=True)
            if here.is_share_root or there.is_share_root:
                raise Forbidden("a share's own folder cannot be moved or replaced; to stop"
                                " seeing it, leave the share")
            if not here.same_space(there):
                raise BadRequest("cannot move between your files and a share, or between"
                                 " shares; copy instead")
            if paths.is_within(there.path, source.path):
                raise BadRequest(f"cannot move {source.path} into itself")
            parent = await self.parent(conn, who, there.owner, there.parts, now, make=parents)
            await self.replace(conn, who, there, now, overwrite=overwrite, keep=source.path)
            seen_by = await sharesq.covering(conn, source.node.id)
            await tree.rename_node(conn, source.node.id, parent.id, there.parts[-1], now)
            await sharesq.journal_all(
                conn, owner_id=there.owner.id, node_id=source.node.id, op="move",
                kind=source.node.kind, parts=there.parts, old_parts=here.parts,
                rev=source.node.current_rev, now=now, device_id=who.device_id,
                actor_id=who.user_id, before=seen_by,
            )
            node = await tree.node_by_id(conn, source.node.id)
        assert node is not None
        return Entry(there.path, node)

    async def copy(
        self, who: Principal, src: str, dst: str, *, parents: bool = True,
        overwrite: bool = False, depth0: bool = False,
    ) -> Entry:
        """Copy a file or a folder tree; copies share blocks, no content is copied.

        *parents* and *overwrite* as for `move`; *depth0* copies a folder
        without what it holds (WebDAV's COPY with Depth: 0)."""
        dst_parts = paths.split_path(dst)
        if not dst_parts:
            raise AlreadyExists("/ already exists")
        now = self.clock.now_ms()
        async with self.db.write() as conn:
            source, _ = await self.resolve(conn, who, src)
            there = await self.place(conn, who, dst_parts, write=True)
            if paths.is_within(there.path, source.path):
                raise BadRequest(f"cannot copy {source.path} into itself")
            user = there.owner  # the copy is theirs, and counts toward their quota
            parent = await self.parent(conn, who, user, there.parts, now, make=parents)
            await self.replace(conn, who, there, now, overwrite=overwrite, keep=source.path)
            items = await tree.subtree(conn, source.node.id)
            if depth0:
                items = items[:1]
            added = sum(n.size for n, _ in items if not n.is_folder)
            if added > user.quota_bytes - user.used_bytes:
                raise QuotaExceeded(
                    f"the copy needs {added} bytes but only "
                    f"{max(user.quota_bytes - user.used_bytes, 0)} are left in the quota"
                )
            new_ids: dict[str, int] = {}
            for node, rel in items:
                target = [*there.parts, *paths.split_path(rel or "/")]
                under = parent.id if rel == "" else new_ids[rel.rsplit("/", 1)[0]]
                name = there.parts[-1] if rel == "" else node.name
                new_id = await tree.insert_node(conn, user.id, under, name, node.kind, now)
                new_ids[rel] = new_id
                rev = None
                if not node.is_folder:
                    source_rev = await tree.revision_id(conn, node.id, node.current_rev or 0)
                    assert source_rev is not None
                    rev = await tree.copy_revision(
                        conn, source_rev, new_id, now, who.user_id, who.device_id,
                        who.device_name,
                    )
                await sharesq.journal_all(
                    conn, owner_id=user.id, node_id=new_id,
                    op="mkdir" if node.is_folder else "add", kind=node.kind,
                    parts=target, rev=rev, now=now, device_id=who.device_id,
                    actor_id=who.user_id, notify=rel == "", reason="added",
                )
            await propsq.copy(conn, [(node.id, new_ids[rel]) for node, rel in items])
            await uq.add_usage(conn, user.id, added)
            copied = await tree.node_by_id(conn, new_ids[""])
        assert copied is not None
        return Entry(there.path, copied)

    async def delete(
        self, who: Principal, path: str, *, base_rev: int | None = None,
        base_cursor: int | None = None,
    ) -> Entry:
        """Move a file or folder to the trash (it still counts toward the quota).

        With *base_rev*, only a file at that revision goes (`check_rev`): a
        sync client deletes what it saw, and an edit made meanwhile wins.
        With *base_cursor* (a change-feed cursor), it goes only if nothing
        at its path or under it changed after that cursor
        (`check_unchanged_since`): a folder deleted on a stale view must not
        take along a file another device has just put or edited in it."""
        if not paths.split_path(path):
            raise BadRequest("the root folder cannot be deleted")
        now = self.clock.now_ms()
        async with self.db.write() as conn:
            entry, place = await self.resolve(conn, who, path, write=True)
            check_rev(entry, base_rev)
            if place.is_share_root:
                raise Forbidden("a share's own folder cannot be deleted by whom it is shared"
                                " with; leave the share instead")
            if base_cursor is not None:
                # in the delete's own transaction: no change can slip in between
                await check_unchanged_since(conn, who, entry.path, base_cursor)
            # Who sees it must be known before it goes: a trashed share is nobody's.
            seen_by = await sharesq.covering(conn, entry.node.id)
            # It goes to its owner's trash, marked with who deleted it.
            await trashq.mark_trashed(conn, entry.node.id, _path(place.parts), who.user_id, now)
            await sharesq.journal_all(
                conn, owner_id=place.owner.id, node_id=entry.node.id, op="delete",
                kind=entry.node.kind, parts=place.parts, now=now, device_id=who.device_id,
                actor_id=who.user_id, before=seen_by,
            )
        return entry


def check_rev(entry: Entry, base_rev: int | None) -> None:
    """For a move or delete guarded by *base_rev*: the entry must be a file at
    that revision (RevisionConflict with current_rev), not a folder (NotAFile)."""
    if base_rev is None:
        return
    if entry.node.is_folder:
        raise NotAFile(f"{entry.path} is a folder; base_rev is for files only", path=entry.path)
    current = entry.node.current_rev or 0
    if current != base_rev:
        raise RevisionConflict(
            f"{entry.path} is at revision {current}, not {base_rev}", current_rev=current
        )


async def check_unchanged_since(
    conn: aiosqlite.Connection, who: Principal, path: str, cursor: int
) -> None:
    """ChangedSinceCursor unless the journal shows no change of *who*'s at
    *path* (their path), under it, or to a folder above it after *cursor*.

    A cursor the journal cannot answer for fails too, on the safe side: one
    below what was pruned (the changes after it are partly gone) or past the
    newest seq (a server restored from an older backup)."""
    floor = await changesq.floor(conn)
    top = max(await changesq.latest_seq(conn), floor)
    if not floor <= cursor <= top:
        raise ChangedSinceCursor(
            f"cursor {cursor} is not one the change feed holds now (it keeps {floor} to"
            f" {top}); catch up with the feed and try again", path=path)
    changed = await changesq.first_change_under(conn, who.user_id, path, cursor)
    if changed is not None:
        raise ChangedSinceCursor(
            f"{changed} changed after cursor {cursor}; catch up with the change feed and"
            " decide again", path=changed)


_path = paths.join_parts
