"""The sync engine: keeps one local folder and one server folder in step.

A *round* brings the remote tree up to date from the change feed (or a full
listing), scans the disk, plans (planner.py) and runs the plan, recording each
success in the base at once.  Rounds repeat until a plan has nothing left to
do; `--once` stops there, a live sync then waits for a file-system event, the
change feed's doorbell or the periodic rescan.

Safety rules kept here (docs/sync.md lists them all):

- nothing is inferred from an error: the remote tree changes only from a
  successful listing or the change feed;
- the sync root holds a marker (`.selfdrive/marker`) and the config dir
  remembers every root it synced: a root without its marker (an unmounted
  drive) is refused rather than read as "everything was deleted";
- when the server's history goes backwards (its cursor is behind ours, or a
  file's revision is lower than the one we agreed on), the base is dropped:
  every difference then becomes an upload or a conflict copy, never a delete;
- a plan that would move more than half of the local files (and more than
  `MASS_DELETE_MIN` of them), or over 1,000, to the trash stops for
  `--confirm-deletes`;
- a delete on the server carries the cursor our remote tree stands at: what
  another device changed there since is not deleted (409), and the next
  round, caught up, keeps it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from selfdrive.sync import planner, transfer
from selfdrive.sync.api import Api, ApiError, Change, CursorExpired, Entry, Unreachable
from selfdrive.sync.errors import ClientError
from selfdrive.sync.fs import FS, DiskFS
from selfdrive.sync.ignore import STATE_DIR, TEMP_PREFIX, IgnoreRules
from selfdrive.sync.names import fold, nfc
from selfdrive.sync.planner import Op, Options
from selfdrive.sync.scan import Scan, scan
from selfdrive.sync.state import State
from selfdrive.sync.trash import trash_in
from selfdrive.sync.tree import Base, Local, Remote, parent, under

log = logging.getLogger("selfdrive.sync")

MASS_DELETE_MIN = 5
MASS_DELETE_MAX = 1000
MAX_ROUNDS = 12
CACHE_BYTES = 1 << 30
#: files written within this long before a scan wait for the next one
SETTLE_NS = 150_000_000
RESCAN_S = 300.0
WAIT_S = 60.0


class SyncError(ClientError):
    code = "sync_error"


class MarkerMissing(SyncError):
    code = "marker_missing"


class DeletesNeedConfirmation(SyncError):
    code = "deletes_need_confirmation"


class _Misfit(Exception):
    """A change-feed row that does not fit the remote tree we hold."""


@dataclass
class Stats:
    uploaded: int = 0
    downloaded: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    moved: int = 0
    deleted: int = 0
    conflicts: int = 0
    ops: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    #: what the current plan moves: files and bytes to send or fetch (the
    #: progress display's "time left"), and how much of it is done
    planned_files: int = 0
    planned_bytes: int = 0
    done_files: int = 0
    done_bytes: int = 0


@dataclass(frozen=True)
class Settings:
    root: Path
    remote_root: str = "/"
    #: the disk (None: the real one at *root*); the simulation passes a MemoryFS
    fs: FS | None = None
    #: where the state database and block cache live (None: root/.selfdrive)
    state_dir: Path | None = None
    #: blocks in flight per file (1 keeps a simulation deterministic)
    in_flight: int = transfer.IN_FLIGHT
    device: str = ""
    confirm_deletes: bool = False
    cache_bytes: int = CACHE_BYTES
    #: where synced roots are remembered (the marker rule); None: not kept
    registry: Path | None = None


class Engine:
    def __init__(self, settings: Settings, api: Api,
                 progress: Callable[[str, Stats], None] | None = None) -> None:
        self.s = settings
        self.root = settings.root.resolve()
        self.api = api
        self.fs: FS = settings.fs or DiskFS(self.root)
        self.state_dir = settings.state_dir or self.root / STATE_DIR
        self._check_marker()
        self.state = State(self.state_dir / "state.db")
        self.rules = IgnoreRules.load(self.root)
        self.case_insensitive = self.fs.case_insensitive
        self.cache = transfer.BlockCache(self.state_dir / "blocks", settings.cache_bytes)
        self.cache_file_max = settings.cache_bytes // 4
        self.stats = Stats()
        self._progress = progress or (lambda _msg, _stats: None)
        self.wake = asyncio.Event()
        self._cursor_moved = asyncio.Event()

    def close(self) -> None:
        self.state.close()

    # ---- the marker -------------------------------------------------------------

    def _check_marker(self) -> None:
        marker = f"{STATE_DIR}/marker"
        known = _registry_read(self.s.registry).get(str(self.root))
        text = self.fs.read_text(marker)
        if text is not None:
            mark = text.strip()
            if known is not None and known != mark:
                raise MarkerMissing(f"{self.root} holds another sync folder's state; refusing")
        else:
            if known is not None:
                raise MarkerMissing(
                    f"{self.root} was synced before, but its marker {marker} is missing: "
                    "is the drive mounted? Refusing to sync an empty-looking folder. "
                    "If you mean to start over here, remove it from "
                    f"{self.s.registry} first.")
            self.fs.mkdirs(STATE_DIR)
            mark = secrets.token_hex(16)
            self.fs.write_text(marker, mark + "\n")
        if known is None and self.s.registry is not None:
            _registry_add(self.s.registry, str(self.root), mark)

    # ---- keys and paths -------------------------------------------------------

    def rpath(self, key: str) -> str:
        base = self.s.remote_root.rstrip("/")
        return f"{base}/{key}" if key else (base or "/")

    def key_of(self, path: str) -> str | None:
        base = self.s.remote_root.rstrip("/")
        if not base:
            return path.lstrip("/") or None
        if path.startswith(base + "/"):
            return path[len(base) + 1:]
        return None

    @staticmethod
    def disk(key: str, local: Local | None = None) -> str:
        """Where *key* is on disk (a name kept as macOS wrote it may differ)."""
        return local.disk if local is not None and local.disk else key

    def now_ms(self) -> int:
        return self.fs.now_ns() // 1_000_000

    # ---- the remote tree --------------------------------------------------------

    async def refresh_remote(self) -> None:
        cursor = self.state.get("cursor")
        if cursor is not None:
            latest = await self.api.latest()
            if latest.isdigit() and cursor.isdigit() and int(latest) < int(cursor):
                await self._history_went_back("the server's change cursor is behind ours")
                return
            try:
                while True:
                    changes, cursor, more = await self.api.changes(cursor)
                    if not await self._apply_changes(changes, cursor):
                        log.info("the change feed does not fit the remote tree we hold (one "
                                 "of our operations raced another device's): listing again")
                        cursor = None
                        break
                    if not more:
                        break
            except CursorExpired:
                log.info("the change feed no longer reaches back to our cursor: listing again")
                cursor = None
        if cursor is None:
            await self.relist()
        self._cursor_moved.set()

    async def relist(self) -> None:
        cursor = await self.api.latest()  # first: what changes during the listing comes again
        items: list[tuple[str, Remote]] = []
        top = await self.api.metadata(self.rpath(""))
        if top is None:
            await self.api.mkdir(self.rpath(""))
        else:
            async for e in self.api.list_tree(self.rpath("")):
                key = self.key_of(e.path)
                if key is not None:
                    items.append((key, _remote(e)))
        base = self.state.base()
        went_back = any(
            b.kind == "file" and r.id == b.remote_id and r.rev < b.rev
            for key, r in items if (b := base.get(key)) is not None
        )
        self.state.replace_remote(items, cursor)
        if went_back:
            await self._history_went_back("a file's revision on the server is older than ours")

    async def _history_went_back(self, why: str) -> None:
        log.warning("%s: the server was restored from an older state. Keeping every local "
                    "file; differences become uploads or conflict copies, nothing is deleted",
                    why)
        with self.state.transaction():
            self.state.clear_base()
            self.state.put("cursor", None)
        await self.relist()

    async def _apply_changes(self, changes: list[Change], cursor: str) -> bool:
        """Follow the feed by item id, not by path: the table may already hold
        what our own operations made (recorded as they succeeded), so a row
        about an older moment must not move whatever sits at its path now.

        Our operations run ahead of the cursor, and one may have raced another
        device's: a folder we moved or deleted after the other device put
        something in it, an item we deleted after the other device moved it
        (our delete found nothing: a 404).  The feed then speaks of items we
        no longer hold, or puts one in a folder we no longer have there.  Such
        a page does not fit the table: nothing of it is applied, and False
        says so (the caller lists the whole tree again: a listing is the
        truth, and a guess here would either keep a ghost that is downloaded
        forever or lose a file every other device keeps)."""
        st = self.state
        try:
            with st.transaction():
                for c in changes:
                    await self._apply_change(c)
                st.put("cursor", cursor)
        except _Misfit:
            return False
        return True

    async def _apply_change(self, c: Change) -> None:
        st = self.state
        key = self.key_of(c.path)
        at = st.remote_key_of(c.id) if c.id else (
            self.key_of(c.old_path) if c.op == "move" and c.old_path else key)
        if c.op == "delete":
            # Unknown by id: we deleted it ourselves (so nothing of ours is at
            # its path since, or a later row puts it there again) or a
            # folder of ours went there after; the row's path held it then.
            gone = at if at is not None else key
            if key is not None and gone is not None:
                st.forget_remote(gone)
            return
        if key is None:  # moved out of the synced folder
            if c.op == "move" and at is not None:
                st.forget_remote(at)
            return
        if at is None and c.op == "move":
            if c.old_path is not None and self.key_of(c.old_path) is not None:
                raise _Misfit  # it moved from inside, where we no longer hold it
            await self._fetch(c.path, c.id)  # came in from outside: it and all it holds
            return
        folder = parent(key)
        if folder and ((p := st.remote_get(folder)) is None or p.kind != "folder"):
            raise _Misfit  # its folder is not where the row says (we moved or deleted it)
        if at is not None and at != key:
            st.move_remote(at, key)
        known = st.remote_get(key)
        if c.op == "move" and known is not None:
            return  # a move changes no content
        st.set_remote(key, Remote(
            kind="folder" if c.kind == "folder" else "file", id=c.id,
            content_hash=c.content_hash, size=c.size or 0, rev=c.rev or 0,
            executable=bool(c.executable)))

    async def _fetch(self, path: str, item_id: int) -> None:
        """Put the item at *path* (if it is still *item_id*) and all it holds
        into the remote tree, as the server has them now."""
        entry = await self.api.metadata(path)
        key = self.key_of(path)
        if entry is None or key is None or (item_id and entry.id != item_id):
            return  # it moved on or went: a later row says where
        self.state.set_remote(key, _remote(entry))
        if entry.kind == "folder":
            async for e in self.api.list_tree(path):
                sub = self.key_of(e.path)
                if sub is not None:
                    self.state.set_remote(sub, _remote(e))

    # ---- rounds ---------------------------------------------------------------

    async def scan(self) -> Scan:
        self.rules = self.rules.refreshed()
        now = self.fs.now_ns()
        result = await self.fs.run(lambda: scan(self.fs, self.state, self.rules, now_ns=now))
        for key, local in list(result.tree.items()):
            if local.kind == "file" and local.mtime_ns > now - SETTLE_NS and isinstance(
                    self.fs, DiskFS):  # in memory, nothing writes during a round
                result.tree[key] = Local(kind="file", ino=local.ino, content_hash=None,
                                         size=local.size, mtime_ns=local.mtime_ns,
                                         executable=local.executable, disk=local.disk)
        return result

    async def round(self) -> tuple[list[Op], bool]:
        """One plan and its run; returns the plan and whether anything is left
        to wait for (unsettled files)."""
        await self.refresh_remote()
        found = await self.scan()
        base, remote = self.state.base(), self.state.remote()
        ops = planner.plan(base, found.tree, remote, Options(
            device=self.s.device, now_ms=self.now_ms(),
            case_insensitive=self.case_insensitive))
        unsettled = any(v.kind == "file" and v.content_hash is None for v in found.tree.values())
        self._guard_deletes(ops, found)
        sizes = [_size(op) for op in ops if isinstance(
            op, planner.Upload | planner.Download | planner.ConflictCopy)]
        self.stats.planned_files, self.stats.planned_bytes = len(sizes), sum(sizes)
        self.stats.done_files = self.stats.done_bytes = 0
        with self.state.transaction():
            self.state.clear_problems()
            for key, why in found.problems.items():
                self.state.set_problem(key, why)
        for op in ops:
            await self._run(op, found.tree, remote)
        self._save_status(ops, unsettled)
        return [op for op in ops if not isinstance(op, planner.Problem)], unsettled

    def _guard_deletes(self, ops: list[Op], found: Scan) -> None:
        n = planner.count_local_deletes(ops)
        files = sum(1 for v in found.tree.values() if v.kind == "file")
        if self.s.confirm_deletes or n == 0:
            return
        if n > MASS_DELETE_MAX or (n > files / 2 and n > MASS_DELETE_MIN):
            self.state.put("status", json.dumps({
                "at": self.now_ms(), "in_sync": False,
                "error": f"the server asks to delete {n} of {files} local files"}))
            raise DeletesNeedConfirmation(
                f"the server's changes would move {n} of the {files} local files to the "
                "trash; if that is what you want, run again with --confirm-deletes")

    async def run_once(self) -> Stats:
        """Rounds until nothing is left to do (or MAX_ROUNDS)."""
        for _ in range(MAX_ROUNDS):
            ops, unsettled = await self.round()
            if not ops and not unsettled:
                break
            if not ops:
                await asyncio.sleep(SETTLE_NS / 1e9)
        return self.stats

    def in_sync(self) -> bool:
        status = json.loads(self.state.get("status") or "{}")
        return bool(status.get("in_sync"))

    def _save_status(self, ops: list[Op], unsettled: bool) -> None:
        pending = [_describe(op) for op in ops if not isinstance(
            op, planner.Record | planner.Forget | planner.Rebase)]
        status = {
            "at": self.now_ms(),
            "in_sync": not pending and not unsettled and not self.stats.failed,
            "pending": pending[:200],
            "failed": self.stats.failed,
            "problems": self.state.problems(),
            "server": self.api.server,
            "remote": self.s.remote_root,
        }
        self.state.put("status", json.dumps(status))

    # ---- running operations ---------------------------------------------------

    async def _run(self, op: Op, local: dict[str, Local], remote: dict[str, Remote]) -> None:
        key = op.src if isinstance(op, planner.MoveLocal | planner.MoveRemote
                                   | planner.Rebase) else op.key
        try:
            await self._dispatch(op, local)
            self.stats.failed.pop(key, None)
            if isinstance(op, planner.Upload | planner.Download | planner.ConflictCopy):
                self.stats.done_files += 1
                self.stats.done_bytes += _size(op)
            if not isinstance(op, planner.Record | planner.Forget | planner.Rebase):
                self.stats.ops += 1
                self._progress(_describe(op), self.stats)
        except transfer.Changed as exc:
            log.info("%s: %s; next round", key, exc)
        except ApiError as exc:
            if exc.status == 409:
                log.info("%s: the server changed meanwhile (%s); next round", key, exc)
            elif exc.status in (400, 403, 404, 413, 507):
                self.stats.failed[key] = str(exc)
                self.state.set_problem(key, f"the server refused: {exc}")
                log.warning("%s: %s", key, exc)
            else:
                raise
        except PermissionError as exc:
            self.stats.failed[key] = str(exc)
            self.state.set_problem(key, str(exc))
        except OSError as exc:  # something moved in the way since the scan
            log.info("%s: %s; next round", key, exc)

    async def _dispatch(self, op: Op, local: dict[str, Local]) -> None:
        st = self.state
        match op:
            case planner.Record(key, loc, rem):
                st.set_base(key, _base(loc, rem))
                if loc.kind == "file" and (h := st.hashed(key)) is not None:
                    st.set_agreed(key, h)
            case planner.Forget(key):
                st.forget_base(key)
            case planner.Problem(key, reason):
                st.set_problem(key, reason)
            case planner.MkdirLocal(key, rem):
                self.fs.mkdirs(key)
                st.set_base(key, _base(self._stat_local(key), rem))
            case planner.MkdirRemote(key, loc):
                entry = await self._mkdir_remote(key)
                st.set_remote(key, _remote(entry))
                st.set_base(key, _base(loc, _remote(entry)))
            case planner.Upload(key, loc, base_rev):
                await self._upload(key, loc, base_rev)
            case planner.Download(key, rem, expect):
                await self._download(key, rem, expect)
            case planner.DeleteLocal(key, expect):
                self._delete_local(key, expect)
            case planner.DeleteRemote(key, kind, rev):
                # The plan saw the server as of our cursor: the server refuses
                # (409) if anything there changed since, such as a file another
                # device has just put in the folder, and the next round, caught
                # up with the feed, keeps that file and the folder with it.
                try:
                    await self.api.delete(self.rpath(key), rev if kind == "file" else None,
                                          st.get("cursor"))
                except ApiError as exc:
                    if exc.status != 404:
                        raise
                with st.transaction():
                    st.forget_remote(key)
                    st.forget_base(key, subtree=True)
                self.stats.deleted += 1
            case planner.MoveLocal(src, dst, base_key):
                self._move_local(src, dst, local.get(src), base_key or src)
            case planner.MoveRemote(src, dst, base_key):
                await self._move_remote(src, dst, base_key or src)
            case planner.Rebase(src, dst):
                st.move_base(src, dst)
            case planner.ConflictCopy(key, copy, loc, rem):
                await self._conflict_copy(key, copy, loc, rem)

    async def _mkdir_remote(self, key: str) -> Entry:
        try:
            return await self.api.mkdir(self.rpath(key))
        except ApiError as exc:
            if exc.status != 409:
                raise
            entry = await self.api.metadata(self.rpath(key))
            if entry is None or entry.kind != "folder":
                raise
            return entry

    async def _upload(self, key: str, loc: Local, base_rev: int) -> None:
        if parent(key) and not self.state.remote_has(parent(key)):
            await self._mkdir_remote(parent(key))
        try:
            sent, entry = await transfer.upload(
                self.api, self.fs, self.disk(key, loc), self.rpath(key), loc, base_rev=base_rev,
                known=self.state.hashed(key), old=self.state.agreed(key), cache=self.cache,
                cache_file_max=self.cache_file_max, in_flight=self.s.in_flight)
        except ApiError as exc:
            if exc.status != 409:
                raise
            # the answer to an earlier try may have been lost: is ours already there?
            there = await self.api.metadata(self.rpath(key))
            if there is None or there.content_hash != loc.content_hash:
                raise
            entry = there
            sent = None
        assert isinstance(entry, Entry)
        rem = _remote(entry)
        with self.state.transaction():
            self.state.set_remote(key, rem)
            self.state.set_base(key, _base(loc, rem))
            if sent is not None:
                self.state.set_agreed(key, sent.hashed)
        self.stats.uploaded += 1
        self.stats.bytes_sent += sent.bytes_sent if sent is not None else 0

    async def _download(self, key: str, rem: Remote, expect: Local | None) -> None:
        # the local version's blocks (each is checked against its id when read)
        old = (self.state.hashed(key) or self.state.agreed(key)) if expect is not None else None
        if old is not None and expect is not None and (old.ino, old.size, old.mtime_ns) != (
                expect.ino, expect.size, expect.mtime_ns):
            old = None
        record, received = await transfer.download(
            self.api, self.fs, self.disk(key, expect), self.rpath(key), rem, expect, old=old,
            cache=self.cache, cache_file_max=self.cache_file_max, in_flight=self.s.in_flight)
        loc = Local(kind="file", ino=record.ino, content_hash=record.content_hash,
                    size=record.size, mtime_ns=record.mtime_ns, executable=rem.executable)
        with self.state.transaction():
            if record.mtime_ns < self.fs.now_ns() - 2_000_000_000:
                self.state.set_hashed(key, record)
            else:
                self.state.forget_hashed(key)
            self.state.set_agreed(key, record)
            self.state.set_base(key, _base(loc, rem))
        self.stats.downloaded += 1
        self.stats.bytes_received += received

    def _delete_local(self, key: str, expect: Local) -> None:
        path = self.disk(key, expect)
        current = self._stat_local(path)
        if current.ino != expect.ino or (expect.kind == "file" and (
                current.size, current.mtime_ns) != (expect.size, expect.mtime_ns)):
            raise transfer.Changed(f"{path} changed since it was scanned")
        if expect.kind == "folder":
            try:
                self.fs.rmdir(path)
            except OSError:
                # only what the sync never carries may be left (ignored files, our
                # temp debris): the folder goes to the trash with them, kept
                if not self._only_unsynced(path, key):
                    raise transfer.Changed(f"{path} is not empty") from None
                trash_in(self.fs, path, self.now_ms())
        else:
            trash_in(self.fs, path, self.now_ms())
        with self.state.transaction():
            self.state.forget_base(key, subtree=True)
            self.state.forget_hashed(key)
        self.stats.deleted += 1

    def _move_local(self, src: str, dst: str, loc: Local | None, base_key: str) -> None:
        source = self.disk(src, loc)
        there, here = self.fs.stat(dst), self.fs.stat(source)
        if there is not None and not (self.case_insensitive and here is not None
                                      and here.ino == there.ino):
            raise transfer.Changed(f"{dst} exists")
        if self.case_insensitive and fold(source) in {fold(a) for a in _ancestors(dst)}:
            source = self._step_aside(source)
        self.fs.mkdirs(parent(dst))
        self.fs.rename(source, dst)
        with self.state.transaction():
            self.state.move_base(base_key, dst)
            self.state.move_hashed(src, dst)
        self.stats.moved += 1

    def _step_aside(self, source: str) -> str:
        """On a disk that folds case, an item moving into a folder named like
        itself ("Doc.txt" to "doc.txt/c.md") is in its own way: the folder
        cannot be made while it is there.  It steps aside first, to a name the
        sync carries (not a temp name): a client killed right after sees it
        moved on both sides, and the server's place wins."""
        for n in range(1, 1000):
            aside = f"{source} (moving{f' {n}' if n > 1 else ''})"
            if self.fs.stat(aside) is None:
                self.fs.rename(source, aside)
                return aside
        raise transfer.Changed(f"no free name beside {source}")

    async def _move_remote(self, src: str, dst: str, base_key: str) -> None:
        if parent(dst) and not self.state.remote_has(parent(dst)):
            await self._mkdir_remote(parent(dst))
        try:
            entry = await self.api.move(self.rpath(src), self.rpath(dst))
        except ApiError as exc:
            there = await self.api.metadata(self.rpath(dst))
            base = self.state.base().get(base_key)
            if there is None or base is None or there.id != base.remote_id:
                raise exc from None
            entry = there  # the answer to an earlier try was lost: it is done
        with self.state.transaction():
            self.state.move_remote(src, dst)
            self.state.set_remote(dst, _remote(entry))
            self.state.move_base(base_key, dst)
        self.stats.moved += 1

    async def _conflict_copy(self, key: str, copy: str, loc: Local, rem: Remote) -> None:
        source = self.disk(key, loc)
        current = self._stat_local(source)
        if (current.ino, current.size, current.mtime_ns) != (loc.ino, loc.size, loc.mtime_ns):
            raise transfer.Changed(f"{source} changed since it was scanned")
        if self.fs.stat(copy) is not None:
            raise transfer.Changed(f"{copy} exists")
        self.fs.rename(source, copy)
        with self.state.transaction():
            self.state.move_hashed(key, copy)
            self.state.forget_base(key, subtree=True)
        self.stats.conflicts += 1
        log.warning("conflict: %s changed on both sides; ours is kept as %s", key, copy)
        moved = Local(kind="file", ino=loc.ino, content_hash=loc.content_hash, size=loc.size,
                      mtime_ns=loc.mtime_ns, executable=loc.executable)
        await self._upload(copy, moved, 0)
        if rem.kind == "folder":
            self.fs.mkdirs(key)
            self.state.set_base(key, _base(self._stat_local(key), rem))
        else:
            await self._download(key, rem, None)

    def _only_unsynced(self, disk: str, key: str) -> bool:
        """Whether everything under a folder is ignored or the client's debris."""
        for name in self.fs.list(disk):
            sub_disk, sub_key = f"{disk}/{name}", f"{key}/{nfc(name)}"
            st = self.fs.stat(sub_disk)
            if st is None or name.startswith(TEMP_PREFIX):
                continue
            if self.rules.ignored(sub_key, st.kind == "folder"):
                continue
            if st.kind != "folder" or not self._only_unsynced(sub_disk, sub_key):
                return False
        return True

    def _stat_local(self, rel: str) -> Local:
        st = self.fs.stat(rel)
        if st is None:
            raise FileNotFoundError(rel)
        if st.kind == "folder":
            return Local(kind="folder", ino=st.ino, content_hash=None)
        return Local(kind="file", ino=st.ino, content_hash=None, size=st.size,
                     mtime_ns=st.mtime_ns, executable=st.executable)

    # ---- live -----------------------------------------------------------------

    async def run_live(self, *, rescan_s: float = RESCAN_S,
                       stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        tasks = [asyncio.create_task(self._doorbell(stop)),
                 asyncio.create_task(self._watch(stop))]
        busy = 0
        try:
            while not stop.is_set():
                # Cleared before the round looks, not after: a ring or an event
                # arriving while it runs (after it read the feed or scanned)
                # must bring another round.  The doorbell, once rung, waits for
                # the cursor to move, so a lost ring would leave a change
                # unsynced until the rescan.
                self.wake.clear()
                try:
                    ops, unsettled = await self.round()
                except (Unreachable, OSError) as exc:
                    log.warning("%s; trying again", exc)
                    await _sleep_or(stop, 5.0)
                    continue
                except ApiError as exc:
                    if exc.status == 401:
                        raise  # the token was revoked: only a new login helps
                    # a live sync outlasts a bad answer: log it, look again soon
                    log.warning("round stopped by the server's answer (%s); again in 5 s", exc)
                    await _sleep_or(stop, 5.0)
                    continue
                busy = busy + 1 if ops else 0
                if busy >= MAX_ROUNDS:  # a plan that keeps coming back: do not spin
                    log.warning("still not in sync after %d rounds; see selfdrive sync "
                                "--status; trying again in 30 s", busy)
                    await _sleep_or(stop, 30.0)
                    busy = 0
                    continue
                if ops:
                    continue
                timeout = SETTLE_NS / 1e9 if unsettled else rescan_s
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(_first(self.wake, stop), timeout)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _doorbell(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            cursor = self.state.get("cursor")
            if cursor is None:
                await _sleep_or(stop, 0.5)
                continue
            try:
                rang, backoff = await self.api.wait(cursor, WAIT_S)
            except (Unreachable, ApiError) as exc:
                log.info("waiting for changes failed (%s); again soon", exc)
                await _sleep_or(stop, 5.0)
                continue
            if backoff:
                await _sleep_or(stop, backoff)
            if rang:
                self._cursor_moved.clear()
                self.wake.set()
                while self.state.get("cursor") == cursor and not stop.is_set():
                    await self._cursor_moved.wait()
                    self._cursor_moved.clear()

    async def _watch(self, stop: asyncio.Event) -> None:
        import watchfiles

        from selfdrive.sync.ignore import watch_filter
        try:
            async for _changes in watchfiles.awatch(
                self.root, watch_filter=watch_filter(self.root), step=30, debounce=400,
                stop_event=stop, rust_timeout=1000, yield_on_timeout=False,
            ):
                self.wake.set()
        except Exception as exc:  # e.g. the inotify watch limit reached
            log.warning(
                "file-system events are unavailable (%s); on Linux raise "
                "fs.inotify.max_user_watches (sysctl). Falling back to a rescan every "
                "10 s", exc)
            while not stop.is_set():
                await _sleep_or(stop, 10.0)
                self.wake.set()


async def _first(a: asyncio.Event, b: asyncio.Event) -> None:
    ta, tb = asyncio.create_task(a.wait()), asyncio.create_task(b.wait())
    try:
        await asyncio.wait({ta, tb}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        ta.cancel()
        tb.cancel()


async def _sleep_or(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def _ancestors(key: str) -> list[str]:
    out = []
    while key := parent(key):
        out.append(key)
    return out


def _remote(e: Entry) -> Remote:
    return Remote(kind="folder" if e.kind == "folder" else "file", id=e.id,
                  content_hash=e.content_hash, size=e.size, rev=e.rev or 0,
                  executable=bool(e.executable), mtime=e.mtime)


def _base(loc: Local, rem: Remote) -> Base:
    return Base(kind=loc.kind, remote_id=rem.id, ino=loc.ino, content_hash=loc.content_hash,
                size=loc.size, rev=rem.rev, mtime_ns=loc.mtime_ns, executable=loc.executable)




def _size(op: Op) -> int:
    if isinstance(op, planner.Upload):
        return op.local.size
    if isinstance(op, planner.Download):
        return op.remote.size
    if isinstance(op, planner.ConflictCopy):
        return op.local.size + op.remote.size
    return 0


def _describe(op: Op) -> str:
    match op:
        case planner.Upload(key):
            return f"upload {key}"
        case planner.Download(key):
            return f"download {key}"
        case planner.MkdirLocal(key) | planner.MkdirRemote(key):
            return f"make folder {key}"
        case planner.DeleteLocal(key):
            return f"move {key} to the local trash"
        case planner.DeleteRemote(key):
            return f"delete {key} on the server"
        case planner.MoveLocal(src, dst) | planner.MoveRemote(src, dst):
            return f"move {src} -> {dst}"
        case planner.Rebase(src, dst):
            return f"record the move {src} -> {dst}"
        case planner.ConflictCopy(key, copy):
            return f"conflict: keep ours as {copy}"
        case planner.Problem(key, reason):
            return f"{key}: {reason}"
        case planner.Record(key) | planner.Forget(key):
            return f"record {key}"
    return repr(op)


def _registry_read(path: Path | None) -> dict[str, str]:
    if path is None or not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _registry_add(path: Path, root: str, mark: str) -> None:
    data = _registry_read(path)
    data[root] = mark
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def status_of(root: Path) -> dict[str, object] | None:
    """The last round's status of a sync root, for `selfdrive sync --status`."""
    db = root.resolve() / STATE_DIR / "state.db"
    if not db.exists():
        return None
    state = State(db)
    try:
        status = json.loads(state.get("status") or "{}")
        status["cursor"] = state.get("cursor")
        return dict(status)
    finally:
        state.close()


__all__ = [
    "Awaitable",
    "Engine",
    "Settings",
    "Stats",
    "SyncError",
    "shutil",
    "status_of",
    "under",
]
