"""`selfdrive sync DIR`: the command around the engine.

Exit codes: 0 in sync; 1 not in sync (a reason is printed); 3 the marker is
missing or deletes need `--confirm-deletes`; 4 the server cannot be reached.
Ctrl-C (SIGINT) or SIGTERM stops at once: every write is a temp file renamed
into place and every state change its own transaction, so nothing is left
half-written, and the next run carries on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
import time
from pathlib import Path

from selfdrive.sync import credentials
from selfdrive.sync.api import Api, Unreachable
from selfdrive.sync.engine import (
    DeletesNeedConfirmation,
    Engine,
    MarkerMissing,
    Settings,
    Stats,
    status_of,
)

log = logging.getLogger("selfdrive.sync")


class Progress:
    """Files and bytes so far, the rate and (on a first sync) time left: one
    rewritten line on a terminal, a log line every few seconds otherwise."""

    def __init__(self, tty: bool) -> None:
        self.tty = tty
        self.started = time.monotonic()
        self._last = 0.0

    def __call__(self, what: str, stats: Stats) -> None:
        now = time.monotonic()
        if now - self._last < (0.2 if self.tty else 5.0):
            return
        self._last = now
        moved = stats.bytes_sent + stats.bytes_received
        rate = stats.done_bytes / max(now - self.started, 1e-3)
        left = max(stats.planned_bytes - stats.done_bytes, 0)
        eta = f", {_duration(left / rate)} left" if rate > 0 and left else ""
        line = (f"{stats.done_files}/{stats.planned_files} files, "
                f"{_human(stats.done_bytes)}/{_human(stats.planned_bytes)} "
                f"at {_human(rate)}/s{eta} ({_human(moved)} on the wire) - {what}")
        if self.tty:
            sys.stderr.write("\r\x1b[2K" + line[:160])
            sys.stderr.flush()
        else:
            log.info("%s", line)

    def done(self) -> None:
        if self.tty:
            sys.stderr.write("\n")


def run(args: object) -> int:
    root = Path(getattr(args, "dir")).expanduser()  # noqa: B009
    if getattr(args, "status", False):
        return _status(root)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s",
                        datefmt="%H:%M:%S")
    if not root.is_dir():
        print(f"selfdrive: {root} is not a folder", file=sys.stderr)
        return 1
    login = credentials.load(getattr(args, "server", None))
    return asyncio.run(_sync(root, login, args))


async def _sync(root: Path, login: credentials.Login, args: object) -> int:
    once = bool(getattr(args, "once", False))
    api = Api(login.server, login.token, max_tries=8 if once else None)
    settings = Settings(
        root=root, remote_root=_remote_root(getattr(args, "remote", None) or "/"),
        device=login.device_name, confirm_deletes=bool(getattr(args, "confirm_deletes", False)),
        registry=credentials.config_dir() / "roots.json")
    progress = Progress(sys.stderr.isatty())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        engine = Engine(settings, api, progress)
    except MarkerMissing as exc:
        print(f"selfdrive: {exc}", file=sys.stderr)
        await api.aclose()
        return 3
    try:
        work = asyncio.create_task(engine.run_once() if once else engine.run_live(stop=stop))
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({work, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if not work.done():
            work.cancel()  # safe at any await: see the module docstring
            await asyncio.gather(work, return_exceptions=True)
            progress.done()
            print("selfdrive: stopped", file=sys.stderr)
            return 0 if not once else 1
        stopper.cancel()
        work.result()
        progress.done()
        synced = engine.in_sync()
    except DeletesNeedConfirmation as exc:
        print(f"selfdrive: {exc}", file=sys.stderr)
        return 3
    except Unreachable as exc:
        print(f"selfdrive: the server cannot be reached: {exc}", file=sys.stderr)
        return 4
    finally:
        engine.close()
        await api.aclose()
    s = engine.stats
    if synced:
        print(f"in sync: {s.uploaded} uploaded, {s.downloaded} downloaded, {s.moved} moved, "
              f"{s.deleted} deleted, {s.conflicts} conflicts "
              f"({_human(s.bytes_sent)} sent, {_human(s.bytes_received)} received)")
        return 0
    status = status_of(root) or {}
    print("not in sync:", file=sys.stderr)
    for key, why in {**dict(status.get("problems") or {}),  # type: ignore[call-overload]
                     **s.failed}.items():
        print(f"  {key}: {why}", file=sys.stderr)
    for what in list(status.get("pending") or [])[:20]:  # type: ignore[call-overload]
        print(f"  pending: {what}", file=sys.stderr)
    return 1


def _status(root: Path) -> int:
    status = status_of(root)
    if status is None:
        print(f"{root} is not a synced folder (no .selfdrive/state.db)")
        return 1
    at = status.get("at")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(int(at) / 1000)) if isinstance(
        at, int) else "never"
    print(f"{root} <-> {status.get('server', '?')}{status.get('remote', '')}")
    print(f"last round: {when}; {'in sync' if status.get('in_sync') else 'NOT in sync'}")
    if status.get("error"):
        print(f"stopped: {status['error']}")
    for what in list(status.get("pending") or []):  # type: ignore[call-overload]
        print(f"pending: {what}")
    for key, why in dict(status.get("failed") or {}).items():  # type: ignore[call-overload]
        print(f"failed: {key}: {why}")
    for key, why in dict(status.get("problems") or {}).items():  # type: ignore[call-overload]
        print(f"not synced: {key}: {why}")
    if "--json" in sys.argv:
        print(json.dumps(status))
    return 0 if status.get("in_sync") else 1


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def _remote_root(path: str) -> str:
    path = "/" + path.strip("/")
    return path


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"
