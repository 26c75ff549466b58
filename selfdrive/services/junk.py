"""Side files of desktop WebDAV clients, kept out of the tree.

Finder writes `._name` (AppleDouble) and `.DS_Store` next to what it saves,
Office an `~$name` owner file, Explorer `desktop.ini` and `Thumbs.db`.  A
client must be able to write and read them back, or saving fails; but they
are not the user's files: they would fill revisions, notifications and
every other device.  So a name that matches the configured patterns
(case-insensitively; `[webdav] junk`) is stored here instead: one sealed
row per folder and name, no revision, no change, no sync.  They belong to
their folder (a move takes them along, a purge deletes them), stay small
(`max_file_bytes` each) and few (`max_files`, `max_bytes` per owner).
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import aiosqlite
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from selfdrive.core import paths
from selfdrive.core.clock import Clock
from selfdrive.core.errors import (
    AlreadyExists,
    NotFound,
    ParentNotFound,
    PayloadTooLarge,
    QuotaExceeded,
)
from selfdrive.services.auth import Principal
from selfdrive.services.files import Entry, FileService
from selfdrive.store.meta import junk as q
from selfdrive.store.meta import tree
from selfdrive.store.meta.db import Database
from selfdrive.store.meta.junk import JunkRow

DEFAULT_PATTERNS = ("._*", ".DS_Store", "~$*", "desktop.ini", "Thumbs.db")


@dataclass(frozen=True)
class JunkSettings:
    patterns: Sequence[str] = DEFAULT_PATTERNS
    max_file_bytes: int = 1024 * 1024
    max_files: int = 10_000
    max_bytes: int = 256 * 1024 * 1024


class JunkService:
    def __init__(self, db: Database, files: FileService, clock: Clock, key: bytes,
                 settings: JunkSettings) -> None:
        self.db = db
        self.files = files
        self.clock = clock
        self._aead = AESGCM(key)
        self.settings = settings
        self._patterns = [p.lower() for p in settings.patterns]

    def is_junk(self, path: str) -> bool:
        parts = paths.split_path(path)
        name = parts[-1].lower() if parts else ""
        return bool(name) and any(fnmatch.fnmatchcase(name, p) for p in self._patterns)

    # -- reading ---------------------------------------------------------------------

    async def stat(self, who: Principal, path: str) -> JunkRow | None:
        async with self.db.read() as conn:
            parent, name = await self._folder(conn, who, path, write=False)
            return await q.get(conn, parent, name)

    async def in_folder(self, folder: Entry) -> list[JunkRow]:
        if not folder.node.id or not folder.node.is_folder:
            return []
        async with self.db.read() as conn:
            return await q.in_folder(conn, folder.node.id)

    async def read(self, who: Principal, path: str) -> tuple[JunkRow, bytes]:
        async with self.db.read() as conn:
            parent, name = await self._folder(conn, who, path, write=False)
            row = await q.get(conn, parent, name)
            sealed = await q.sealed(conn, parent, name)
        if row is None or sealed is None:
            raise NotFound(f"{path} does not exist", path=path)
        return row, self._open(sealed, parent, name)

    # -- writing ---------------------------------------------------------------------

    async def write(self, who: Principal, path: str, body: AsyncIterator[bytes]) -> bool:
        """Store a side file; True if it is new."""
        limit = self.settings.max_file_bytes
        data = bytearray()
        async for piece in body:
            data += piece
            if len(data) > limit:
                raise PayloadTooLarge(f"{paths.split_path(path)[-1]} is a client's side file;"
                                      f" those may be at most {limit} bytes")
        async with self.db.write() as conn:
            parent, name = await self._folder(conn, who, path, write=True)
            owner = await self._owner(conn, parent)
            old = await q.get(conn, parent, name)
            await self._check_room(conn, owner, len(data) - (old.size if old else 0), old)
            row = JunkRow(parent, name, owner, len(data), self.clock.now_ms())
            await q.put(conn, row, self._seal(bytes(data), parent, name))
        return old is None

    async def delete(self, who: Principal, path: str) -> None:
        async with self.db.write() as conn:
            parent, name = await self._folder(conn, who, path, write=True)
            if not await q.delete(conn, parent, name):
                raise NotFound(f"{path} does not exist", path=path)

    async def transfer(self, who: Principal, src: str, dst: str, *, move: bool,
                       overwrite: bool) -> bool:
        """Move or copy a side file to another side-file name; True if one was
        replaced there."""
        async with self.db.write() as conn:
            parent, name = await self._folder(conn, who, src, write=move)
            row = await q.get(conn, parent, name)
            sealed = await q.sealed(conn, parent, name)
            if row is None or sealed is None:
                raise NotFound(f"{src} does not exist", path=src)
            data = self._open(sealed, parent, name)
            to_parent, to_name = await self._folder(conn, who, dst, write=True)
            owner = await self._owner(conn, to_parent)
            old = await q.get(conn, to_parent, to_name)
            if old is not None and not overwrite:
                raise AlreadyExists(f"{dst} already exists", path=dst)
            if move:
                await q.delete(conn, parent, name)
            else:
                await self._check_room(conn, owner, row.size, old)
            await q.put(conn, JunkRow(to_parent, to_name, owner, row.size, self.clock.now_ms()),
                        self._seal(data, to_parent, to_name))
        return old is not None

    # -- inside ----------------------------------------------------------------------

    async def _folder(self, conn: aiosqlite.Connection, who: Principal, path: str, *,
                      write: bool) -> tuple[int, str]:
        """The id of the folder that holds *path*, and its name."""
        parts = paths.split_path(path)
        place = await self.files.place(conn, who, parts, write=write)
        nodes, matched = await tree.walk(conn, place.owner.root_id, place.parts[:-1])
        if matched < len(place.parts) - 1 or not nodes[-1].is_folder:
            raise ParentNotFound(f"the folder of {path} does not exist", path=path)
        return nodes[-1].id, place.parts[-1]

    async def _owner(self, conn: aiosqlite.Connection, parent_id: int) -> int:
        node = await tree.node_by_id(conn, parent_id)
        assert node is not None
        return node.owner_id

    async def _check_room(self, conn: aiosqlite.Connection, owner: int, more: int,
                          old: JunkRow | None) -> None:
        files, size = await q.usage(conn, owner)
        if old is None and files >= self.settings.max_files:
            raise QuotaExceeded(f"at most {self.settings.max_files} client side files"
                                " (._*, .DS_Store...) are kept per user")
        if size + more > self.settings.max_bytes:
            raise QuotaExceeded(f"client side files (._*, .DS_Store...) may take at most"
                                f" {self.settings.max_bytes} bytes per user")

    def _seal(self, data: bytes, parent: int, name: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, data, _aad(parent, name))

    def _open(self, sealed: bytes, parent: int, name: str) -> bytes:
        return self._aead.decrypt(sealed[:12], sealed[12:], _aad(parent, name))


def _aad(parent: int, name: str) -> bytes:
    return f"selfdrive dav junk\0{parent}\0{name}".encode()
