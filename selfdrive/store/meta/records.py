"""Rows of the metadata database, as typed records."""

from __future__ import annotations

import msgspec


class User(msgspec.Struct, frozen=True):
    id: int
    name: str
    password_hash: str
    is_admin: bool
    quota_bytes: int
    used_bytes: int
    root_id: int
    created_at: int
    #: when an administrator disabled the account (ms); None while it is in use
    disabled_at: int | None = None


class Device(msgspec.Struct, frozen=True):
    """A device token or, with kind "web", a browser's session."""

    id: int
    user_id: int
    name: str
    created_at: int
    last_seen_at: int
    kind: str = "device"


class Node(msgspec.Struct, frozen=True):
    """A file or folder; for files, the current revision's facts are joined in."""

    id: int
    owner_id: int
    parent_id: int | None
    name: str
    kind: str
    current_rev: int | None
    created_at: int
    modified_at: int
    size: int = 0
    content_hash: bytes | None = None
    mtime: int | None = None
    #: files: whether the current revision is executable
    executable: bool = False

    @property
    def is_folder(self) -> bool:
        return self.kind == "folder"


class Revision(msgspec.Struct, frozen=True):
    id: int
    node_id: int
    rev: int
    size: int
    content_hash: bytes
    mtime: int
    created_at: int
    author: str | None
    device_name: str | None
    pinned: bool
    #: fsck --repair found a block of it missing or corrupt
    broken: bool = False
    #: the file of this revision is executable (the x bit)
    executable: bool = False
