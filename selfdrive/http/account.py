"""Handlers of /auth/tokens (device tokens and web sessions), /me and /healthz."""

from __future__ import annotations

from selfdrive.http.endpoint import Call
from selfdrive.http.schemas import DeviceList, DeviceOut, Health, Me, TokenCreated, TokenRequest
from selfdrive.services.auth import Principal
from selfdrive.services.runtime import Runtime


async def post_token(call: Call[None, TokenRequest]) -> TokenCreated:
    b = call.body
    token, device = await call.runtime.auth.create_token(b.username, b.password, b.device_name)
    return TokenCreated(token=token, device_id=device.id)


async def get_tokens(call: Call[None, None]) -> DeviceList:
    devices = await call.runtime.auth.list_devices(call.who)
    return DeviceList(devices=[DeviceOut.of(d, call.who.device_id) for d in devices])


async def delete_token(call: Call[None, None]) -> None:
    device_id: int = call.request.path_params["device_id"]  # the route's :int converter
    await call.runtime.auth.revoke_device(call.who, device_id)


async def get_me(call: Call[None, None]) -> Me:
    return await me(call.runtime, call.who)


async def me(runtime: Runtime, who: Principal) -> Me:
    """GET /me's answer (the web session's answers hold it too)."""
    user = await runtime.auth.user(who.user_id)
    return Me(username=user.name, is_admin=user.is_admin, quota_bytes=user.quota_bytes,
              used_bytes=user.used_bytes, device_id=who.device_id)


async def get_health(call: Call[None, None]) -> Health:
    await call.runtime.auth.count_users()  # the database answers
    return Health(status="ok", long_poll_waiters=call.runtime.changes.waiting)
