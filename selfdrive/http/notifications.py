"""Handlers of /notifications."""

from __future__ import annotations

from selfdrive.core.errors import BadRequest
from selfdrive.http.endpoint import Call
from selfdrive.http.schemas import (
    MarkedRead,
    MarkRead,
    NotificationList,
    NotificationOut,
    NotificationsQuery,
)


async def get_notifications(call: Call[NotificationsQuery, None]) -> NotificationList:
    rows, unread = await call.runtime.notifications.list(
        call.who, call.query.limit, call.query.offset
    )
    return NotificationList([NotificationOut.of(n) for n in rows], unread)


async def post_read(call: Call[None, MarkRead]) -> MarkedRead:
    b = call.body
    if (b.ids is None) == (not b.all):
        raise BadRequest("send either ids or all: true")
    return MarkedRead(await call.runtime.notifications.mark_read(call.who, b.ids))
