"""Request and response types of the JSON API (msgspec Structs).

The OpenAPI document is generated from these types and the route table;
field docs below become the schema's descriptions.  Times are integer
milliseconds since the Unix epoch (UTC); hashes are lowercase hex.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

from selfdrive.services.activity import Activity
from selfdrive.services.files import Entry
from selfdrive.services.links import LinkView
from selfdrive.services.shares import ShareView
from selfdrive.store.meta.changes import Change
from selfdrive.store.meta.notifications import Notification
from selfdrive.store.meta.records import Device, Revision, User
from selfdrive.store.meta.trash import TrashEntry

Hex256 = Annotated[str, Meta(pattern="^[0-9a-f]{64}$", description="a 256-bit hash, hex")]
Millis = Annotated[int, Meta(description="milliseconds since the Unix epoch, UTC")]


# -- errors -------------------------------------------------------------------


class ErrorDetail(Struct):
    code: str
    message: str


class ErrorBody(Struct):
    error: ErrorDetail


# -- auth -----------------------------------------------------------------------


class TokenRequest(Struct, forbid_unknown_fields=True):
    username: str
    password: str
    device_name: str


class TokenCreated(Struct):
    token: str
    device_id: int


class DeviceOut(Struct):
    id: int
    name: str
    created_at: Millis
    last_seen_at: Millis
    #: the credential that made this call
    current: bool
    #: "device": a bearer token; "web": a browser's session (its cookie)
    kind: Literal["device", "web"]

    @classmethod
    def of(cls, device: Device, current_id: int | None) -> DeviceOut:
        kind: Literal["device", "web"] = "web" if device.kind == "web" else "device"
        return cls(device.id, device.name, device.created_at, device.last_seen_at,
                   device.id == current_id, kind)


class DeviceList(Struct):
    devices: list[DeviceOut]


class Me(Struct):
    username: str
    is_admin: bool
    quota_bytes: int
    used_bytes: int
    device_id: int | None


class LoginRequest(Struct, forbid_unknown_fields=True):
    username: str
    password: str


class SessionOut(Struct):
    #: the same as GET /me
    user: Me
    #: send it as X-CSRF-Token with every unsafe request (not GET, HEAD, OPTIONS)
    csrf_token: str


class LogoutAllRequest(Struct, forbid_unknown_fields=True):
    #: also revoke every device token (sync clients, scripts, WebDAV apps)
    devices: bool = False


# -- files ----------------------------------------------------------------------


class EntryOut(Struct):
    #: the node's id: a move or rename keeps it, a copy gets a new one;
    #: 0 for /Shared with me, which is no node
    id: int
    path: str
    name: str
    kind: Literal["file", "folder"]
    size: int
    modified: Millis
    rev: int | None = None
    content_hash: Hex256 | None = None
    mtime: Millis | None = None
    #: files: whether the current revision is executable
    executable: bool = False
    #: listings (the folder and /Shared with me's entries) and metadata: what the
    #: caller may do there: "owner" (their own), a share's "editor" or "viewer"
    #: (read only); /Shared with me itself is "viewer"; null in other answers
    role: Literal["owner", "editor", "viewer"] | None = None
    #: listings and metadata: whose it is, when it is not the caller's (shares)
    owner: str | None = None
    #: listings and metadata of the caller's own items: shared with someone
    shared: bool = False
    #: listings and metadata of the caller's own items: a public link that still works
    linked: bool = False

    @classmethod
    def of(cls, entry: Entry) -> EntryOut:
        n = entry.node
        marks = {"role": entry.role, "owner": entry.owner, "shared": entry.shared,
                 "linked": entry.linked}
        if n.is_folder:
            return cls(id=n.id, path=entry.path, name=n.name, kind="folder", size=0,
                       modified=n.modified_at, **marks)  # type: ignore[arg-type]
        return cls(
            id=n.id, path=entry.path, name=n.name, kind="file", size=n.size,
            modified=n.modified_at, rev=n.current_rev,
            content_hash=n.content_hash.hex() if n.content_hash else None, mtime=n.mtime,
            executable=n.executable, **marks,  # type: ignore[arg-type]
        )


class FolderListing(Struct):
    folder: EntryOut
    entries: list[EntryOut]
    #: pass as `after` to get the next page; null on the last page (a name,
    #: or with recursive=true a path)
    next_after: str | None = None


class FolderSizeOut(Struct):
    """What lies below a folder: live files only (not the trash), at any depth."""

    path: str
    #: the sizes of the current revisions of the files below, in bytes
    size: int
    #: the files below, at any depth
    files: int
    #: the folders below, at any depth (the folder itself not counted)
    folders: int


class UploadResult(Struct):
    entries: list[EntryOut]


class RevisionOut(Struct):
    rev: int
    size: int
    content_hash: Hex256
    modified: Millis
    mtime: Millis
    author: str | None
    device: str | None
    pinned: bool
    broken: bool = False
    executable: bool = False

    @classmethod
    def of(cls, r: Revision) -> RevisionOut:
        return cls(r.rev, r.size, r.content_hash.hex(), r.created_at, r.mtime, r.author,
                   r.device_name, r.pinned, r.broken, r.executable)


class RevisionList(Struct):
    path: str
    revisions: list[RevisionOut]


class PathBody(Struct, forbid_unknown_fields=True):
    path: str


class FromTo(Struct, forbid_unknown_fields=True):
    from_path: str
    to_path: str


class MoveRequest(Struct, forbid_unknown_fields=True):
    from_path: str
    to_path: str
    #: files only: move only if the file is at this revision (else 409 conflict)
    base_rev: Annotated[int, Meta(ge=1)] | None = None


class DeleteRequest(Struct, forbid_unknown_fields=True):
    path: str
    #: files only: delete only if the file is at this revision (else 409 conflict)
    base_rev: Annotated[int, Meta(ge=1)] | None = None
    #: delete only if nothing at the path, under it or above it changed after
    #: this change-feed cursor (else 409 changed_since_cursor)
    base_cursor: Annotated[str, Meta(
        pattern="^[0-9]{1,19}$",
        description="a change-feed cursor: delete only if nothing at the path, under it, or"
                    " a folder above it (moved) changed after it; else 409"
                    " changed_since_cursor, also for a cursor the feed no longer holds")
    ] | None = None


# -- blocks ------------------------------------------------------------------------


class MissingRequest(Struct, forbid_unknown_fields=True):
    hashes: list[Hex256]


class MissingResult(Struct):
    missing: list[Hex256]


class BlockOut(Struct):
    id: Hex256
    size: int


class BlockList(Struct):
    path: str
    rev: int
    size: int
    content_hash: Hex256
    blocks: list[BlockOut]
    executable: bool = False


class BlockQuery(Struct, forbid_unknown_fields=True):
    #: a block of yours to use as the zstd dictionary (with Accept-Encoding: zstd)
    base: Hex256 | None = None


class CommitRequest(Struct, forbid_unknown_fields=True):
    path: str
    blocks: list[Hex256]
    size: Annotated[int, Meta(ge=0)]
    base_rev: Annotated[int, Meta(ge=0)] | None = None
    mtime: Millis | None = None
    #: the new revision is executable (the x bit)
    executable: bool = False


class RestoreRequest(Struct, forbid_unknown_fields=True):
    path: str
    rev: Annotated[int, Meta(ge=1)]


class PinRequest(Struct, forbid_unknown_fields=True):
    path: str
    rev: Annotated[int, Meta(ge=1)]
    pinned: bool = True


class TrashEntryOut(Struct):
    id: int
    path: str
    name: str
    kind: Literal["file", "folder"]
    deleted_at: Millis
    deleted_by: str | None
    size: int
    #: when the trash's expiry deletes it for good ([maintenance] trash_retention_s)
    expires_at: Millis

    @classmethod
    def of(cls, e: TrashEntry, keep_ms: int) -> TrashEntryOut:
        return cls(e.id, e.path, e.name, e.kind, e.deleted_at, e.deleted_by,  # type: ignore[arg-type]
                   e.size, e.deleted_at + keep_ms)


class TrashList(Struct):
    entries: list[TrashEntryOut]


class TrashRestoreRequest(Struct, forbid_unknown_fields=True):
    id: int


class TrashPurgeRequest(Struct, forbid_unknown_fields=True):
    #: the entries to delete for good; omit and set all=true to empty the trash
    ids: list[int] | None = None
    all: bool = False


class TrashPurged(Struct):
    files: int
    bytes: int


class Health(Struct):
    status: str
    #: clients waiting in GET /changes/wait right now
    long_poll_waiters: int = 0


# -- query strings ---------------------------------------------------------------------


class PathQuery(Struct, forbid_unknown_fields=True):
    path: str


class ListQuery(Struct, forbid_unknown_fields=True):
    path: str = "/"
    limit: Annotated[int, Meta(ge=1, le=10_000)] = 10_000
    #: a name; with recursive=true a path inside the folder
    after: str | None = None
    #: every entry at any depth, in path-segment order
    recursive: bool = False


class ContentQuery(Struct, forbid_unknown_fields=True):
    path: str
    rev: Annotated[int, Meta(ge=1)] | None = None


class ThumbnailQuery(Struct, forbid_unknown_fields=True):
    path: str
    #: the thumbnail's longest edge, in pixels (a smaller picture is not enlarged)
    size: Literal[64, 256, 1024] = 256
    #: the revision to show; the current one if absent
    rev: Annotated[int, Meta(ge=1)] | None = None


class ZipQuery(Struct, forbid_unknown_fields=True):
    #: the folder whose entries are zipped
    path: str = "/"
    #: the entries of the folder to zip, joined by '/' (a name never holds one);
    #: folders go in with all they hold; absent: the whole folder
    names: str | None = None


class SearchQuery(Struct, forbid_unknown_fields=True):
    #: what names must contain, case- and accent-insensitively
    q: Annotated[str, Meta(min_length=1, max_length=255)]
    #: the folder searched, at any depth below it
    path: str = "/"
    limit: Annotated[int, Meta(ge=1, le=1000)] = 100
    #: a path: the next_after of the previous page
    after: str | None = None


class UploadQuery(Struct, forbid_unknown_fields=True):
    path: str
    base_rev: Annotated[int, Meta(ge=0)] | None = None
    mtime: Millis | None = None
    executable: bool = False


class UploadTypeQuery(Struct, forbid_unknown_fields=True):
    uploadType: Literal["media", "multipart", "resumable"]
    #: the file (media) or folder (multipart); resumable takes it in the JSON body
    path: str | None = None
    base_rev: Annotated[int, Meta(ge=0)] | None = None
    mtime: Millis | None = None
    #: media only
    executable: bool = False


class ResumableRequest(Struct, forbid_unknown_fields=True):
    """Start a resumable upload (then PATCH the returned upload_url, tus 1.0)."""

    path: str
    size: Annotated[int, Meta(ge=0)]
    #: the revision this upload replaces (0: expect no file); checked at completion
    base_rev: Annotated[int, Meta(ge=0)] | None = None
    mtime: Millis | None = None
    executable: bool = False


class UploadOut(Struct):
    """A resumable upload."""

    upload_url: str
    path: str
    length: int
    #: bytes the server holds durably; PATCH from here
    offset: int
    #: an unfinished upload is removed at this time unless more bytes arrive
    expires: Millis
    done: bool
    #: where the file was committed: `path`, or a conflict copy beside it
    committed_path: str | None = None
    rev: int | None = None
    #: true if the file had changed since base_rev and a conflict copy was made
    conflict: bool = False


# -- sharing -------------------------------------------------------------------------


class ShareRequest(Struct, forbid_unknown_fields=True):
    path: str
    #: the username to share with
    user: str
    role: Literal["viewer", "editor"]


class RoleRequest(Struct, forbid_unknown_fields=True):
    role: Literal["viewer", "editor"]


class ShareOut(Struct):
    id: int
    #: as you see it: your path (shares you made), or /Shared with me/<name>
    path: str
    kind: Literal["file", "folder"]
    owner: str
    user: str
    role: Literal["viewer", "editor"]
    created_at: Millis

    @classmethod
    def of(cls, v: ShareView) -> ShareOut:
        s = v.share
        return cls(s.id, v.path, v.kind, s.owner, s.recipient, s.role, s.created_at)  # type: ignore[arg-type]


class ShareList(Struct):
    shared_by_me: list[ShareOut]
    shared_with_me: list[ShareOut]


class UsersQuery(Struct, forbid_unknown_fields=True):
    #: the start of a username, any case
    q: Annotated[str, Meta(min_length=1, max_length=64)]
    limit: Annotated[int, Meta(ge=1, le=20)] = 10


class UserSuggestion(Struct):
    username: str


class UserSuggestions(Struct):
    #: people you share with (either way) first, then by name; never you
    users: list[UserSuggestion]


# -- notifications -------------------------------------------------------------------


class NotificationsQuery(Struct, forbid_unknown_fields=True):
    limit: Annotated[int, Meta(ge=1, le=500)] = 50
    offset: Annotated[int, Meta(ge=0)] = 0


class NotificationOut(Struct):
    id: int
    kind: Literal["shared", "added", "edited", "deleted", "restored", "moved"]
    #: who did it
    by: str | None
    #: the path as you see it
    path: str
    #: how many times it happened in a burst (one minute apart at most)
    count: int
    created_at: Millis
    updated_at: Millis
    read: bool

    @classmethod
    def of(cls, n: Notification) -> NotificationOut:
        return cls(n.id, n.kind, n.actor, n.path, n.count, n.created_at, n.updated_at,  # type: ignore[arg-type]
                   n.read)


class NotificationList(Struct):
    #: unread first, newest first
    notifications: list[NotificationOut]
    unread: int


class MarkRead(Struct, forbid_unknown_fields=True):
    ids: list[int] | None = None
    all: bool = False


class MarkedRead(Struct):
    marked: int


# -- the change feed -----------------------------------------------------------------

Cursor = Annotated[str, Meta(pattern="^[0-9]{1,19}$", description="an opaque change-feed cursor")]


class ChangesQuery(Struct, forbid_unknown_fields=True):
    cursor: Cursor
    limit: Annotated[int, Meta(ge=1, le=2000)] = 500


class WaitQuery(Struct, forbid_unknown_fields=True):
    cursor: Cursor
    #: seconds to wait at most (1-120)
    timeout: Annotated[float, Meta(ge=1, le=120)] = 30


class ChangeOut(Struct):
    #: the node's id, as in entries: a move keeps it, so a client tells a move
    #: from a delete and an add
    id: int
    op: Literal["add", "modify", "delete", "move", "mkdir"]
    kind: Literal["file", "folder"]
    path: str
    at: Millis
    #: for a move: where it was
    old_path: str | None = None
    #: files: the revision this change made, its size and content hash
    rev: int | None = None
    size: int | None = None
    content_hash: Hex256 | None = None
    #: the device that made the change (skip your own), and who
    device_id: int | None = None
    by: str | None = None
    #: files, with rev: whether that revision is executable
    executable: bool | None = None

    @classmethod
    def of(cls, c: Change) -> ChangeOut:
        return cls(
            id=c.node_id, op=c.op, kind=c.kind, path=c.path, at=c.at, old_path=c.old_path,  # type: ignore[arg-type]
            rev=c.rev, size=c.size,
            content_hash=c.content_hash.hex() if c.content_hash else None,
            device_id=c.device_id, by=c.actor, executable=c.executable,
        )


class ChangeList(Struct):
    changes: list[ChangeOut]
    #: pass to the next call; it stands after every change listed
    cursor: str
    #: true if more changes are ready now: call again at once
    has_more: bool


class CursorOut(Struct):
    cursor: str


class WaitResult(Struct):
    #: true: call GET /changes; false: the wait timed out, wait again
    changes: bool
    #: seconds to wait before the next call (non-zero when the server is busy)
    backoff: int = 0


class RevisionsQuery(Struct, forbid_unknown_fields=True):
    path: str
    limit: Annotated[int, Meta(ge=1, le=1000)] = 20


class ActivityQuery(Struct, forbid_unknown_fields=True):
    """The item by its path or by its id (exactly one)."""

    path: str | None = None
    id: Annotated[int, Meta(ge=1)] | None = None
    limit: Annotated[int, Meta(ge=1, le=200)] = 50
    #: next_before of the page before
    before: Annotated[str, Meta(pattern="^[0-9]{1,19}$")] | None = None


class ActivityOut(Struct):
    action: Literal["created", "edited", "renamed", "moved", "deleted", "restored", "shared",
                    "unshared"]
    #: the item's path as you saw it then (for shared and unshared, as you see it now)
    path: str
    at: Millis
    #: who did it (null: an account that is gone)
    by: str | None
    #: the device or browser it was done from (null: unknown, or since revoked)
    device: str | None
    kind: Literal["file", "folder"]
    #: renamed and moved: where it was
    old_path: str | None = None
    #: created, edited and restored files: the revision it made
    rev: int | None = None
    #: shared and unshared: with whom (null: with you)
    to: str | None = None

    @classmethod
    def of(cls, a: Activity) -> ActivityOut:
        return cls(a.action, a.path, a.at, a.by, a.device, a.kind, a.old_path,  # type: ignore[arg-type]
                   a.rev, a.to)


class ActivityList(Struct):
    #: the item, as you see it now
    path: str
    #: newest first
    activity: list[ActivityOut]
    #: pass as before for the next page; null on the last
    next_before: str | None = None


# -- public links (docs/links.md) -------------------------------------------------------


class LinkRequest(Struct, forbid_unknown_fields=True):
    path: str
    #: visitors must give it (8 characters or more); omit for none
    password: Annotated[str, Meta(max_length=1024)] | None = None
    #: the link stops working then (410); must be in the future
    expires_at: Millis | None = None
    #: folders only: a file drop, where visitors may only upload (no listing, no download)
    allow_upload: bool = False
    #: the link is used up (410) after this many downloads started
    max_downloads: Annotated[int, Meta(ge=1)] | None = None


class LinkOut(Struct):
    id: int
    #: the link's page, relative to the server's root: /s/<token>
    url: str
    token: str
    #: the linked node's path as you see it; null if it is in the trash or you
    #: may no longer share it
    path: str | None
    kind: Literal["file", "folder"]
    has_password: bool
    expires_at: Millis | None
    allow_upload: bool
    max_downloads: int | None
    #: downloads started so far
    downloads: int
    created_at: Millis
    state: Literal["active", "expired", "used_up", "unavailable"]

    @classmethod
    def of(cls, v: LinkView) -> LinkOut:
        k = v.link
        return cls(
            id=k.id, url="/s/" + k.token, token=k.token, path=v.path, kind=v.kind,  # type: ignore[arg-type]
            has_password=k.password_hash is not None, expires_at=k.expires_at,
            allow_upload=k.allow_upload, max_downloads=k.max_downloads, downloads=k.downloads,
            created_at=k.created_at, state=v.state,  # type: ignore[arg-type]
        )


class LinkList(Struct):
    links: list[LinkOut]


class DroppedFile(Struct):
    #: the name as sent (a taken name is stored as "name (2).ext", not shown here)
    name: str
    size: int


class DropResult(Struct):
    files: list[DroppedFile]


# -- administration (admins only) ----------------------------------------------------

QuotaBytes = Annotated[int, Meta(ge=0, le=2**63 - 1, description="a quota, in bytes")]


class AdminUserOut(Struct):
    id: int
    username: str
    is_admin: bool
    quota_bytes: int
    used_bytes: int
    created_at: Millis
    #: when an admin disabled the account; null while it is in use
    disabled_at: Millis | None

    @classmethod
    def of(cls, u: User) -> AdminUserOut:
        return cls(u.id, u.name, u.is_admin, u.quota_bytes, u.used_bytes, u.created_at,
                   u.disabled_at)


class AdminUserList(Struct):
    users: list[AdminUserOut]


class AdminUserCreate(Struct, forbid_unknown_fields=True):
    username: str
    password: str
    is_admin: bool = False
    #: omitted: the server's default quota ([limits] default_quota)
    quota_bytes: QuotaBytes | None = None


class AdminUserChange(Struct, forbid_unknown_fields=True):
    """Only the fields given change, all in one transaction."""

    quota_bytes: QuotaBytes | None = None
    is_admin: bool | None = None
    #: true: the user cannot sign in, and their tokens and sessions end now
    disabled: bool | None = None


class PasswordReset(Struct, forbid_unknown_fields=True):
    password: str


class DiskOut(Struct):
    #: the data dir
    path: str
    total_bytes: int
    used_bytes: int
    free_bytes: int
    #: new content is refused once free space would fall below this
    reserve_bytes: int
    #: meta.db and its write-ahead log
    database_bytes: int


class StoreOut(Struct):
    blocks: int
    #: plaintext bytes of the stored blocks, each once
    block_bytes: int
    #: what the block files take (compressed, encrypted)
    stored_bytes: int
    #: the size of every revision, live, old or in the trash: the size without dedup
    logical_bytes: int
    #: the current revisions of live files (what quotas count)
    used_bytes: int
    #: logical bytes over block bytes (1: nothing shared)
    dedup_ratio: float


class MaintenanceOut(Struct):
    """The background maintenance (trash expiry, revision thinning, GC)."""

    interval_s: float
    running: bool
    runs_ok: int
    runs_failed: int
    last_run_at: Millis | None
    last_run_duration_s: float | None
    last_run_summary: str | None
    last_error_at: Millis | None
    last_error: str | None


class BackupTargetOut(Struct):
    name: str
    #: the bucket (endpoint, bucket, prefix)
    where: str
    healthy: bool
    pending_blocks: int
    pending_bytes: int
    oldest_pending_at: Millis | None
    snapshot_at: Millis | None
    last_success_at: Millis | None
    last_error: str | None
    last_error_at: Millis | None


class BackupOut(Struct):
    targets: list[BackupTargetOut]
    snapshot_at: Millis | None


class ServerStatusOut(Struct):
    version: str
    now: Millis
    users: int
    disk: DiskOut
    store: StoreOut
    maintenance: MaintenanceOut
    #: null when no backup bucket is configured
    backup: BackupOut | None
    long_poll_waiters: int


def encode(value: object) -> bytes:
    return msgspec.json.encode(value)
