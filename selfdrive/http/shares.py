"""Handlers of /shares: share a file or folder, list, change a role, revoke or leave."""

from __future__ import annotations

from selfdrive.http.endpoint import Call
from selfdrive.http.schemas import RoleRequest, ShareList, ShareOut, ShareRequest


async def post_share(call: Call[None, ShareRequest]) -> ShareOut:
    b = call.body
    return ShareOut.of(await call.runtime.shares.create(call.who, b.path, b.user, b.role))


async def get_shares(call: Call[None, None]) -> ShareList:
    mine, theirs = await call.runtime.shares.list(call.who)
    return ShareList([ShareOut.of(v) for v in mine], [ShareOut.of(v) for v in theirs])


async def patch_share(call: Call[None, RoleRequest]) -> ShareOut:
    share_id = int(call.request.path_params["share_id"])
    return ShareOut.of(await call.runtime.shares.set_role(call.who, share_id, call.body.role))


async def delete_share(call: Call[None, None]) -> None:
    await call.runtime.shares.delete(call.who, int(call.request.path_params["share_id"]))
