"""Scanning the sync root into the local tree (tree.py).

A file is hashed the way the server chunks it (selfdrive.core.chunking), so
its content hash can be compared with the server's without a transfer.  A
hash is reused while the file's stat (inode, size, mtime, ctime) is unchanged,
except for a file modified within the file system's timestamp granularity of
the scan: a write in the same tick would leave the stat unchanged, so such a
file is hashed again next time (git's "racy" rule).  A file whose stat changes
while it is hashed is still being written: it gets no hash and the planner
leaves it alone until a later scan finds it stable.

Symlinks are not followed; they, ignored names and names this platform cannot
hold are reported as problems, not synced.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from selfdrive.core.blockhash import block_id, content_hash
from selfdrive.core.chunking import StreamChunker
from selfdrive.sync.ignore import STATE_DIR, TEMP_PREFIX, IgnoreRules
from selfdrive.sync.names import nfc, windows_problem
from selfdrive.sync.state import Hashed, State
from selfdrive.sync.tree import Local

READ_BYTES = 4 * 1024 * 1024
#: mtimes closer than this to the scan are "racy" (FAT and SMB keep 2 s)
DEFAULT_GRANULARITY_NS = 2_000_000_000


@dataclass
class Scan:
    tree: dict[str, Local] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    hashed_bytes: int = 0


def scan(root: Path, state: State, rules: IgnoreRules, *, now_ns: int,
         granularity_ns: int = DEFAULT_GRANULARITY_NS) -> Scan:
    """The local tree under *root* (runs in a worker thread: it reads files)."""
    out = Scan()
    _walk(root, "", "", state, rules, out, now_ns - granularity_ns)
    return out


def _walk(root: Path, key_prefix: str, disk_prefix: str, state: State, rules: IgnoreRules,
          out: Scan, racy_after_ns: int) -> None:
    try:
        entries = list(os.scandir(root / disk_prefix if disk_prefix else root))
    except OSError as exc:
        out.problems[key_prefix.rstrip("/") or "."] = f"cannot list: {exc.strerror}"
        return
    for entry in sorted(entries, key=lambda e: e.name):
        disk = disk_prefix + entry.name
        key = key_prefix + nfc(entry.name)
        if not key_prefix and entry.name == STATE_DIR:
            continue
        if entry.name.startswith(TEMP_PREFIX):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue  # gone since the listing
        is_dir = stat.S_ISDIR(st.st_mode)
        if rules.ignored(key, is_dir):
            continue
        if stat.S_ISLNK(st.st_mode):
            out.problems[key] = "a symbolic link: not followed, not synced"
            continue
        if os.name == "nt" and (why := windows_problem(entry.name)):
            out.problems[key] = why
            continue
        if key in out.tree:
            out.problems[key] = "two names here differ only in Unicode normalisation"
            continue
        local_disk = disk if disk != key else None
        if is_dir:
            out.tree[key] = Local(kind="folder", ino=st.st_ino, content_hash=None, disk=local_disk)
            _walk(root, key + "/", disk + "/", state, rules, out, racy_after_ns)
        elif stat.S_ISREG(st.st_mode):
            out.tree[key] = _file(root / disk, key, st, state, out, racy_after_ns, local_disk)
        else:
            out.problems[key] = "not a regular file or folder"


def _file(path: Path, key: str, st: os.stat_result, state: State, out: Scan,
          racy_after_ns: int, disk: str | None) -> Local:
    executable = bool(st.st_mode & stat.S_IXUSR)
    known = state.hashed(key)
    if known is not None and _matches(known, st) and known.mtime_ns < racy_after_ns:
        return Local(kind="file", ino=st.st_ino, content_hash=known.content_hash,
                     size=st.st_size, mtime_ns=st.st_mtime_ns, executable=executable, disk=disk)
    try:
        hashed = hash_file(path)
    except OSError:
        hashed = None
    unsettled = Local(kind="file", ino=st.st_ino, content_hash=None, size=st.st_size,
                      mtime_ns=st.st_mtime_ns, executable=executable, disk=disk)
    if hashed is None or not _matches(hashed, st):
        return unsettled  # written to while we read it: look again later
    out.hashed_bytes += hashed.size
    if hashed.mtime_ns < racy_after_ns:
        state.set_hashed(key, hashed)
    return Local(kind="file", ino=st.st_ino, content_hash=hashed.content_hash,
                 size=st.st_size, mtime_ns=st.st_mtime_ns, executable=executable, disk=disk)


def _matches(h: Hashed, st: os.stat_result) -> bool:
    return (h.ino, h.size, h.mtime_ns, h.ctime_ns) == (
        st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def hash_file(path: Path) -> Hashed:
    """Chunk and hash a file; the stat is taken before reading, so if the file
    changes meanwhile the caller sees a stat that no longer matches."""
    with open(path, "rb") as f:
        before = os.fstat(f.fileno())
        blocks: list[bytes] = []
        sizes: list[int] = []
        for chunk in read_chunks(f):
            blocks.append(block_id(chunk))
            sizes.append(len(chunk))
        after = os.fstat(f.fileno())
    st = before if _same_stat(before, after) else after
    size = sum(sizes) if _same_stat(before, after) else -1
    return Hashed(ino=st.st_ino, size=size, mtime_ns=st.st_mtime_ns, ctime_ns=st.st_ctime_ns,
                  content_hash=content_hash(blocks).hex(), blocks=blocks, sizes=sizes)


def read_chunks(f: object) -> Iterator[memoryview]:
    """The chunks of an open binary file, streamed."""
    reader = getattr(f, "read")  # noqa: B009 - any binary file object
    chunker = StreamChunker()
    while piece := reader(READ_BYTES):
        yield from chunker.feed(piece)
    yield from chunker.finish()


def _same_stat(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_ino, a.st_size, a.st_mtime_ns, a.st_ctime_ns) == (
        b.st_ino, b.st_size, b.st_mtime_ns, b.st_ctime_ns)
