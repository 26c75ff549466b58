"""Handler of GET /files/activity: who did what to a file or folder (services/activity.py)."""

from __future__ import annotations

from selfdrive.http.endpoint import Call
from selfdrive.http.schemas import ActivityList, ActivityOut, ActivityQuery


async def get_activity(call: Call[ActivityQuery, None]) -> ActivityList:
    q = call.query
    page = await call.runtime.activity.of_item(
        call.who, path=q.path, node_id=q.id, limit=q.limit,
        before=None if q.before is None else int(q.before),
    )
    return ActivityList(
        path=page.path, activity=[ActivityOut.of(a) for a in page.items],
        next_before=None if page.next_before is None else str(page.next_before),
    )
