"""A user's notifications: what others shared with them or did to what they
share.  They are written where the change is journaled (store/meta/shares.py:
journal_all), in the same transaction, next to a journal row for the same
user, so the long poll rings for them too."""

from __future__ import annotations

from collections.abc import Sequence

from selfdrive.core.clock import Clock
from selfdrive.core.errors import BadRequest
from selfdrive.services.auth import Principal
from selfdrive.store.meta import notifications as q
from selfdrive.store.meta.db import Database
from selfdrive.store.meta.notifications import Notification

MAX_PAGE = 500


class NotificationService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def list(
        self, who: Principal, limit: int = 50, offset: int = 0
    ) -> tuple[list[Notification], int]:
        """A page of notifications, unread first, and the unread count."""
        if not 1 <= limit <= MAX_PAGE or offset < 0:
            raise BadRequest(f"limit must be between 1 and {MAX_PAGE}, offset at least 0")
        async with self.db.read() as conn:
            return await q.page(conn, who.user_id, limit, offset)

    async def mark_read(self, who: Principal, ids: Sequence[int] | None) -> int:
        async with self.db.write() as conn:
            return await q.mark_read(conn, who.user_id, ids, self.clock.now_ms())
