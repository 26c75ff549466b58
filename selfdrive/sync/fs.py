"""The file system under a sync root, behind one small interface.

The engine, the scanner and the transfers reach the disk only through `FS`,
with '/'-separated paths relative to the root.  `DiskFS` is the real thing;
`MemoryFS` is an in-memory disk for the seeded simulation
(tests/sync/test_simulation.py) that can fold case like macOS and Windows and
keep mtimes as coarsely as FAT (2 s), on a clock the test drives.

Contract (both implementations, as POSIX does):

- `stat` does not follow symlinks and answers None when nothing is there;
- `rename` replaces a file at the target but fails on a non-empty folder, and
  fails (OSError EINVAL) when moving a folder into itself;
- `create_temp` makes a new, empty, exclusively created file;
- a name that differs only in case from an existing one reaches that one on a
  file system that folds case; `list` gives names as stored.
"""

from __future__ import annotations

import asyncio
import errno
import os
import secrets
import stat as st_mod
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal, Protocol, TypeVar

from selfdrive.sync.names import fold, probe_case_insensitive

StatKind = Literal["file", "folder", "symlink", "other"]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Stat:
    kind: StatKind
    ino: int
    size: int = 0
    mtime_ns: int = 0
    ctime_ns: int = 0
    executable: bool = False

    def signature(self) -> tuple[int, int, int, int]:
        """What tells one version of a file from another without reading it."""
        return (self.ino, self.size, self.mtime_ns, self.ctime_ns)


class Reader(Protocol):
    def read(self, n: int) -> bytes: ...
    def pread(self, n: int, at: int) -> bytes: ...
    def stat(self) -> Stat: ...
    def close(self) -> None: ...


class Writer(Protocol):
    def write(self, data: bytes) -> None: ...
    def fsync(self) -> None: ...
    def close(self) -> None: ...


class FS(Protocol):
    case_insensitive: bool

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """Run blocking work (reading, hashing): in a worker thread on a real
        disk, inline in memory so that a simulation stays deterministic."""
        ...

    def now_ns(self) -> int: ...
    def list(self, rel: str) -> list[str]: ...
    def stat(self, rel: str) -> Stat | None: ...
    def open(self, rel: str) -> Reader: ...
    def create_temp(self, folder: str, prefix: str) -> tuple[str, Writer]: ...
    def set_meta(self, rel: str, *, mtime_ns: int | None, executable: bool) -> None: ...
    def rename(self, src: str, dst: str) -> None: ...
    def mkdirs(self, rel: str) -> None: ...
    def rmdir(self, rel: str) -> None: ...
    def unlink(self, rel: str) -> None: ...
    def fsync_dir(self, rel: str) -> None: ...
    def read_text(self, rel: str) -> str | None: ...
    def write_text(self, rel: str, text: str) -> None: ...


def _parent(rel: str) -> str:
    return rel.rpartition("/")[0]


# ---- the real disk ----------------------------------------------------------------


class _DiskReader:
    def __init__(self, path: Path) -> None:
        self._f: BinaryIO = open(path, "rb")  # noqa: SIM115 - closed by close()

    def read(self, n: int) -> bytes:
        return self._f.read(n)

    def pread(self, n: int, at: int) -> bytes:
        return os.pread(self._f.fileno(), n, at)

    def stat(self) -> Stat:
        return _stat(os.fstat(self._f.fileno()))

    def close(self) -> None:
        self._f.close()


class _DiskWriter:
    def __init__(self, f: BinaryIO) -> None:
        self._f = f

    def write(self, data: bytes) -> None:
        self._f.write(data)

    def fsync(self) -> None:
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        self._f.close()


def _stat(s: os.stat_result) -> Stat:
    mode = s.st_mode
    kind: StatKind = ("folder" if st_mod.S_ISDIR(mode) else "file" if st_mod.S_ISREG(mode)
                      else "symlink" if st_mod.S_ISLNK(mode) else "other")
    return Stat(kind, s.st_ino, s.st_size if kind == "file" else 0, s.st_mtime_ns,
                s.st_ctime_ns, bool(mode & st_mod.S_IXUSR) and kind == "file")


class DiskFS:
    """The sync root on the real disk."""

    def __init__(self, root: Path, *, case_insensitive: bool | None = None) -> None:
        self.root = root
        self.case_insensitive = (probe_case_insensitive(root) if case_insensitive is None
                                 else case_insensitive)

    def _p(self, rel: str) -> Path:
        return self.root / rel if rel else self.root

    def now_ns(self) -> int:
        return time.time_ns()

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.to_thread(fn, *args)

    def list(self, rel: str) -> list[str]:
        return os.listdir(self._p(rel))

    def stat(self, rel: str) -> Stat | None:
        try:
            return _stat(os.lstat(self._p(rel)))
        except (FileNotFoundError, NotADirectoryError):
            return None

    def open(self, rel: str) -> Reader:
        return _DiskReader(self._p(rel))

    def create_temp(self, folder: str, prefix: str) -> tuple[str, Writer]:
        rel = f"{folder}/{prefix}{secrets.token_hex(6)}" if folder else (
            prefix + secrets.token_hex(6))
        f = open(self._p(rel), "xb")  # noqa: SIM115 - the Writer closes it
        return rel, _DiskWriter(f)

    def set_meta(self, rel: str, *, mtime_ns: int | None, executable: bool) -> None:
        path = self._p(rel)
        if mtime_ns is not None:
            os.utime(path, ns=(mtime_ns, mtime_ns))
        mode = os.stat(path).st_mode
        os.chmod(path, (mode | 0o111) if executable else (mode & ~0o111))

    def rename(self, src: str, dst: str) -> None:
        os.rename(self._p(src), self._p(dst))

    def mkdirs(self, rel: str) -> None:
        self._p(rel).mkdir(parents=True, exist_ok=True)

    def rmdir(self, rel: str) -> None:
        self._p(rel).rmdir()

    def unlink(self, rel: str) -> None:
        self._p(rel).unlink(missing_ok=True)

    def fsync_dir(self, rel: str) -> None:
        fd = os.open(self._p(rel), os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def read_text(self, rel: str) -> str | None:
        try:
            return self._p(rel).read_text()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def write_text(self, rel: str, text: str) -> None:
        tmp = self._p(rel + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, self._p(rel))


# ---- an in-memory disk for the simulation -------------------------------------------


@dataclass
class _Node:
    kind: Literal["file", "folder"]
    ino: int
    data: bytes = b""
    mtime_ns: int = 0
    ctime_ns: int = 0
    executable: bool = False
    children: dict[str, _Node] = field(default_factory=dict)  # name as stored -> node


class MemoryFS:
    """A disk in memory.  *granularity_ns* truncates every mtime it stores (2 s
    for FAT); *case_insensitive* folds names as macOS does by default."""

    def __init__(self, clock: Callable[[], int], *, case_insensitive: bool = False,
                 granularity_ns: int = 1) -> None:
        self.case_insensitive = case_insensitive
        self.granularity_ns = granularity_ns
        self._clock = clock
        self._ino = 1
        self.root = _Node("folder", self._next_ino())

    def _next_ino(self) -> int:
        self._ino += 1
        return self._ino

    def now_ns(self) -> int:
        return self._clock()

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        return fn(*args)

    def _stamp(self) -> int:
        now = self._clock()
        return now - now % self.granularity_ns

    def _key(self, name: str) -> str:
        return fold(name) if self.case_insensitive else name

    def _child(self, folder: _Node, name: str) -> tuple[str, _Node] | None:
        if name in folder.children:
            return name, folder.children[name]
        if self.case_insensitive:
            k = self._key(name)
            for stored, node in folder.children.items():
                if self._key(stored) == k:
                    return stored, node
        return None

    def _walk(self, rel: str) -> _Node | None:
        node = self.root
        for part in rel.split("/") if rel else []:
            if node.kind != "folder":
                return None
            found = self._child(node, part)
            if found is None:
                return None
            node = found[1]
        return node

    def _folder_of(self, rel: str) -> tuple[_Node, str]:
        folder = self._walk(_parent(rel))
        if folder is None:
            raise FileNotFoundError(errno.ENOENT, "no such folder", _parent(rel))
        if folder.kind != "folder":
            raise NotADirectoryError(errno.ENOTDIR, "not a folder", _parent(rel))
        return folder, rel.rpartition("/")[2]

    def list(self, rel: str) -> list[str]:
        node = self._walk(rel)
        if node is None:
            raise FileNotFoundError(errno.ENOENT, "no such folder", rel)
        if node.kind != "folder":
            raise NotADirectoryError(errno.ENOTDIR, "not a folder", rel)
        return list(node.children)

    def stat(self, rel: str) -> Stat | None:
        node = self._walk(rel)
        if node is None:
            return None
        return Stat(node.kind, node.ino, len(node.data), node.mtime_ns, node.ctime_ns,
                    node.executable)

    def open(self, rel: str) -> Reader:
        node = self._walk(rel)
        if node is None or node.kind != "file":
            raise FileNotFoundError(errno.ENOENT, "no such file", rel)
        return _MemReader(self, node)

    def create_temp(self, folder: str, prefix: str) -> tuple[str, Writer]:
        name = prefix + secrets.token_hex(6)
        rel = f"{folder}/{name}" if folder else name
        parent, _ = self._folder_of(rel)
        node = _Node("file", self._next_ino(), mtime_ns=self._stamp(), ctime_ns=self._clock())
        parent.children[name] = node
        return rel, _MemWriter(self, node)

    def write_file(self, rel: str, data: bytes, *, executable: bool = False) -> None:
        """What a user's program does: write a file in place (made if new)."""
        parent, name = self._folder_of(rel)
        found = self._child(parent, name)
        if found is not None and found[1].kind != "file":
            raise IsADirectoryError(errno.EISDIR, "a folder", rel)
        node = found[1] if found else _Node("file", self._next_ino())
        node.data, node.executable = data, executable
        node.mtime_ns, node.ctime_ns = self._stamp(), self._clock()
        if found is None:
            parent.children[name] = node

    def set_meta(self, rel: str, *, mtime_ns: int | None, executable: bool) -> None:
        node = self._walk(rel)
        if node is None:
            raise FileNotFoundError(errno.ENOENT, "gone", rel)
        if mtime_ns is not None:
            node.mtime_ns = mtime_ns - mtime_ns % self.granularity_ns
        node.executable = executable
        node.ctime_ns = self._clock()

    def rename(self, src: str, dst: str) -> None:
        sfolder, sname = self._folder_of(src)
        found = self._child(sfolder, sname)
        if found is None:
            raise FileNotFoundError(errno.ENOENT, "no such file", src)
        stored, node = found
        if node.kind == "folder" and (dst == src or dst.startswith(src + "/")) and not (
                self.case_insensitive and fold(dst) == fold(src)):
            raise OSError(errno.EINVAL, "a folder into itself", dst)
        dfolder, dname = self._folder_of(dst)
        there = self._child(dfolder, dname)
        if there is not None and there[1] is not node:
            if there[1].kind == "folder" and (node.kind != "folder" or there[1].children):
                raise OSError(errno.ENOTEMPTY if there[1].children else errno.EISDIR,
                              "in the way", dst)
            if node.kind == "folder" and there[1].kind != "folder":
                raise NotADirectoryError(errno.ENOTDIR, "a file in the way", dst)
            del dfolder.children[there[0]]
        del sfolder.children[stored]
        dfolder.children[dname] = node
        node.ctime_ns = self._clock()

    def mkdirs(self, rel: str) -> None:
        node = self.root
        for part in rel.split("/") if rel else []:
            found = self._child(node, part)
            if found is None:
                new = _Node("folder", self._next_ino(), mtime_ns=self._stamp())
                node.children[part] = new
                node = new
            elif found[1].kind != "folder":
                raise FileExistsError(errno.EEXIST, "a file in the way", rel)
            else:
                node = found[1]

    def rmdir(self, rel: str) -> None:
        folder, name = self._folder_of(rel)
        found = self._child(folder, name)
        if found is None:
            raise FileNotFoundError(errno.ENOENT, "gone", rel)
        if found[1].kind != "folder":
            raise NotADirectoryError(errno.ENOTDIR, "not a folder", rel)
        if found[1].children:
            raise OSError(errno.ENOTEMPTY, "not empty", rel)
        del folder.children[found[0]]

    def unlink(self, rel: str) -> None:
        folder, name = self._folder_of(rel)
        found = self._child(folder, name)
        if found is not None and found[1].kind == "file":
            del folder.children[found[0]]

    def fsync_dir(self, rel: str) -> None:
        return None

    def read_text(self, rel: str) -> str | None:
        node = self._walk(rel)
        return None if node is None or node.kind != "file" else node.data.decode()

    def write_text(self, rel: str, text: str) -> None:
        self.write_file(rel, text.encode())

    def files(self) -> dict[str, bytes | None]:
        """Every item: path -> content (None for a folder), names as stored."""
        out: dict[str, bytes | None] = {}

        def walk(node: _Node, prefix: str) -> None:
            for name, child in node.children.items():
                rel = prefix + name
                out[rel] = child.data if child.kind == "file" else None
                if child.kind == "folder":
                    walk(child, rel + "/")
        walk(self.root, "")
        return out


class _MemReader:
    def __init__(self, fs: MemoryFS, node: _Node) -> None:
        self._fs, self._node, self._at = fs, node, 0
        self._data = node.data  # a read sees the content at open, like a snapshot

    def read(self, n: int) -> bytes:
        out = self._node.data[self._at:self._at + n]
        self._at += len(out)
        return out

    def pread(self, n: int, at: int) -> bytes:
        return self._node.data[at:at + n]

    def stat(self) -> Stat:
        n = self._node
        return Stat("file", n.ino, len(n.data), n.mtime_ns, n.ctime_ns, n.executable)

    def close(self) -> None:
        return None


class _MemWriter:
    def __init__(self, fs: MemoryFS, node: _Node) -> None:
        self._fs, self._node = fs, node
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> None:
        self._node.data += data
        self._node.mtime_ns, self._node.ctime_ns = self._fs._stamp(), self._fs.now_ns()

    def fsync(self) -> None:
        return None

    def close(self) -> None:
        return None
