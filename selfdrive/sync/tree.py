"""The three views of a synced folder that the planner compares.

Terms:

- a *key* is a path relative to the sync root, '/'-separated, NFC, with no
  leading slash ("Photos/2026/a.jpg"); the root itself has no key;
- the *remote tree* maps keys to `Remote` items: what the server holds under the
  remote folder, kept current from listings and the change feed;
- the *local tree* maps keys to `Local` items: what the disk holds, from scans;
- the *base* maps keys to `Base` items: what both sides held when they last
  agreed, kept in the client's state database.

Items are compared by their *identity*: the kind, and for files the content
hash and the executable bit.  Sizes, times, revisions, inodes and server ids
say where an item is and whether it moved, not what it holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

Kind = Literal["file", "folder"]


class Item(Protocol):
    @property
    def kind(self) -> Kind: ...
    @property
    def content_hash(self) -> str | None: ...
    @property
    def executable(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Remote:
    kind: Kind
    #: the server's node id: it survives renames and moves, so a move is seen as one
    id: int
    content_hash: str | None = None
    size: int = 0
    rev: int = 0
    executable: bool = False
    mtime: int | None = None  # ms, as the device that wrote it said


@dataclass(frozen=True, slots=True)
class Local:
    kind: Kind
    #: the inode: it survives renames and moves on one file system
    ino: int
    #: None while a file is unsettled (being written, or changed since hashing):
    #: the planner leaves such a path alone until it is stable
    content_hash: str | None
    size: int = 0
    mtime_ns: int = 0
    executable: bool = False
    #: the path on disk when it differs from the key (an NFD name from macOS)
    disk: str | None = None


@dataclass(frozen=True, slots=True)
class Base:
    kind: Kind
    remote_id: int
    ino: int
    content_hash: str | None
    size: int = 0
    rev: int = 0
    mtime_ns: int = 0
    executable: bool = False


def same(a: Item | None, b: Item | None) -> bool:
    """Whether two items hold the same thing (both absent counts as the same)."""
    if a is None or b is None:
        return a is None and b is None
    if a.kind != b.kind:
        return False
    if a.kind == "folder":
        return True
    return a.content_hash == b.content_hash and a.executable == b.executable


def parent(key: str) -> str:
    """The parent's key ("" for the root)."""
    return key.rpartition("/")[0]


def name(key: str) -> str:
    return key.rpartition("/")[2]


def under(key: str, folder: str) -> bool:
    """Whether *key* is *folder* itself or inside it."""
    return key == folder or key.startswith(folder + "/")


def rebase(key: str, src: str, dst: str) -> str:
    """*key* after its ancestor (or itself) *src* moved to *dst*."""
    return dst + key[len(src):]
