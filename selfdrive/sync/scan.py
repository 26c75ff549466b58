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
from collections.abc import Iterator
from dataclasses import dataclass, field

from selfdrive.core.blockhash import block_id, content_hash
from selfdrive.core.chunking import StreamChunker
from selfdrive.sync.fs import FS, Reader, Stat
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


def scan(fs: FS, state: State, rules: IgnoreRules, *, now_ns: int,
         granularity_ns: int = DEFAULT_GRANULARITY_NS) -> Scan:
    """The local tree of *fs* (runs in a worker thread: it reads files)."""
    out = Scan()
    _walk(fs, "", "", state, rules, out, now_ns - granularity_ns)
    return out


def _walk(fs: FS, key_prefix: str, disk_prefix: str, state: State, rules: IgnoreRules,
          out: Scan, racy_after_ns: int) -> None:
    try:
        names = fs.list(disk_prefix.rstrip("/"))
    except OSError as exc:
        out.problems[key_prefix.rstrip("/") or "."] = f"cannot list: {exc.strerror}"
        return
    for entry in sorted(names):
        disk = disk_prefix + entry
        key = key_prefix + nfc(entry)
        if (not key_prefix and entry == STATE_DIR) or entry.startswith(TEMP_PREFIX):
            continue
        st = fs.stat(disk)
        if st is None:
            continue  # gone since the listing
        is_dir = st.kind == "folder"
        if rules.ignored(key, is_dir):
            continue
        if st.kind == "symlink":
            out.problems[key] = "a symbolic link: not followed, not synced"
            continue
        if os.name == "nt" and (why := windows_problem(entry)):
            out.problems[key] = why
            continue
        if key in out.tree:
            out.problems[key] = "two names here differ only in Unicode normalisation"
            continue
        local_disk = disk if disk != key else None
        if is_dir:
            out.tree[key] = Local(kind="folder", ino=st.ino, content_hash=None, disk=local_disk)
            _walk(fs, key + "/", disk + "/", state, rules, out, racy_after_ns)
        elif st.kind == "file":
            out.tree[key] = _file(fs, disk, key, st, state, out, racy_after_ns, local_disk)
        else:
            out.problems[key] = "not a regular file or folder"


def _file(fs: FS, rel: str, key: str, st: Stat, state: State, out: Scan,
          racy_after_ns: int, disk: str | None) -> Local:
    known = state.hashed(key)
    if known is not None and _matches(known, st) and known.mtime_ns < racy_after_ns:
        return Local(kind="file", ino=st.ino, content_hash=known.content_hash,
                     size=st.size, mtime_ns=st.mtime_ns, executable=st.executable, disk=disk)
    try:
        hashed = hash_file(fs, rel)
    except OSError:
        hashed = None
    unsettled = Local(kind="file", ino=st.ino, content_hash=None, size=st.size,
                      mtime_ns=st.mtime_ns, executable=st.executable, disk=disk)
    if hashed is None or not _matches(hashed, st):
        return unsettled  # written to while we read it: look again later
    out.hashed_bytes += hashed.size
    if hashed.mtime_ns < racy_after_ns:
        state.set_hashed(key, hashed)
    return Local(kind="file", ino=st.ino, content_hash=hashed.content_hash,
                 size=st.size, mtime_ns=st.mtime_ns, executable=st.executable, disk=disk)


def _matches(h: Hashed, st: Stat) -> bool:
    return (h.ino, h.size, h.mtime_ns, h.ctime_ns) == st.signature()


def hash_file(fs: FS, rel: str) -> Hashed:
    """Chunk and hash a file; the stat is taken before reading, so if the file
    changes meanwhile the caller sees a stat that no longer matches (and the
    size is -1)."""
    f = fs.open(rel)
    try:
        before = f.stat()
        blocks: list[bytes] = []
        sizes: list[int] = []
        for chunk in read_chunks(f):
            blocks.append(block_id(chunk))
            sizes.append(len(chunk))
        after = f.stat()
    finally:
        f.close()
    same = before.signature() == after.signature()
    st = before if same else after
    return Hashed(ino=st.ino, size=sum(sizes) if same else -1, mtime_ns=st.mtime_ns,
                  ctime_ns=st.ctime_ns, content_hash=content_hash(blocks).hex(), blocks=blocks,
                  sizes=sizes)


def read_chunks(f: Reader) -> Iterator[memoryview]:
    """The chunks of an open file, streamed."""
    chunker = StreamChunker()
    while piece := f.read(READ_BYTES):
        yield from chunker.feed(piece)
    yield from chunker.finish()
