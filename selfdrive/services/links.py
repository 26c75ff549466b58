"""Public links: a URL that opens one file or folder to whoever holds it.

Terms: a *link* names a node by id (so it follows renames and moves) and works
with the rights of its *creator*, the node's owner or an editor of a share
that holds it; it stops working the moment the creator loses that right, the
node goes to the trash, or the link is revoked (404), expires or is used up
(410).  A *visitor* is whoever opens the URL, with no account.  A *file drop*
is a folder link with ``allow_upload``: visitors may only add files to it,
stored with the owner's rights and quota, never replacing anything, and
they see nothing of what is there.

A password-protected link needs the password on every request, either in
``X-Link-Password`` or as a *grant*: the proof that the password was given
once (the page's form), an HMAC over the link and an expiry, kept in a
cookie.  Wrong passwords are counted per link in this process's memory
(services/attempts.py); after `MAX_FAILURES` in `FAILURE_WINDOW_S` every password is
refused with 429 until the oldest of them leaves the window.

Inside a folder link a visitor names things by *link paths*: paths below
the linked folder (``/`` is the folder itself, ``/Trip/day1.jpg`` a file two
levels down), resolved name by name from the linked node, so no path can
name anything above it.  A file drop takes resumable (tus) uploads through
the upload service, as the owner, each bound to its link's folder; a
visitor learns nothing of what the folder holds, not even the name a file
was stored under.

The rules a visitor meets are in docs/links.md.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import aiosqlite

from selfdrive.core import paths
from selfdrive.core.clock import Clock
from selfdrive.core.conflicts import numbered_name
from selfdrive.core.errors import (
    AlreadyExists,
    BadRequest,
    Forbidden,
    InvalidPath,
    LinkGone,
    NotAFile,
    NotAFolder,
    NotFound,
    ParentNotFound,
    QuotaExceeded,
    RevisionConflict,
    TooManyUploads,
    Unauthenticated,
)
from selfdrive.services.attempts import Attempts
from selfdrive.services.auth import AuthService, Principal
from selfdrive.services.files import Entry, FileService, Opened
from selfdrive.services.uploads import Checksum, Upload, UploadService
from selfdrive.store.meta import links as q
from selfdrive.store.meta import shares as sharesq
from selfdrive.store.meta import tree
from selfdrive.store.meta import uploads as uploadsq
from selfdrive.store.meta import users as uq
from selfdrive.store.meta.db import Database
from selfdrive.store.meta.links import Link
from selfdrive.store.meta.records import Node, User

_T = TypeVar("_T")

#: 192 random bits, 32 URL-safe characters
TOKEN_BYTES = 24
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{22,86}$")
#: a grant (the password given once, in a cookie) lasts this long at most
GRANT_TTL_MS = 12 * 3600 * 1000
MAX_FAILURES = 5
FAILURE_WINDOW_S = 15 * 60
MAX_PASSWORD = 1024
#: "name (2).ext" ... "name (999).ext", then a file drop gives up
MAX_NUMBERED = 999

#: entries of a folder shown on a link's page; past it, the zip has them all
MAX_LISTED = 2000

_UNKNOWN = "this link does not exist, was revoked, or its file is no longer available"
_DROP_ONLY = "this link is a file drop: it takes uploads only"
_NO_UPLOAD = "no such upload (it may have expired, been cancelled, or the link changed)"


@dataclass(frozen=True)
class LinkView:
    """A link as its creator sees it in the API."""

    link: Link
    #: the node's path as the creator sees it; None if it is in the trash or
    #: the creator may no longer share it
    path: str | None
    kind: str
    state: str  # "active" | "expired" | "used_up" | "unavailable"


@dataclass(frozen=True)
class Visit:
    """A live link being opened: its node and where that is in its owner's tree."""

    link: Link
    node: Node
    owner: User
    #: the node's path parts in the owner's tree
    parts: list[str]
    #: the node's path as the creator sees it
    shown: str

    @property
    def is_drop(self) -> bool:
        return self.link.allow_upload


@dataclass(frozen=True)
class Summary:
    """What the link's page tells about its node."""

    name: str
    kind: str
    size: int
    files: int = 0
    folders: int = 0


@dataclass(frozen=True)
class Inside:
    """A node a visitor reached below a link: *rel* is its link path's parts
    ([] for the linked node itself)."""

    node: Node
    rel: list[str]

    @property
    def path(self) -> str:
        return paths.join_parts(self.rel)


@dataclass(frozen=True)
class ZipItem:
    """One entry of a folder's zip: its path under the folder ("a/b.txt"), and
    for a file its current revision, ready to read."""

    rel: str
    node: Node
    opened: Opened | None


class LinkService:
    def __init__(self, db: Database, files: FileService, auth: AuthService, clock: Clock,
                 grant_key: bytes) -> None:
        self.db = db
        self.files = files
        self.auth = auth
        self.clock = clock
        self.attempts = Attempts(clock, MAX_FAILURES, FAILURE_WINDOW_S, "this link")
        self._grant_key = grant_key

    # -- the creator's side (the API) --------------------------------------------------

    async def create(
        self, who: Principal, path: str, *, password: str | None, expires_at: int | None,
        allow_upload: bool, max_downloads: int | None,
    ) -> LinkView:
        if expires_at is not None and expires_at <= self.clock.now_ms():
            raise BadRequest("expires_at is in the past", expires_at=expires_at)
        if max_downloads is not None and max_downloads < 1:
            raise BadRequest("max_downloads must be at least 1")
        if allow_upload and max_downloads is not None:
            raise BadRequest("a file drop (allow_upload) has no downloads to limit")
        password_hash = None
        if password is not None:
            if len(password) > MAX_PASSWORD:
                raise BadRequest(f"a link password may be at most {MAX_PASSWORD} characters")
            password_hash = await self.auth.hash_password(password)
        async with self.db.write() as conn:
            entry, place = await self.files.resolve(conn, who, path)
            if place.role not in ("owner", "editor"):
                raise Forbidden(f"{entry.path} is shared with you to view only; only its owner"
                                " or an editor can make a public link to it")
            if not place.parts:
                raise BadRequest("your whole tree cannot be linked; link a folder in it")
            if allow_upload and not entry.node.is_folder:
                raise BadRequest("only a folder can be a file drop (allow_upload)")
            link_id = await q.insert(
                conn, token=secrets.token_urlsafe(TOKEN_BYTES), node_id=entry.node.id,
                owner_id=place.owner.id, creator_id=who.user_id, password_hash=password_hash,
                expires_at=expires_at, allow_upload=allow_upload, max_downloads=max_downloads,
                now=self.clock.now_ms(),
            )
            link = await q.by_id(conn, link_id)
        assert link is not None
        return LinkView(link, entry.path, entry.node.kind, self._state(link, live=True))

    async def list_mine(self, who: Principal) -> list[LinkView]:
        """The links *who* made, dead ones too (so they can be seen and revoked)."""
        out = []
        async with self.db.read() as conn:
            for link in await q.of_creator(conn, who.user_id):
                visit = await self._live(conn, link)
                node = visit.node if visit else await tree.node_by_id(conn, link.node_id)
                kind = node.kind if node else "file"
                out.append(LinkView(link, visit.shown if visit else None, kind,
                                    self._state(link, live=visit is not None)))
        return out

    async def revoke(self, who: Principal, link_id: int) -> None:
        async with self.db.write() as conn:
            if not await q.delete(conn, who.user_id, link_id):
                raise NotFound(f"you have no link {link_id}")

    def _state(self, link: Link, *, live: bool) -> str:
        if not live:
            return "unavailable"
        if link.expires_at is not None and self.clock.now_ms() >= link.expires_at:
            return "expired"
        if link.max_downloads is not None and link.downloads >= link.max_downloads:
            return "used_up"
        return "active"

    async def _live(self, conn: aiosqlite.Connection, link: Link) -> Visit | None:
        """The link's node, if it is live and its creator may still share it."""
        parts = await sharesq.node_path(conn, link.node_id)
        node = await tree.node_by_id(conn, link.node_id)
        owner = await uq.user_by_id(conn, link.owner_id)
        if parts is None or node is None or owner is None or not parts:
            return None
        if owner.disabled_at is not None:  # a disabled account's links rest with it
            return None
        shown = paths.join_parts(parts)
        if link.creator_id != link.owner_id:
            creator = await uq.user_by_id(conn, link.creator_id)
            if creator is None or creator.disabled_at is not None:
                return None
            share = await q.received_share(conn, link.node_id, link.creator_id)
            share_parts = None if share is None else await sharesq.node_path(
                conn, share.share_node_id)
            if share is None or share.role != "editor" or share_parts is None:
                return None
            shown = sharesq.Cover(link.creator_id, share.mount_name, share_parts).path_of(parts)
        return Visit(link, node, owner, parts, shown)

    # -- the visitor's side ---------------------------------------------------------------

    async def visit(self, token: str) -> Visit:
        """The live link for *token*: NotFound (unknown, revoked, trashed) or
        LinkGone (expired, used up)."""
        if not _TOKEN.match(token):
            raise NotFound(_UNKNOWN)
        async with self.db.read() as conn:
            link = await q.by_token(conn, token)
            visit = None if link is None else await self._live(conn, link)
        if visit is None:
            raise NotFound(_UNKNOWN)
        state = self._state(visit.link, live=True)
        if state == "expired":
            raise LinkGone("this link has expired")
        if state == "used_up":
            raise LinkGone("this link has been used as many times as it may be")
        return visit

    def needs_password(self, visit: Visit, grant: str | None) -> bool:
        return visit.link.password_hash is not None and not self._grant_ok(visit.link, grant)

    async def authorize(self, visit: Visit, *, password: str | None, grant: str | None) -> None:
        """Pass if the link has no password, or the grant or password is right."""
        if not self.needs_password(visit, grant):
            return
        if password is None:
            raise Unauthenticated(
                "this link needs its password: send X-Link-Password, or open the link's page",
                password_required=True,
            )
        await self.prove(visit, password)

    async def prove(self, visit: Visit, password: str) -> tuple[str, int]:
        """Check a visitor's password: a new grant and its lifetime (s), or
        Unauthenticated; TooManyAttempts after too many wrong ones."""
        link = visit.link
        if link.password_hash is None:
            return self.grant(link)
        stamp = self.attempts.begin(link.id)
        ok = len(password) <= MAX_PASSWORD and await self.auth.verify_password(
            link.password_hash, password)
        if not ok:
            raise Unauthenticated("wrong password for this link", password_required=True)
        self.attempts.forgive(link.id, stamp)
        return self.grant(link)

    def grant(self, link: Link) -> tuple[str, int]:
        now = self.clock.now_ms()
        expires = now + GRANT_TTL_MS
        if link.expires_at is not None:
            expires = min(expires, link.expires_at)
        return f"{expires}.{self._mac(link, expires)}", max(1, (expires - now) // 1000)

    def _mac(self, link: Link, expires: int) -> str:
        message = "\0".join(["selfdrive link grant 1", str(link.id), link.token,
                             link.password_hash or "", str(expires)])
        digest = hmac.new(self._grant_key, message.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def _grant_ok(self, link: Link, grant: str | None) -> bool:
        if not grant:
            return False
        expires, _, mac = grant.partition(".")
        if not (expires.isascii() and expires.isdigit() and len(expires) <= 16):
            return False
        if int(expires) <= self.clock.now_ms():
            return False
        return hmac.compare_digest(mac.encode(), self._mac(link, int(expires)).encode())

    async def summary(self, visit: Visit) -> Summary:
        node = visit.node
        if not node.is_folder:
            return Summary(node.name, "file", node.size)
        if visit.is_drop:  # a file drop tells nothing of what it holds
            return Summary(node.name, "folder", 0)
        async with self.db.read() as conn:
            files, folders, size = await q.folder_stats(conn, node.id)
        return Summary(node.name, "folder", size, files, folders)

    async def inside(self, visit: Visit, path: str | None) -> Inside:
        """The node at link path *path* (None: the linked node): InvalidPath for
        a path that is not one (relative, ``..``), NotFound for one that names
        nothing below the link.  A file link has nothing below its file."""
        if visit.is_drop:
            raise Forbidden(_DROP_ONLY)
        rel = paths.split_path(path or "/")
        async with self.db.read() as conn:
            node = await tree.node_by_id(conn, visit.node.id)
            for name in rel:
                if node is None or not node.is_folder:
                    node = None
                    break
                node = await tree.child(conn, node.id, name)
        if node is None:
            raise NotFound(f"{paths.join_parts(rel)} is not in this link's folder")
        return Inside(node, rel)

    async def listing(self, inside: Inside) -> tuple[list[Node], bool]:
        """A folder's entries, folders first, then by name; and whether there
        were more than `MAX_LISTED`."""
        async with self.db.read() as conn:
            nodes = await tree.children(conn, inside.node.id, limit=MAX_LISTED + 1)
        more = len(nodes) > MAX_LISTED
        nodes = nodes[:MAX_LISTED]
        nodes.sort(key=lambda n: (not n.is_folder, n.name.casefold(), n.name))
        return nodes, more

    async def start_download(self, visit: Visit) -> None:
        """Count one download, or LinkGone if they are used up."""
        if visit.is_drop:
            raise Forbidden(_DROP_ONLY)
        async with self.db.write() as conn:
            if not await q.count_download(conn, visit.link.id):
                if await q.by_id(conn, visit.link.id) is None:
                    raise NotFound(_UNKNOWN)
                raise LinkGone("this link has been used as many times as it may be")

    def check_preview(self, visit: Visit) -> None:
        """Previews are not counted as downloads, so a link that counts them
        has none: its file can only be downloaded (docs/links.md)."""
        if visit.link.max_downloads is not None:
            raise Forbidden("this link may be downloaded a limited number of times, so it"
                            " shows no preview; download the file instead")

    async def open_file(self, visit: Visit, inside: Inside | None = None) -> Opened:
        if visit.is_drop:
            raise Forbidden(_DROP_ONLY)
        rel = inside.rel if inside else []
        async with self.db.read() as conn:
            node = await tree.node_by_id(conn, inside.node.id if inside else visit.node.id)
            if node is not None and node.is_folder:
                raise NotAFile(f"{paths.join_parts(rel)} is a folder, not a file")
            opened = None if node is None else await self._opened(
                conn, visit, node, paths.join_parts(rel) if rel else "")
        if opened is None:
            raise NotFound(_UNKNOWN)
        return opened

    async def zip_items(self, visit: Visit, inside: Inside | None = None) -> list[ZipItem]:
        """Everything under a folder of the link (one snapshot), parents before children."""
        if visit.is_drop:
            raise Forbidden(_DROP_ONLY)
        top = inside.node.id if inside else visit.node.id
        base = paths.join_parts(inside.rel) if inside and inside.rel else ""
        items = []
        async with self.db.read() as conn:
            for node, rel in await tree.subtree(conn, top):
                if not rel:
                    continue  # the folder itself
                opened = None if node.is_folder else await self._opened(
                    conn, visit, node, base + rel)
                if node.is_folder or opened is not None:
                    items.append(ZipItem(rel.lstrip("/"), node, opened))
        return items

    async def _opened(
        self, conn: aiosqlite.Connection, visit: Visit, node: Node, rel: str
    ) -> Opened | None:
        revision = await tree.revision(conn, node.id, node.current_rev or 0)
        if revision is None:
            return None
        where = paths.join_parts(visit.parts) + rel
        return Opened(Entry(where, node), revision, await tree.extents(conn, revision.id))

    def read(self, opened: Opened) -> AsyncIterator[bytes]:
        return self.files.read(opened)

    async def drop(self, visit: Visit, name: str, body: AsyncIterator[bytes]) -> Entry:
        """Store one file dropped into a file-drop folder, beside what is there:
        "name (2).ext" if the name is taken.  Raises before reading *body* if
        the name is bad."""
        if not visit.is_drop:
            raise Forbidden("this link does not take uploads")
        free = await self._free_name(visit, name)
        # base_rev 0: if a file of that name appears meanwhile, 409, never a replacement.
        return await _for_visitor(self.files.upload(
            _as_owner(visit), paths.join_parts([*visit.parts, free]), body, base_rev=0,
            in_transaction=self._still_there(visit),
        ))

    def _still_there(self, visit: Visit) -> Callable[
            [aiosqlite.Connection, str, int], Awaitable[None]]:
        """A check for the transaction that commits a dropped file: a link
        revoked or a folder moved meanwhile undoes it, so nothing lands
        outside the folder."""
        link_id, parts = visit.link.id, visit.parts

        async def still_there(conn: aiosqlite.Connection, path: str, rev: int) -> None:
            current = await q.by_id(conn, link_id)
            live = None if current is None else await self._live(conn, current)
            if live is None:
                raise NotFound(_UNKNOWN)
            if live.parts != parts:
                raise RevisionConflict("the folder was moved during the upload; send it again")

        return still_there

    async def _free_name(self, visit: Visit, name: str) -> str:
        """*name* checked as a single name, or "name (2).ext"... if it is taken."""
        name = unicodedata.normalize("NFC", name)
        if "\\" in name:
            raise InvalidPath("a name may not contain '\\'")
        paths.check_name(name)
        async with self.db.read() as conn:
            for number in range(1, MAX_NUMBERED + 1):
                candidate = numbered_name(name, number)
                if await tree.child(conn, visit.node.id, candidate) is None:
                    return candidate
        raise AlreadyExists(f"too many files named {name!r} in this file drop")

    # -- file drops by tus (http/linkdrop.py) --------------------------------------------------

    async def begin_upload(self, visit: Visit, uploads: UploadService, name: str, length: int,
                           metadata: str) -> Upload:
        """A resumable upload of one file into a file drop, under a free name."""
        if not visit.is_drop:
            raise Forbidden("this link does not take uploads")
        for _attempt in range(3):
            free = await self._free_name(visit, name)
            try:
                return await _for_visitor(uploads.create(
                    _as_owner(visit), paths.join_parts([*visit.parts, free]), length,
                    base_rev=0, metadata=metadata, link_id=visit.link.id))
            except (RevisionConflict, NotAFile):
                continue  # the name was taken meanwhile: the next one
        raise RevisionConflict("files of that name keep arriving; send it again")

    async def drop_upload(self, visit: Visit, uploads: UploadService, token: str) -> Upload:
        """An upload of this drop: the owner's, into the linked folder as it is now."""
        if not visit.is_drop:
            raise Forbidden("this link does not take uploads")
        async with self.db.read() as conn:
            row = await uploadsq.by_token(conn, token)
        # A drop's uploads are the owner's, made by no device of theirs (the
        # owner's own have one) through this link, for a file in the folder as
        # it is now.  (link_id is None: made before migration 0017.)
        if (row is None or row.user_id != visit.owner.id or row.device_id is not None
                or row.link_id not in (None, visit.link.id)
                or paths.split_path(row.path)[:-1] != visit.parts):
            raise NotFound(_NO_UPLOAD)
        return await uploads.status(_as_owner(visit), token)

    async def send(self, visit: Visit, uploads: UploadService, token: str, offset: int,
                   body: AsyncIterator[bytes], *, content_length: int | None,
                   checksum: Checksum | None) -> Upload:
        await self.drop_upload(visit, uploads, token)
        return await _for_visitor(uploads.patch(
            _as_owner(visit), token, offset, body, content_length=content_length,
            checksum=checksum, in_transaction=self._still_there(visit)))

    async def cancel_upload(self, visit: Visit, uploads: UploadService, token: str) -> None:
        await self.drop_upload(visit, uploads, token)
        await uploads.terminate(_as_owner(visit), token)


def _as_owner(visit: Visit) -> Principal:
    """Whom a file drop writes as: the folder's owner, from the device "link <id>"."""
    return Principal(user_id=visit.owner.id, username=visit.owner.name, is_admin=False,
                     device_id=None, device_name=f"link {visit.link.id}")


async def _for_visitor(work: Awaitable[_T]) -> _T:
    """Errors of a drop's write told without the owner's numbers or paths: a
    visitor learns neither how full the owner is nor where the folder is."""
    try:
        return await work
    except (NotAFile, NotAFolder, AlreadyExists, RevisionConflict, ParentNotFound) as exc:
        raise type(exc)("the folder changed while the file was on its way; send it"
                        " again") from None
    except NotFound:
        raise NotFound(_NO_UPLOAD) from None
    except QuotaExceeded:
        raise QuotaExceeded("the owner of this folder has no room left for this file") from None
    except TooManyUploads:
        raise TooManyUploads("this folder takes no more uploads at the moment; try again"
                             " later") from None
