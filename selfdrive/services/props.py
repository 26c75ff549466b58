"""WebDAV dead properties: what clients set with PROPPATCH, kept per node.

A PROPPATCH is all or nothing (RFC 4918 9.2): its sets and removes are
applied in one transaction, and only if the node stays within its limits
afterwards; otherwise nothing changes and the caller learns which
properties were over.  Limits keep a client (or an attacker) from storing
megabytes in properties: at most MAX_PROPS per node and MAX_BYTES in all.
"""

from __future__ import annotations

from collections.abc import Sequence

from selfdrive.core.errors import Forbidden
from selfdrive.services.auth import Principal
from selfdrive.services.files import Entry, FileService
from selfdrive.store.meta import props as q
from selfdrive.store.meta.db import Database
from selfdrive.store.meta.props import Key

MAX_PROPS = 200
MAX_BYTES = 64 * 1024


def _cost(key: Key, value: bytes) -> int:
    return len(key[0]) + len(key[1]) + len(value)


class PropService:
    def __init__(self, db: Database, files: FileService) -> None:
        self.db = db
        self.files = files

    async def of(self, entries: Sequence[Entry]) -> dict[int, dict[Key, bytes]]:
        """The dead properties of entries the caller has already resolved."""
        ids = [e.node.id for e in entries if e.node.id]
        if not ids:
            return {}
        async with self.db.read() as conn:
            return await q.of_nodes(conn, ids)

    async def patch(
        self, who: Principal, path: str, changes: Sequence[tuple[Key, bytes | None]]
    ) -> list[Key]:
        """Apply sets (bytes) and removes (None) in order, all or nothing.

        Returns the keys that would push the node past its limits (and then
        changes nothing), or [] once applied."""
        async with self.db.write() as conn:
            entry, _ = await self.files.resolve(conn, who, path, write=True)
            if not entry.node.id:
                raise Forbidden(f"{entry.path} takes no properties")
            current = (await q.of_nodes(conn, [entry.node.id])).get(entry.node.id, {})
            after = dict(current)
            for key, value in changes:
                if value is None:
                    after.pop(key, None)
                else:
                    after[key] = value
            over = _over_limits(after, [k for k, v in changes if v is not None])
            if over:
                return over
            await q.remove_many(conn, entry.node.id, [k for k in current if k not in after])
            await q.set_many(conn, entry.node.id,
                             [(k, v) for k, v in after.items() if current.get(k) != v])
        return []


def _over_limits(after: dict[Key, bytes], set_now: list[Key]) -> list[Key]:
    """The keys set by this change that do not fit (all of them if any is over)."""
    if len(after) <= MAX_PROPS and sum(_cost(k, v) for k, v in after.items()) <= MAX_BYTES:
        return []
    too_big = [k for k in set_now if _cost(k, after[k]) > MAX_BYTES]
    return too_big or list(dict.fromkeys(set_now))
