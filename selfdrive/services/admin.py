"""`AdminService`: what an administrator does to other accounts, and the
server's state as the admin page shows it.

Terms: an *admin* is a user with ``is_admin``; an *active* admin is one whose
account is not disabled.  A *disabled* user (``users.disabled_at``) keeps
their files but cannot sign in: disabling deletes their device tokens and web
sessions in the same transaction, every way of signing in checks the flag
(services/auth.py, services/sessions.py, WebDAV's remembered passwords), and
their open long polls are rung so that an open page learns at once that its
session is gone.

Lockout rule: an admin cannot disable or demote themself, and no change may
leave the server without an active admin (AdminLockout, 409).  The check runs
inside the write transaction that makes the change, so two admins demoting
each other at once cannot both win.

Every public method takes the caller and refuses anyone but an admin
(Forbidden); the HTTP layer refuses them earlier too (``admin=True`` routes).
The CLI acts as `CONSOLE`: whoever can run commands on the server's data dir
is its operator, an admin who is no user, so the lockout rule about oneself
never applies to them; the rule about the last active admin does.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import selfdrive
from selfdrive.core.clock import Clock
from selfdrive.core.errors import AdminLockout, BadRequest, Forbidden, NotFound, StorageError
from selfdrive.services.auth import AuthService, Principal
from selfdrive.services.backup import BackupService
from selfdrive.services.changes import ChangeFeed
from selfdrive.services.maintenance import Maintenance
from selfdrive.store.meta import users as q
from selfdrive.store.meta.db import Database
from selfdrive.store.meta.records import User
from selfdrive.store.meta.stats import StoreStats, StoreStatsCache

#: the largest quota accepted (8 EiB less one: what SQLite's INTEGER holds)
MAX_QUOTA_BYTES = 2**63 - 1


#: the operator at the server's console (`selfdrive user set`, `user password`)
CONSOLE = Principal(user_id=0, username="(console)", is_admin=True, device_id=None,
                    device_name=None, kind="console")


def require_admin(who: Principal) -> None:
    if not who.is_admin:
        raise Forbidden("this is for administrators")


@dataclass(frozen=True)
class UserChange:
    """What to change about a user; None leaves a field as it is."""

    quota_bytes: int | None = None
    is_admin: bool | None = None
    disabled: bool | None = None


@dataclass(frozen=True)
class Disk:
    """The data dir's file system, and what selfdrive keeps on it."""

    path: str
    total_bytes: int
    used_bytes: int
    free_bytes: int
    #: new content is refused once free space would fall below this
    reserve_bytes: int
    #: meta.db with its write-ahead log
    database_bytes: int


@dataclass(frozen=True)
class MaintenanceState:
    interval_s: float
    running: bool
    runs_ok: int
    runs_failed: int
    last_run_ms: int | None
    last_run_duration_s: float | None
    last_run_summary: str | None
    last_error_ms: int | None
    last_error: str | None


@dataclass(frozen=True)
class BackupTargetState:
    """One backup bucket, as the loop in this process and the database see it."""

    name: str
    where: str
    #: whether the last try to reach it worked (this process)
    healthy: bool
    pending_blocks: int
    pending_bytes: int
    oldest_pending_ms: int | None
    snapshot_at: int | None
    last_success_at: int | None
    last_error: str | None
    last_error_at: int | None


@dataclass(frozen=True)
class BackupState:
    targets: list[BackupTargetState]
    #: the newest metadata snapshot taken
    snapshot_at: int | None


@dataclass(frozen=True)
class ServerStatus:
    version: str
    now_ms: int
    users: int
    disk: Disk
    store: StoreStats
    maintenance: MaintenanceState
    #: None when no backup bucket is configured
    backup: BackupState | None
    long_poll_waiters: int


class AdminService:
    def __init__(self, db: Database, auth: AuthService, changes: ChangeFeed,
                 maintenance: Maintenance, backup: BackupService, clock: Clock,
                 data: Path, stats: StoreStatsCache, reserve_bytes: int,
                 default_quota_bytes: int) -> None:
        self.db = db
        self.auth = auth
        self.changes = changes
        self.maintenance = maintenance
        self.backup = backup
        self.clock = clock
        self.data = data
        self.stats = stats
        self.reserve_bytes = reserve_bytes
        self.default_quota_bytes = default_quota_bytes

    # -- users ---------------------------------------------------------------------------

    async def list_users(self, who: Principal) -> list[User]:
        require_admin(who)
        return await self.auth.list_users()

    async def add_user(self, who: Principal, name: str, password: str, *, is_admin: bool,
                       quota_bytes: int | None) -> User:
        """A new user, with the default quota unless one is given (the CLI's
        `selfdrive user add` makes them the same way)."""
        require_admin(who)
        quota = self.default_quota_bytes if quota_bytes is None else _quota(quota_bytes)
        return await self.auth.create_user(name, password, is_admin=is_admin, quota_bytes=quota)

    async def user_named(self, who: Principal, name: str) -> User:
        require_admin(who)
        async with self.db.read() as conn:
            user = await q.user_by_name(conn, name)
        if user is None:
            raise NotFound(f"there is no user {name!r}")
        return user

    async def reset_password(self, who: Principal, user_id: int, password: str) -> User:
        """A new password; the user's devices and sessions go on (disable the
        account to end them)."""
        require_admin(who)
        return await self.auth.set_password(user_id, password)

    async def change_user(self, who: Principal, user_id: int, change: UserChange) -> User:
        """Apply *change* in one transaction, or nothing of it."""
        require_admin(who)
        if change == UserChange():
            raise BadRequest("nothing to change: give quota_bytes, is_admin or disabled")
        if change.quota_bytes is not None:
            _quota(change.quota_bytes)
        demoting = change.is_admin is False or change.disabled is True
        if demoting and user_id == who.user_id:
            raise AdminLockout("you cannot disable your own account or take your own"
                               " admin rights; ask another admin")
        now = self.clock.now_ms()
        async with self.db.write() as conn:
            user = await q.user_by_id(conn, user_id)
            if user is None:
                raise NotFound(f"there is no user {user_id}")
            if change.quota_bytes is not None:
                await q.set_quota(conn, user_id, change.quota_bytes)
            if change.is_admin is not None:
                await q.set_admin(conn, user_id, change.is_admin)
            ends_access = change.disabled is True and user.disabled_at is None
            if ends_access:
                await q.set_disabled(conn, user_id, now)
                await q.delete_devices_of(conn, user_id, ("device", "web"))
            elif change.disabled is False and user.disabled_at is not None:
                await q.set_disabled(conn, user_id, None)
            if await q.count_active_admins(conn) == 0:
                raise AdminLockout("the server would have no active admin left")
            changed = await q.user_by_id(conn, user_id)
        assert changed is not None
        if ends_access:
            self.changes.ring(user_id)  # open pages ask again, and hear 401
        return changed

    # -- the server ----------------------------------------------------------------------

    async def status(self, who: Principal) -> ServerStatus:
        require_admin(who)
        stats = await self.stats.get()  # fresh unless counting costs (a big store)
        if stats is None:
            raise StorageError("counting the store's totals failed; the server's log says why")
        async with self.db.read() as conn:
            users = await q.count_users(conn)
        backup = await self._backup() if self.backup.configured else None
        return ServerStatus(
            version=selfdrive.__version__, now_ms=self.clock.now_ms(), users=users,
            disk=self._disk(), store=stats, maintenance=self._maintenance(), backup=backup,
            long_poll_waiters=self.changes.waiting,
        )

    def _disk(self) -> Disk:
        usage = shutil.disk_usage(self.data)
        database = 0
        for name in ("meta.db", "meta.db-wal"):
            with contextlib.suppress(FileNotFoundError):
                database += os.stat(self.data / name).st_size
        return Disk(str(self.data), usage.total, usage.used, usage.free, self.reserve_bytes,
                    database)

    def _maintenance(self) -> MaintenanceState:
        m = self.maintenance
        last, error = m.last_run, m.last_error
        return MaintenanceState(
            interval_s=m.settings.interval_s, running=m.running, runs_ok=m.runs_ok,
            runs_failed=m.runs_failed,
            last_run_ms=last.finished_ms if last else None,
            last_run_duration_s=last.duration_s if last else None,
            last_run_summary=last.report.summary() if last else None,
            last_error_ms=error[0] if error else None, last_error=error[1] if error else None,
        )


    async def _backup(self) -> BackupState:
        status = await self.backup.status()
        healthy = {t.name: t.healthy for t in self.backup.targets}
        targets = []
        for t in status.targets:
            st = t.state
            targets.append(BackupTargetState(
                name=t.name, where=t.where, healthy=healthy.get(t.name, False),
                pending_blocks=t.pending.blocks, pending_bytes=t.pending.bytes,
                oldest_pending_ms=t.pending.oldest_ms,
                snapshot_at=st.snapshot_at if st else None,
                last_success_at=st.last_success_at if st else None,
                last_error=st.last_error if st else None,
                last_error_at=st.last_error_at if st else None,
            ))
        return BackupState(targets, status.state.snapshot_at)


def _quota(quota_bytes: int) -> int:
    if not 0 <= quota_bytes <= MAX_QUOTA_BYTES:
        raise BadRequest(f"quota_bytes must be between 0 and {MAX_QUOTA_BYTES}")
    return quota_bytes
