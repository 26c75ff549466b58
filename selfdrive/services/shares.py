"""Sharing a file or folder with another user, as viewer or editor.

The recipient finds it at ``/Shared with me/<mount>`` (FileService.place
maps such paths into the owner's tree); every change inside is journaled for
everyone who can see it (store/meta/shares.py: journal_all).  Only the owner
shares, changes roles and revokes; a recipient may leave a share.  Revoking
or leaving ends access at once and the recipient's devices see the mount go
in their change feed.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiosqlite

from selfdrive.core.clock import Clock
from selfdrive.core.errors import AlreadyExists, BadRequest, Forbidden, NotFound
from selfdrive.services.auth import Principal
from selfdrive.services.files import FileService
from selfdrive.store.meta import notifications as notes
from selfdrive.store.meta import shares as q
from selfdrive.store.meta import tree
from selfdrive.store.meta import users as uq
from selfdrive.store.meta.db import Database
from selfdrive.store.meta.shares import Share

ROLES = ("viewer", "editor")


@dataclass(frozen=True)
class ShareView:
    share: Share
    #: the shared node's path as the caller sees it
    path: str
    kind: str


class ShareService:
    def __init__(self, db: Database, files: FileService, clock: Clock) -> None:
        self.db = db
        self.files = files
        self.clock = clock

    async def create(self, who: Principal, path: str, username: str, role: str) -> ShareView:
        _check_role(role)
        now = self.clock.now_ms()
        async with self.db.write() as conn:
            entry, place = await self.files.resolve(conn, who, path)
            if place.role != "owner":
                raise Forbidden("only the owner of a file or folder can share it")
            if not place.parts:
                raise BadRequest("your whole tree cannot be shared; share a folder in it")
            recipient = await uq.user_by_name(conn, username)
            if recipient is None:
                raise NotFound(f"there is no user named {username!r}")
            if recipient.id == who.user_id:
                raise BadRequest("you cannot share with yourself")
            if await q.shared_with_in_subtree(conn, entry.node.id, recipient.id):
                raise AlreadyExists(
                    f"{entry.path}, a folder above it or one inside it is already shared"
                    f" with {username}"
                )
            mount = await _free_mount(conn, recipient.id, entry.node.name, who.username)
            share_id = await q.insert(
                conn, node_id=entry.node.id, owner_id=who.user_id, recipient_id=recipient.id,
                role=role, mount_name=mount, now=now,
            )
            share = await q.by_id(conn, share_id)
            assert share is not None
            # It appears, with all it holds, in the recipient's feed.
            await q.journal_appeared(conn, recipient.id, entry.node.id, share.mount_path, now,
                                     device_id=who.device_id, actor_id=who.user_id,
                                     reason="shared")
            await notes.add(conn, user_id=recipient.id, kind="shared", actor_id=who.user_id,
                            node_id=entry.node.id, path=share.mount_path, now=now)
        return ShareView(share, entry.path, entry.node.kind)

    async def list(self, who: Principal) -> tuple[list[ShareView], list[ShareView]]:
        """(what I share, what is shared with me); trashed ones are left out."""
        async with self.db.read() as conn:
            mine = [v for s in await q.of_owner(conn, who.user_id)
                    if (v := await _view(conn, s, as_owner=True)) is not None]
            theirs = [v for s in await q.of_recipient(conn, who.user_id)
                      if (v := await _view(conn, s, as_owner=False)) is not None]
        return mine, theirs

    async def suggest_users(self, who: Principal, prefix: str, limit: int) -> tuple[str, ...]:
        """Usernames starting with *prefix* (any case), to share with: what a
        signed-in user may learn of others is their usernames, no more
        (docs/api.md, Sharing)."""
        async with self.db.read() as conn:
            names = await q.usernames_starting(conn, prefix, limit=limit, asker_id=who.user_id)
        return tuple(names)

    async def set_role(self, who: Principal, share_id: int, role: str) -> ShareView:
        _check_role(role)
        async with self.db.write() as conn:
            share = await self._own(conn, who, share_id)
            await q.set_role(conn, share.id, role)
            changed = await q.by_id(conn, share.id)
            assert changed is not None
            view = await _view(conn, changed, as_owner=True)
        if view is None:
            raise NotFound(f"there is no share {share_id}")
        return view

    async def delete(self, who: Principal, share_id: int) -> None:
        """Revoke (the owner) or leave (the recipient) a share; access ends now."""
        now = self.clock.now_ms()
        async with self.db.write() as conn:
            share = await q.by_id(conn, share_id)
            if share is None or who.user_id not in (share.owner_id, share.recipient_id):
                raise NotFound(f"there is no share {share_id}")
            node = await tree.node_by_id(conn, share.node_id)
            await q.delete(conn, share.id)
            if node is not None:
                await tree.journal(
                    conn, user_id=share.recipient_id, node_id=node.id, op="delete",
                    kind=node.kind, path=share.mount_path, now=now, device_id=who.device_id,
                    actor_id=who.user_id, reason="unshared",
                )

    async def _own(self, conn: aiosqlite.Connection, who: Principal, share_id: int) -> Share:
        share = await q.by_id(conn, share_id)
        if share is None or who.user_id not in (share.owner_id, share.recipient_id):
            raise NotFound(f"there is no share {share_id}")
        if share.owner_id != who.user_id:
            raise Forbidden("only the owner can change a share")
        return share


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise BadRequest(f"role must be one of {', '.join(ROLES)}")


async def _view(conn: aiosqlite.Connection, share: Share, *, as_owner: bool) -> ShareView | None:
    parts = await q.node_path(conn, share.node_id)
    node = await tree.node_by_id(conn, share.node_id)
    if parts is None or node is None:
        return None
    return ShareView(share, "/" + "/".join(parts) if as_owner else share.mount_path, node.kind)


async def _free_mount(conn: aiosqlite.Connection, recipient_id: int, name: str, owner: str) -> str:
    """The node's name, or "name (owner)", "name (owner 2)"... if the recipient
    already has a share by that name."""
    candidates = [name, f"{name} ({owner})"] + [f"{name} ({owner} {n})" for n in range(2, 1000)]
    for candidate in candidates:
        if not await q.mount_taken(conn, recipient_id, candidate):
            return candidate
    raise AlreadyExists(f"too many shares named {name!r}")
