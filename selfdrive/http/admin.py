"""Handlers of /admin/... (administrators only; the rules: services/admin.py)."""

from __future__ import annotations

from typing import Any

from selfdrive.http.endpoint import Call
from selfdrive.http.schemas import (
    AdminUserChange,
    AdminUserCreate,
    AdminUserList,
    AdminUserOut,
    BackupOut,
    BackupTargetOut,
    DiskOut,
    MaintenanceOut,
    PasswordReset,
    ServerStatusOut,
    StoreOut,
)
from selfdrive.services.admin import BackupState, ServerStatus, UserChange


def _user_id(call: Call[Any, Any]) -> int:
    user_id: int = call.request.path_params["user_id"]  # the route's :int converter
    return user_id


async def get_users(call: Call[None, None]) -> AdminUserList:
    users = await call.runtime.admin.list_users(call.who)
    return AdminUserList(users=[AdminUserOut.of(u) for u in users])


async def post_user(call: Call[None, AdminUserCreate]) -> AdminUserOut:
    b = call.body
    user = await call.runtime.admin.add_user(call.who, b.username, b.password,
                                             is_admin=b.is_admin, quota_bytes=b.quota_bytes)
    return AdminUserOut.of(user)


async def patch_user(call: Call[None, AdminUserChange]) -> AdminUserOut:
    b = call.body
    change = UserChange(quota_bytes=b.quota_bytes, is_admin=b.is_admin, disabled=b.disabled)
    return AdminUserOut.of(await call.runtime.admin.change_user(call.who, _user_id(call), change))


async def post_password(call: Call[None, PasswordReset]) -> AdminUserOut:
    user = await call.runtime.admin.reset_password(call.who, _user_id(call), call.body.password)
    return AdminUserOut.of(user)


async def get_status(call: Call[None, None]) -> ServerStatusOut:
    return status_out(await call.runtime.admin.status(call.who))


def status_out(s: ServerStatus) -> ServerStatusOut:
    d, st, m = s.disk, s.store, s.maintenance
    return ServerStatusOut(
        version=s.version, now=s.now_ms, users=s.users,
        disk=DiskOut(d.path, d.total_bytes, d.used_bytes, d.free_bytes, d.reserve_bytes,
                     d.database_bytes),
        store=StoreOut(st.blocks, st.block_bytes, st.stored_bytes, st.logical_bytes,
                       st.used_bytes, round(st.dedup_ratio, 4)),
        maintenance=MaintenanceOut(
            interval_s=m.interval_s, running=m.running, runs_ok=m.runs_ok,
            runs_failed=m.runs_failed, last_run_at=m.last_run_ms,
            last_run_duration_s=m.last_run_duration_s, last_run_summary=m.last_run_summary,
            last_error_at=m.last_error_ms, last_error=m.last_error),
        backup=_backup_out(s.backup) if s.backup else None,
        long_poll_waiters=s.long_poll_waiters,
    )


def _backup_out(b: BackupState) -> BackupOut:
    return BackupOut(
        targets=[BackupTargetOut(
            name=t.name, where=t.where, healthy=t.healthy, pending_blocks=t.pending_blocks,
            pending_bytes=t.pending_bytes, oldest_pending_at=t.oldest_pending_ms,
            snapshot_at=t.snapshot_at, last_success_at=t.last_success_at,
            last_error=t.last_error, last_error_at=t.last_error_at,
        ) for t in b.targets],
        snapshot_at=b.snapshot_at,
    )
