"""The local trash: where the sync puts what it removes from the disk.

Terms:

*trash*
    ``<root>/.selfdrive/trash/``, inside the client's state folder (ignored
    by the sync, on the same file system as the root).
*day folder*
    ``trash/<YYYY-MM-DD>/`` (UTC): everything the sync removed that day, at
    its rel path, e.g. ``trash/2026-11-26/docs/report.txt``.  A name already
    taken that day gets a number: ``report (2).txt``.

The sync never deletes a user's file: when a deletion or a replacement
arrives from the server, the local item is *moved* here with one rename, so
it is cheap, atomic, and can be undone by hand.  Only `purge_older_than`
deletes, and only whole day folders of its own making.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import time
from pathlib import Path

from selfdrive.core.clock import SystemClock
from selfdrive.core.conflicts import numbered_name
from selfdrive.sync.fs import FS, DiskFS
from selfdrive.sync.ignore import STATE_DIR

TRASH_DIR = f"{STATE_DIR}/trash"

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_DAY_MS = 86_400_000


def trash_dir(root: Path) -> Path:
    return root / TRASH_DIR


def move_to_trash(root: Path, rel_path: str, now_ms: int) -> Path:
    """Move the file or folder at *rel_path* into today's day folder; where it went.

    Raises FileNotFoundError if it is gone already (nothing to keep), and
    OSError (EXDEV) if it sits on another file system mounted inside the root:
    then it stays where it is, since copying could fail halfway.
    """
    return root / trash_in(DiskFS(root, case_insensitive=False), rel_path, now_ms)


def trash_in(fs: FS, rel_path: str, now_ms: int) -> str:
    """`move_to_trash` on any FS; returns the new path relative to the root."""
    parts = rel_path.split("/")
    if any(p in ("", ".", "..") for p in parts) or parts[0] == STATE_DIR:
        raise ValueError(f"not a path the sync manages: {rel_path!r}")
    if fs.stat(rel_path) is None:
        raise FileNotFoundError(f"nothing to move to the trash at {rel_path}")
    folder = "/".join([TRASH_DIR, _day(now_ms), *parts[:-1]])
    fs.mkdirs(folder)
    # Only the sync writes here, one item at a time, so a name found free stays
    # free until the rename (a rename would replace a file on POSIX).
    number = 1
    while fs.stat(target := f"{folder}/{numbered_name(parts[-1], number)}") is not None:
        number += 1
    fs.rename(rel_path, target)
    return target


def purge_older_than(root: Path, days: int, now_ms: int | None = None) -> int:
    """Delete the day folders whose every item is more than *days* days old
    (so today's folder always stays); how many were deleted.

    Anything in the trash that is not a day folder is left alone.
    """
    now_ms = SystemClock().now_ms() if now_ms is None else now_ms
    oldest_kept = _day(now_ms - days * _DAY_MS)
    try:
        entries = list(os.scandir(trash_dir(root)))
    except FileNotFoundError:
        return 0
    purged = 0
    # ISO dates sort as strings, so "older" is a string comparison.
    for entry in entries:
        if _DAY.fullmatch(entry.name) and entry.name < oldest_kept and entry.is_dir(
            follow_symlinks=False
        ):
            _rmtree(Path(entry.path))
            purged += 1
    return purged


def _day(ms: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ms / 1000))


def _rmtree(path: Path) -> None:
    # A read-only folder (synced from a share, or chmod'ed by its owner) stops
    # rmtree on POSIX, a read-only file on Windows; these are ours to delete,
    # so make them writable first (top-down, so that walk can then go in).
    _make_writable(path)
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            _make_writable(Path(dirpath, name))
    shutil.rmtree(path)


def _make_writable(path: Path) -> None:
    mode = os.lstat(path).st_mode
    if stat.S_ISLNK(mode):
        return
    wanted = mode | stat.S_IRUSR | stat.S_IWUSR | (stat.S_IXUSR if stat.S_ISDIR(mode) else 0)
    if wanted != mode:
        os.chmod(path, wanted)
