"""Crash harness: SIGKILL the real server at random moments under a mixed load.

Used by tests/test_crash_harness.py (200+ kills in CI) and benchmarks/crash.py
(the long run).  One data dir lives through the whole run, so the store
accumulates state across kills, which is the point.  Each cycle:

1. start ``python -m selfdrive serve`` with a config that sets the shortest GC
   grace period the server accepts (60 s) and a maintenance interval of
   0.5 s, so the server's own GC runs all the time and, once the run is older
   than the grace period, really deletes blocks (and races with dedup of the
   content it is deleting); then settle what the previous kill left in doubt;
2. sometimes start ``python -m selfdrive gc`` in the background (same config),
   so that a second GC, in another process, overlaps uploads, the kill and the
   restart; at a kill it is killed too, half of the time;
3. run a mixed load from a few client threads, one user each: uploads of 0 B
   to 3 MB (new paths, overwrites, repeats and near-repeats of earlier content,
   across users, for dedup), some of them through the delta-sync calls
   (/blocks/missing, PUT /blocks, /files/commit), downloads of old revisions,
   revision restores, copies and moves of files and folders, deletes of files
   and folders, trash restores, purges of some entries and of the whole trash;
4. after a random 0.1-1.0 s, SIGKILL the server while requests are in flight,
   and let the client threads notice.

The model (`UserModel`) mirrors the server's tree of each user, built only
from answers the server acknowledged with a 2xx.  Each client thread owns one
user, so at most one request per user is in flight at a kill; after the
restart, `Worker.reconcile` looks at the server to see whether that request
was applied or not, checks that the outcome is one of the two (a revision it
committed must hold exactly the bytes that were sent), and updates the model.
A revision that was committed but never acknowledged is fine; an acknowledged
one that is missing or differs is a loss.  Every few cycles `Worker.audit`
compares the whole live tree, the trash and the quota usage with the model.

At the end (after the last kill and a clean restart): every revision of every
live file is downloaded by rev and compared by SHA-256 (acknowledged ones and
committed-unacknowledged ones, counted apart); every trash entry is restored
through the API (so trashed files are checked too, and restores once more)
and its files verified.  Then, with the server stopped and the grace period
waited out since the last block write, ``selfdrive gc`` runs, then
``selfdrive fsck`` if it exists, and meta.db (read-only) is compared with the
block folders: no block file without a row (an orphan GC left), no row
without a file, no referenced block without a row.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import random
import re
import signal
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

import selfdrive.config
from selfdrive.core.blockhash import block_id, content_hash
from selfdrive.core.chunking import StreamChunker
from tests.conftest import ADMIN_PASSWORD, Server

#: the shortest GC grace period the server accepts (config.py refuses less)
MIN_GRACE_S = int(getattr(selfdrive.config, "MIN_GC_GRACE_S", 60))
#: (low, high) sizes of fresh content, and how often each range is drawn
SIZE_RANGES = [(0, 0), (1, 4096), (4096, 250_000), (250_000, 1_300_000), (1_300_000, 3_000_000)]
SIZE_WEIGHTS = [1, 3, 3, 3, 2]
FOLDERS = ["d0", "d1", "d2", "d3"]
SUBFOLDERS = ["s0", "s1"]
#: ".bin" names, one without extension and a dotfile: the three cases of "(restored)"
NAMES = ["f0.bin", "f1.bin", "f2.bin", "f3.bin", "f4.bin", "readme", ".hidden"]
OPS = {  # relative weights of the load's operations
    "upload": 40, "commit": 8, "read": 8, "restore_rev": 10, "copy": 3, "move": 4,
    "delete": 10, "delete_folder": 2, "trash_restore": 9, "purge": 6, "purge_all": 0.5,
}
GC_LINE = re.compile(r"freed (\d+) blocks \((\d+) bytes\) and (\d+) orphan blocks")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def split(path: str) -> list[str]:
    return [p for p in path.split("/") if p]


def join(parts: list[str]) -> str:
    return "/" + "/".join(parts)


class CrashServer(Server):
    """conftest's Server, but it polls /healthz every 10 ms over a plain socket: a
    new httpx client per poll costs CPU that the starting server needs on 2 cores,
    and 200 starts are most of the run's time."""

    def start(self) -> None:
        self.log = self.data_dir.parent / f"server-{self.port}.log"
        env = {**os.environ, "SELFDRIVE_ADMIN_PASSWORD": ADMIN_PASSWORD, **self.env}
        with self.log.open("a") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "selfdrive", "serve", "--data", str(self.data_dir),
                 "--host", "127.0.0.1", "--port", str(self.port)],
                stdout=out, stderr=subprocess.STDOUT, env=env, text=True,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log.read_text()[-3000:]}")
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            try:
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    return
            except (OSError, http.client.HTTPException):
                pass
            finally:
                conn.close()
            time.sleep(0.01)
        raise RuntimeError(f"server did not start:\n{self.log.read_text()[-3000:]}")


# -- the model of one user's tree, from acknowledged answers --------------------------------


@dataclass
class Rev:
    sha: str                 # SHA-256 of the content the revision must hold
    chash: str               # the server's content hash (ETag) for it
    size: int
    acked: bool              # False: committed by a request cut off by a kill
    cycle: int
    checked: bool = False    # downloaded and compared after a restart at least once
    bad: bool = False        # already counted lost or corrupt


class Node:
    """A file or folder as the server should have it (mirrors the `nodes` table)."""

    def __init__(self, kind: str, name: str, parent: Node | None) -> None:
        self.kind = kind
        self.name = name
        self.parent = parent
        self.live: dict[str, Node] = {}      # children not trashed themselves, by name
        self.trashed_kids: list[Node] = []   # children trashed themselves (still linked)
        self.trashed = False
        self.trashed_path: str | None = None
        self.server_id: int | None = None    # the node id, learned from GET /trash
        self.revs: dict[int, Rev] = {}
        self.current = 0

    @property
    def is_file(self) -> bool:
        return self.kind == "file"

    def path(self) -> str:
        parts: list[str] = []
        node: Node | None = self
        while node is not None and node.parent is not None:
            parts.append(node.name)
            node = node.parent
        return join(parts[::-1])

    def subtree(self) -> Iterator[Node]:
        """Itself and every node under it, trashed or not."""
        yield self
        for kid in [*self.live.values(), *self.trashed_kids]:
            yield from kid.subtree()

    def own_subtree(self) -> Iterator[Node]:
        """Itself and what lies under it, leaving out entries of their own."""
        yield self
        for kid in self.live.values():
            yield from kid.own_subtree()

    def size(self) -> int:
        return self.revs[self.current].size if self.current else 0


def free_name(taken: set[str], name: str) -> str:
    """The server's rule (services/trash.py, `_free_name`)."""
    if name not in taken:
        return name
    stem, dot, ext = name.rpartition(".")
    if not stem:
        stem, dot, ext = name, "", ""
    for n in range(1, 10_000):
        label = "restored" if n == 1 else f"restored {n}"
        candidate = f"{stem} ({label}){dot}{ext}"
        if candidate not in taken:
            return candidate
    raise AssertionError("too many restored copies")


class UserModel:
    def __init__(self) -> None:
        self.root = Node("folder", "", None)

    def walk(self, path: str) -> Node | None:
        node = self.root
        for name in split(path):
            nxt = node.live.get(name)
            if nxt is None:
                return None
            node = nxt
        return node

    def ensure_folders(self, parts: list[str]) -> Node:
        node = self.root
        for name in parts:
            nxt = node.live.get(name)
            if nxt is None:
                nxt = Node("folder", name, node)
                node.live[name] = nxt
            assert not nxt.is_file, f"model: {name} is a file"
            node = nxt
        return node

    def live_nodes(self) -> Iterator[Node]:
        def visit(node: Node) -> Iterator[Node]:
            for kid in node.live.values():
                yield kid
                if not kid.is_file:
                    yield from visit(kid)
        return visit(self.root)

    def live_files(self) -> list[Node]:
        return [n for n in self.live_nodes() if n.is_file]

    def live_folders(self) -> list[Node]:
        return [n for n in self.live_nodes() if not n.is_file]

    def entries(self) -> list[Node]:
        """Trash entries: every trashed node (store/meta/trash.py)."""
        return [n for n in self.root.subtree() if n.trashed and n.parent is not None]

    def usage(self) -> int:
        return sum(n.size() for n in self.root.subtree() if n.is_file)

    def add_rev(self, path: str, rev: int, r: Rev) -> tuple[Node, int]:
        """Record a new revision; returns the node and the rev number the model expected."""
        node = self.walk(path)
        if node is None:
            parts = split(path)
            parent = self.ensure_folders(parts[:-1])
            node = Node("file", parts[-1], parent)
            parent.live[parts[-1]] = node
        expected = node.current + 1
        node.revs[rev] = r
        node.current = max(node.current, rev)
        return node, expected

    def move(self, node: Node, dst: str) -> None:
        assert node.parent is not None
        del node.parent.live[node.name]
        parts = split(dst)
        parent = self.ensure_folders(parts[:-1])
        node.parent, node.name = parent, parts[-1]
        parent.live[node.name] = node

    def copy(self, node: Node, dst: str, acked: bool, cycle: int) -> list[Node]:
        """A copy of the live part of *node* at *dst*, each file at rev 1; the new files."""
        parts = split(dst)
        parent = self.ensure_folders(parts[:-1])
        files: list[Node] = []

        def clone(src: Node, name: str, under: Node) -> Node:
            new = Node(src.kind, name, under)
            if src.is_file:
                cur = src.revs[src.current]
                new.revs[1] = Rev(cur.sha, cur.chash, cur.size, acked, cycle)
                new.current = 1
                files.append(new)
            for kid in src.live.values():
                new.live[kid.name] = clone(kid, kid.name, new)
            return new

        parent.live[parts[-1]] = clone(node, parts[-1], parent)
        return files

    def trash(self, node: Node, path: str) -> None:
        parent = node.parent
        assert parent is not None
        del parent.live[node.name]
        parent.trashed_kids.append(node)
        node.trashed, node.trashed_path = True, path

    def predict_restore(self, node: Node) -> str:
        assert node.trashed_path is not None
        parts = split(node.trashed_path)
        parent = self.walk(join(parts[:-1]))
        taken = set(parent.live) if parent is not None else set()
        return join([*parts[:-1], free_name(taken, parts[-1])])

    def untrash(self, node: Node, path: str) -> None:
        old = node.parent
        assert old is not None
        old.trashed_kids.remove(node)
        parts = split(path)
        parent = self.ensure_folders(parts[:-1])
        node.parent, node.name = parent, parts[-1]
        node.trashed, node.trashed_path = False, None
        parent.live[node.name] = node

    def purge(self, node: Node) -> tuple[int, int]:
        """Delete an entry for good; (files, bytes) as POST /trash/purge counts them.

        An entry may lie inside another one (a file deleted from a subfolder of a
        folder deleted later is an entry of its own: its parent is not trashed);
        purged with it, it is gone and counts nothing the second time.
        """
        if self.where(node) == "gone":
            return 0, 0
        files = [n for n in node.subtree() if n.is_file]
        assert node.parent is not None
        node.parent.trashed_kids.remove(node)
        return len(files), sum(n.size() for n in files)

    def where(self, node: Node) -> str:
        """"live", "trash" (it or a folder above it is trashed) or "gone" (purged)."""
        state = "live"
        while node.parent is not None:
            parent = node.parent
            if node.trashed:
                state = "trash"
                if not any(k is node for k in parent.trashed_kids):
                    return "gone"
            elif parent.live.get(node.name) is not node:
                return "gone"
            node = parent
        return state if node is self.root else "gone"

    def match_ids(self, server_entries: list[dict[str, Any]]) -> list[str]:
        """Give the model's trash entries without an id the server's id; return complaints."""
        known = {n.server_id for n in self.root.subtree() if n.server_id is not None}
        complaints = []
        for node in self.entries():
            if node.server_id is not None:
                continue
            found = [e for e in server_entries if e["id"] not in known
                     and e["path"] == node.trashed_path and e["kind"] == node.kind]
            if not found:
                complaints.append(f"no trash entry for {node.kind} {node.trashed_path}")
                continue
            node.server_id = int(found[0]["id"])  # newest first, like the server lists them
            known.add(node.server_id)
        return complaints


# -- content: fresh, repeated, and nearly repeated (dedup) -----------------------------------


class Contents:
    """Bodies to upload.  A shared pool makes repeats across users (whole-file and
    block dedup); small edits of pooled content share all but one or two blocks."""

    def __init__(self, rng: random.Random, pool_size: int = 16) -> None:
        self.lock = threading.Lock()
        self.pool = [self.fresh(rng) for _ in range(pool_size)]

    @staticmethod
    def fresh(rng: random.Random) -> bytes:
        lo, hi = rng.choices(SIZE_RANGES, SIZE_WEIGHTS)[0]
        size = rng.randint(lo, hi)
        if rng.random() < 0.3:  # hex text: zstd shrinks it, so blocks are stored compressed
            return rng.randbytes(size // 2 + 1).hex().encode()[:size]
        return rng.randbytes(size)

    def pick(self, rng: random.Random) -> bytes:
        r = rng.random()
        with self.lock:
            base = rng.choice(self.pool)
        if r < 0.35:
            return base
        if r < 0.55:
            at = rng.randint(0, len(base))
            return base[:at] + rng.randbytes(rng.randint(1, 64)) + base[at:]
        data = self.fresh(rng)
        if rng.random() < 0.3:
            with self.lock:
                self.pool[rng.randrange(len(self.pool))] = data
        return data


# -- figures ---------------------------------------------------------------------------------


@dataclass
class Figures:
    seed: int
    kills: int = 0
    cycles_planned: int = 0
    acked: Counter[str] = field(default_factory=Counter)
    in_flight: Counter[str] = field(default_factory=Counter)  # "kind: applied|not applied"
    gc: Counter[str] = field(default_factory=Counter)
    revisions_acked: int = 0
    checked_acked: int = 0           # distinct acknowledged revisions checked after a kill
    checked_at_end: int = 0          # acknowledged revisions checked (again) at the end
    checked_via_trash: int = 0       # of those, in files that came back from the trash
    checked_unacked: int = 0         # committed-unacknowledged revisions checked
    purged_unchecked: int = 0        # acknowledged, then purged before the next kill
    lost: int = 0
    corrupt: int = 0
    orphans_after_gc: int = -1
    young_orphans: int = -1
    rows_without_file: int = -1
    referenced_without_row: int = -1
    unreferenced_rows_after_gc: int = -1
    pinned_by_dead_uploads: int = -1
    stray_temp_files: int = -1
    block_files: int = -1
    fsck: str = "not run"
    fsck_ok: bool | None = None
    final_gc: str = "not run"
    anomalies: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    losses: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    load_s: float = 0.0
    server_log: str = ""

    @property
    def ok(self) -> bool:
        return (self.lost == 0 and self.corrupt == 0 and self.orphans_after_gc == 0
                and self.rows_without_file == 0 and self.referenced_without_row == 0
                and self.fsck_ok is not False and not self.anomalies and not self.unexpected)

    def report(self) -> str:
        acked = ", ".join(f"{k} {v}" for k, v in sorted(self.acked.items()))
        flight = ", ".join(f"{k} {v}" for k, v in sorted(self.in_flight.items()))
        gc = ", ".join(f"{k} {v}" for k, v in sorted(self.gc.items()))
        lines = [
            f"crash harness: seed {self.seed}",
            f"  kills                              {self.kills}",
            f"  operations acknowledged            {sum(self.acked.values())} ({acked})",
            f"  requests in flight at a kill       {sum(self.in_flight.values())} ({flight})",
            f"  gc                                 {gc}",
            f"  acknowledged revisions             {self.revisions_acked}"
            f" ({self.purged_unchecked} purged by the load before the next kill)",
            f"  acknowledged revisions checked     {self.checked_acked}"
            " (each downloaded after the next kill and restart)",
            f"  checked again at the end           {self.checked_at_end}"
            f" ({self.checked_via_trash} through a trash restore)",
            f"  committed unacknowledged checked   {self.checked_unacked}",
            f"  lost                               {self.lost}",
            f"  corrupt                            {self.corrupt}",
            f"  final gc                           {self.final_gc}",
            f"  orphan block files after gc        {self.orphans_after_gc}"
            f" (and {self.young_orphans} younger than the grace period)",
            f"  block rows without a file          {self.rows_without_file}",
            f"  referenced blocks without a row    {self.referenced_without_row}",
            f"  unreferenced rows after gc         {self.unreferenced_rows_after_gc}"
            f" (and {self.pinned_by_dead_uploads} held by unfinished uploads or sent blocks)",
            f"  stray temp files after gc          {self.stray_temp_files}",
            f"  block files                        {self.block_files}",
            f"  fsck                               {self.fsck}",
            f"  model anomalies                    {len(self.anomalies)}",
            f"  unexpected answers                 {len(self.unexpected)}",
            f"  wall time                          {self.wall_s:.1f} s"
            f" (load {self.load_s:.1f} s)",
            f"  server log                         {self.server_log}",
        ]
        for title, items in (("LOSSES", self.losses), ("ANOMALIES", self.anomalies),
                             ("UNEXPECTED", self.unexpected)):
            if items:
                lines.append(f"  {title}:")
                lines += [f"    - {x}" for x in items[:40]]
                if len(items) > 40:
                    lines.append(f"    ... and {len(items) - 40} more")
        lines.append(f"  result: {'OK' if self.ok else 'FAILED'}")
        return "\n".join(lines)


class Cut(Exception):
    """A request got no answer: the server was killed (or died) under it."""


def call(c: httpx.Client, method: str, url: str, **kw: Any) -> httpx.Response:
    try:
        return c.request(method, url, **kw)
    except httpx.TransportError as exc:
        raise Cut(f"{method} {url}: {type(exc).__name__}: {exc}") from exc


# -- one client thread: one user, its model, its in-flight request ---------------------------


@dataclass
class Pending:
    kind: str
    path: str = ""
    dst: str = ""
    sha: str = ""
    size: int = 0
    src_rev: int = 0
    node: Node | None = None
    nodes: tuple[Node, ...] = ()


class Worker:
    def __init__(self, h: Harness, index: int, user: str, token: str) -> None:
        self.h = h
        self.index = index
        self.user = user
        self.token = token
        self.model = UserModel()
        self.pending: Pending | None = None
        self.cycle = 0
        #: revisions committed since the last restart, to check after the next one
        self.unchecked: list[tuple[Node, int]] = []

    # -- bookkeeping ----------------------------------------------------------

    def anomaly(self, text: str) -> None:
        self.h.note(self.h.figures.anomalies, f"cycle {self.cycle} {self.user}: {text}")

    def unexpected(self, r: httpx.Response, what: str) -> None:
        self.h.note(self.h.figures.unexpected,
                    f"cycle {self.cycle} {self.user}: {what} -> HTTP {r.status_code}"
                    f" {r.text[:300]}")

    def ack(self, kind: str) -> None:
        with self.h.lock:
            self.h.figures.acked[kind] += 1

    # -- the load -------------------------------------------------------------------

    def run_cycle(self, c: httpx.Client, rng: random.Random, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                if not self.step(c, rng):
                    return  # an unexpected answer: the outcome is settled after the restart
            except Cut as exc:
                if not self.h.killed.is_set():
                    self.h.note(self.h.figures.unexpected,
                                f"cycle {self.cycle} {self.user}: cut off while the server"
                                f" was up: {exc}")
                return
            except Exception as exc:  # a harness bug, or an answer of the wrong shape
                self.h.note(self.h.figures.unexpected,
                            f"cycle {self.cycle} {self.user}: {type(exc).__name__}: {exc}")
                return

    def step(self, c: httpx.Client, rng: random.Random) -> bool:
        m = self.model
        if any(n.server_id is None for n in m.entries()):
            self.pending = Pending("learn_ids")
            if not self.learn_ids(c):
                return False
            self.pending = None
        kind = rng.choices(list(OPS), list(OPS.values()))[0]
        files = m.live_files()
        entries = [n for n in m.entries() if n.server_id is not None]
        if kind in ("read", "delete", "copy", "move") and not files:
            kind = "upload"
        if kind == "restore_rev" and not any(len(f.revs) > 1 for f in files):
            kind = "upload"
        if kind in ("trash_restore", "purge", "purge_all") and not entries:
            kind = "delete" if files else "upload"
        if kind == "delete_folder" and not m.live_folders():
            kind = "upload"
        return bool(getattr(self, "op_" + kind)(c, rng))

    def op_upload(self, c: httpx.Client, rng: random.Random) -> bool:
        files = self.model.live_files()
        path = rng.choice(files).path() if files and rng.random() < 0.6 else self.new_path(rng)
        data = self.h.contents.pick(rng)
        digest = sha256(data)
        existed = self.model.walk(path) is not None
        self.pending = Pending("upload", path=path, sha=digest, size=len(data))
        r = call(c, "PUT", "/files/content", params={"path": path}, content=data)
        if r.status_code != 201:
            self.unexpected(r, f"PUT {path} ({len(data)} B)")
            return False
        e = r.json()
        self.ack("overwrite" if existed else "upload")
        self.new_rev(path, e, Rev(digest, e["content_hash"], len(data), True, self.cycle))
        self.pending = None
        return True

    def op_commit(self, c: httpx.Client, rng: random.Random) -> bool:
        """Delta sync: chunk on the client, send the blocks the server lacks, commit."""
        files = self.model.live_files()
        path = rng.choice(files).path() if files and rng.random() < 0.5 else self.new_path(rng)
        data = self.h.contents.pick(rng)
        chunker = StreamChunker()
        chunks = [bytes(ch) for ch in [*chunker.feed(data), *chunker.finish()]]
        ids = [block_id(ch).hex() for ch in chunks]
        self.pending = Pending("blocks")  # nothing in the tree changes before the commit
        r = call(c, "POST", "/blocks/missing", json={"hashes": ids})
        if r.status_code != 200:
            self.unexpected(r, "POST /blocks/missing")
            return False
        missing = set(r.json()["missing"])
        for ch, hex_id in zip(chunks, ids, strict=True):
            if hex_id in missing:
                missing.discard(hex_id)
                r = call(c, "PUT", f"/blocks/{hex_id}", content=ch)
                if r.status_code != 201:
                    self.unexpected(r, f"PUT /blocks/{hex_id} ({len(ch)} B)")
                    return False
        digest = sha256(data)
        existed = self.model.walk(path) is not None
        self.pending = Pending("commit", path=path, sha=digest, size=len(data))
        r = call(c, "POST", "/files/commit", json={"path": path, "blocks": ids, "size": len(data)})
        if r.status_code != 201:
            self.unexpected(r, f"commit {path} ({len(data)} B, {len(ids)} blocks)")
            return False
        e = r.json()
        self.ack("commit (overwrite)" if existed else "commit")
        want = content_hash(bytes.fromhex(i) for i in ids).hex()
        if e["content_hash"] != want:
            self.anomaly(f"commit of {path}: content hash {e['content_hash']}, not {want}")
        self.new_rev(path, e, Rev(digest, e["content_hash"], len(data), True, self.cycle))
        self.pending = None
        return True

    def new_path(self, rng: random.Random, folder: bool = False) -> str:
        parts = [rng.choice(FOLDERS)]
        if rng.random() < (0.5 if folder else 0.3):
            parts.append(rng.choice(SUBFOLDERS))
        return join(parts if folder else [*parts, rng.choice(NAMES)])

    def free_dest(self, rng: random.Random, node: Node) -> str | None:
        """A path where *node* may be moved or copied: free, and not inside itself."""
        src = node.path()
        for _ in range(10):
            dst = self.new_path(rng, folder=not node.is_file)
            if self.model.walk(dst) is None and not (dst + "/").startswith(src + "/"):
                return dst
        return None

    def op_move(self, c: httpx.Client, rng: random.Random, copy: bool = False) -> bool:
        node = rng.choice(list(self.model.live_nodes()))
        src, dst = node.path(), self.free_dest(rng, node)
        if dst is None:
            return True
        kind = "copy" if copy else "move"
        self.pending = Pending(kind, path=src, dst=dst, node=node)
        r = call(c, "POST", f"/files/{kind}", json={"from_path": src, "to_path": dst})
        if r.status_code != (201 if copy else 200):
            self.unexpected(r, f"{kind} {src} -> {dst}")
            return False
        e = r.json()
        self.ack(f"{kind} ({node.kind})")
        if e["path"] != dst or e["kind"] != node.kind:
            self.anomaly(f"{kind} {src} -> {dst}: answer {e}")
        if copy:
            if node.is_file and (e["rev"], e["content_hash"]) != (1, node.revs[node.current].chash):
                self.anomaly(f"copy {src} -> {dst}: answer {e}")
            self.copied(node, dst, acked=True)
        else:
            self.model.move(node, dst)
        self.pending = None
        return True

    def copied(self, node: Node, dst: str, acked: bool) -> None:
        new = self.model.copy(node, dst, acked, self.cycle)
        self.unchecked += [(n, 1) for n in new]
        with self.h.lock:
            self.h.figures.revisions_acked += len(new) if acked else 0

    def op_copy(self, c: httpx.Client, rng: random.Random) -> bool:
        return self.op_move(c, rng, copy=True)

    def new_rev(self, path: str, e: dict[str, Any], rev: Rev) -> None:
        if e["path"] != path or e["size"] != rev.size:
            self.anomaly(f"answer {e} for {path} of {rev.size} B")
        node, expected = self.model.add_rev(path, int(e["rev"]), rev)
        self.unchecked.append((node, int(e["rev"])))
        if e["rev"] != expected:
            self.anomaly(f"{path}: new revision is rev {e['rev']}, the model expected {expected}")
        with self.h.lock:
            self.h.figures.revisions_acked += rev.acked

    def op_read(self, c: httpx.Client, rng: random.Random) -> bool:
        node = rng.choice(self.model.live_files())
        rev = rng.choice(list(node.revs))
        path = node.path()
        self.pending = Pending("read")
        r = call(c, "GET", "/files/content", params={"path": path, "rev": rev})
        want = node.revs[rev]
        if r.status_code != 200 or sha256(r.content) != want.sha:
            self.unexpected(r, f"read of {path} rev {rev} ({'acked' if want.acked else 'unacked'}"
                               f" in cycle {want.cycle}): sha256 {sha256(r.content)[:12]}"
                               f" != {want.sha[:12]}")
            return False
        self.ack("read")
        self.pending = None
        return True

    def op_restore_rev(self, c: httpx.Client, rng: random.Random) -> bool:
        node = rng.choice([f for f in self.model.live_files() if len(f.revs) > 1])
        src = rng.choice([n for n in node.revs if n != node.current])
        path, old = node.path(), node.revs[src]
        self.pending = Pending("restore_rev", path=path, sha=old.sha, size=old.size,
                               src_rev=src)
        r = call(c, "POST", "/files/restore", json={"path": path, "rev": src})
        if r.status_code != 201:
            self.unexpected(r, f"restore {path} rev {src}")
            return False
        e = r.json()
        self.ack("restore_rev")
        if e["content_hash"] != old.chash:
            self.anomaly(f"restore of {path} rev {src}: content hash {e['content_hash']}"
                         f" != {old.chash}")
        self.new_rev(path, e, Rev(old.sha, old.chash, old.size, True, self.cycle))
        self.pending = None
        return True

    def op_delete(self, c: httpx.Client, rng: random.Random, folder: bool = False) -> bool:
        node = rng.choice(self.model.live_folders() if folder else self.model.live_files())
        path = node.path()
        self.pending = Pending("delete", path=path, node=node)
        r = call(c, "POST", "/files/delete", json={"path": path})
        if r.status_code != 200:
            self.unexpected(r, f"delete {path}")
            return False
        self.ack("delete_folder" if folder else "delete")
        self.model.trash(node, path)
        self.pending = Pending("learn_ids")
        if not self.learn_ids(c):
            return False
        self.pending = None
        return True

    def op_delete_folder(self, c: httpx.Client, rng: random.Random) -> bool:
        return self.op_delete(c, rng, folder=True)

    def learn_ids(self, c: httpx.Client) -> bool:
        r = call(c, "GET", "/trash")
        if r.status_code != 200:
            self.unexpected(r, "GET /trash")
            return False
        for complaint in self.model.match_ids(r.json()["entries"]):
            self.anomaly(complaint)
        return True

    def op_trash_restore(self, c: httpx.Client, rng: random.Random) -> bool:
        node = rng.choice([n for n in self.model.entries() if n.server_id is not None])
        expected = self.model.predict_restore(node)
        self.pending = Pending("trash_restore", node=node)
        r = call(c, "POST", "/trash/restore", json={"id": node.server_id})
        if r.status_code != 200:
            self.unexpected(r, f"trash restore {node.server_id} ({node.trashed_path})")
            return False
        e = r.json()
        self.ack("trash_restore")
        if e["path"] != expected or e["kind"] != node.kind:
            self.anomaly(f"trash restore of {node.trashed_path}: at {e['path']} ({e['kind']}),"
                         f" the model expected {expected}")
        self.model.untrash(node, e["path"])
        self.pending = None
        return True

    def op_purge(self, c: httpx.Client, rng: random.Random, everything: bool = False) -> bool:
        entries = [n for n in self.model.entries() if n.server_id is not None]
        body: dict[str, Any]
        if everything:
            if len(entries) != len(self.model.entries()):
                return True
            chosen, body = entries, {"all": True}
        else:
            chosen = rng.sample(entries, rng.randint(1, min(3, len(entries))))
            body = {"ids": [n.server_id for n in chosen]}
        self.pending = Pending("purge_all" if everything else "purge", nodes=tuple(chosen))
        r = call(c, "POST", "/trash/purge", json=body)
        if r.status_code != 200:
            self.unexpected(r, f"purge {body}")
            return False
        self.ack("purge_all" if everything else "purge")
        files = size = 0
        for node in chosen:
            f, s = self.model.purge(node)
            files, size = files + f, size + s
        got = r.json()
        if (got["files"], got["bytes"]) != (files, size):
            self.anomaly(f"purge {body}: answer {got}, the model expected {files} files,"
                         f" {size} bytes")
        self.pending = None
        return True

    def op_purge_all(self, c: httpx.Client, rng: random.Random) -> bool:
        return self.op_purge(c, rng, everything=True)

    # -- after a restart: settle the request the kill cut off ------------------------------

    def reconcile(self, c: httpx.Client) -> None:
        p, self.pending = self.pending, None
        if p is None:
            return
        m = self.model
        outcome = "?"
        if p.kind in ("upload", "restore_rev", "commit"):
            outcome = self.settle_rev(c, p)
        elif p.kind in ("move", "copy"):
            node = p.node
            assert node is not None
            at_src = c.get("/files/metadata", params={"path": p.path}).status_code == 200
            at_dst = c.get("/files/metadata", params={"path": p.dst}).status_code == 200
            if at_dst and at_src == (p.kind == "copy"):
                if p.kind == "copy":
                    self.copied(node, p.dst, acked=False)
                else:
                    self.model.move(node, p.dst)
                outcome = "applied"
            elif at_src and not at_dst:
                outcome = "not applied"
            else:
                self.anomaly(f"in-flight {p.kind} {p.path} -> {p.dst}: source there {at_src},"
                             f" destination there {at_dst}")
        elif p.kind in ("delete", "learn_ids", "trash_restore", "purge", "purge_all"):
            r = c.get("/trash")
            r.raise_for_status()
            server = r.json()["entries"]
            ids = {int(e["id"]) for e in server}
            if p.kind == "delete":
                node = p.node
                assert node is not None
                claimed = {n.server_id for n in m.root.subtree() if n.server_id is not None}
                new = [e for e in server
                       if (e["id"] == node.server_id or e["id"] not in claimed)
                       and e["path"] == p.path and e["kind"] == node.kind]
                live = c.get("/files/metadata", params={"path": p.path}).status_code == 200
                if new and not live:
                    m.trash(node, p.path)
                    node.server_id = int(new[0]["id"])
                    outcome = "applied"
                elif not new and live:
                    outcome = "not applied"
                else:
                    self.anomaly(f"in-flight delete of {p.path}: trash entry {bool(new)},"
                                 f" still live {live}")
            elif p.kind == "learn_ids":
                for complaint in m.match_ids(server):
                    self.anomaly(complaint)
                return
            elif p.kind == "trash_restore":
                node = p.node
                assert node is not None and node.server_id is not None
                if node.server_id in ids:
                    outcome = "not applied"
                else:
                    where = m.predict_restore(node)
                    r = c.get("/files/metadata", params={"path": where})
                    if r.status_code != 200 or r.json()["kind"] != node.kind:
                        self.anomaly(f"in-flight trash restore of {node.trashed_path}: gone from"
                                     f" the trash, but not at {where} ({r.status_code})")
                    m.untrash(node, where)
                    outcome = "applied"
            else:
                wanted = {n.server_id or -1 for n in
                          (m.entries() if p.kind == "purge_all" else p.nodes)}
                if not wanted & ids:
                    for node in (m.entries() if p.kind == "purge_all" else list(p.nodes)):
                        m.purge(node)
                    outcome = "applied"
                elif wanted <= ids:
                    outcome = "not applied"
                else:
                    self.anomaly(f"in-flight purge of {sorted(wanted)}: only"
                                 f" {sorted(wanted - ids)} went")
        else:  # a read changes nothing
            return
        with self.h.lock:
            self.h.figures.in_flight[f"{p.kind}: {outcome}"] += 1

    def settle_rev(self, c: httpx.Client, p: Pending) -> str:
        node = self.model.walk(p.path)
        current = node.current if node is not None else 0
        r = c.get("/files/list_revisions", params={"path": p.path, "limit": 1})
        if r.status_code == 404:
            server = 0
        else:
            r.raise_for_status()
            revs = r.json()["revisions"]
            server = int(revs[0]["rev"]) if revs else 0
        if server == current:
            return "not applied"
        if server != current + 1:
            self.anomaly(f"in-flight {p.kind} of {p.path}: the server is at rev {server},"
                         f" the model at {current}")
            return "?"
        got = c.get("/files/content", params={"path": p.path, "rev": server})
        if got.status_code != 200 or sha256(got.content) != p.sha:
            self.h.note(self.h.figures.losses,
                        f"{self.user} {p.path} rev {server}: committed by a {p.kind} cut off by"
                        f" the kill of cycle {self.cycle}, but holds other bytes"
                        f" (HTTP {got.status_code}, {len(got.content)} of {p.size} B)")
        node, _ = self.model.add_rev(p.path, server, Rev(
            p.sha, r.json()["revisions"][0]["content_hash"], p.size, False, self.cycle))
        self.unchecked.append((node, server))
        return "applied"

    # -- audits and the final check -------------------------------------------------------

    def audit(self, c: httpx.Client) -> None:
        """The server's live tree, trash and usage must be the model's."""
        server: dict[str, tuple[str, int | None, str | None]] = {}
        folders = ["/"]
        while folders:
            folder = folders.pop()
            r = c.get("/files/list", params={"path": folder})
            r.raise_for_status()
            for e in r.json()["entries"]:
                server[e["path"]] = (e["kind"], e.get("rev"), e.get("content_hash"))
                if e["kind"] == "folder":
                    folders.append(e["path"])
        model = {n.path(): (n.kind, n.current or None,
                            n.revs[n.current].chash if n.is_file else None)
                 for n in self.model.live_nodes()}
        for path in sorted(set(server) | set(model)):
            if server.get(path) != model.get(path):
                self.anomaly(f"audit: {path} is {server.get(path)} on the server,"
                             f" {model.get(path)} in the model")
        r = c.get("/trash")
        r.raise_for_status()
        trash = sorted((int(e["id"]), e["path"], e["kind"], int(e["size"]))
                       for e in r.json()["entries"])
        mine = sorted((n.server_id or -1, n.trashed_path or "", n.kind,
                       sum(k.size() for k in n.own_subtree() if k.is_file))
                      for n in self.model.entries())
        if trash != mine:
            self.anomaly(f"audit: trash is {trash} on the server, {mine} in the model")
        used = int(c.get("/me").json()["used_bytes"])
        if used != self.model.usage():
            self.anomaly(f"audit: used_bytes {used}, the model counts {self.model.usage()}")

    def restore_all_trash(self, c: httpx.Client) -> set[Node]:
        """Put every trash entry back (nested ones appear as their folder comes back);
        returns the file nodes that were in the trash."""
        was_trashed: set[Node] = set()
        for _ in range(1000):
            entries = self.model.entries()
            if not entries:
                break
            if any(n.server_id is None for n in entries):
                r = c.get("/trash")
                r.raise_for_status()
                for complaint in self.model.match_ids(r.json()["entries"]):
                    self.anomaly(complaint)
            for node in entries:
                if node.server_id is None:
                    self.model.purge(node)  # cannot be restored: counted lost below
                    self.h.count_lost(self.user, node, "its trash entry is gone")
                    continue
                was_trashed.update(n for n in node.subtree()
                                   if n.is_file and (n is node or not n.trashed))
                r = c.post("/trash/restore", json={"id": node.server_id})
                if r.status_code != 200:
                    self.unexpected(r, f"final trash restore of {node.trashed_path}")
                    self.model.purge(node)
                    self.h.count_lost(self.user, node, f"trash restore: {r.status_code}")
                    continue
                self.model.untrash(node, r.json()["path"])
        return was_trashed

    def check_new(self, c: httpx.Client) -> None:
        """After a restart: every revision committed before the kill, if its file is
        live (one in the trash waits for its restore; a purged one is gone)."""
        waiting: list[tuple[Node, int]] = []
        for node, rev in self.unchecked:
            where = self.model.where(node)
            if where == "live":
                self.check(c, node, rev, node.path(), None)
            elif where == "trash":
                waiting.append((node, rev))
            elif node.revs[rev].acked and not node.revs[rev].checked:
                with self.h.lock:
                    self.h.figures.purged_unchecked += 1
        self.unchecked = waiting

    def verify(self, c: httpx.Client, via_trash: set[Node]) -> None:
        """The end: every revision of every live file."""
        for node in self.model.live_files():
            path = node.path()
            r = c.get("/files/list_revisions", params={"path": path, "limit": 1000})
            listed = ({int(x["rev"]): x for x in r.json()["revisions"]}
                      if r.status_code == 200 else {})
            for rev in sorted(node.revs):
                self.check(c, node, rev, path, listed, end=True, via_trash=node in via_trash)
        self.unchecked = []

    def check(self, c: httpx.Client, node: Node, rev: int, path: str,
              listed: dict[int, Any] | None, *, end: bool = False, via_trash: bool = False,
              ) -> None:
        """Download one revision by rev and compare it; count it lost or corrupt."""
        want = node.revs[rev]
        h = self.h
        problem = ""
        try:
            got = c.get("/files/content", params={"path": path, "rev": rev})
            body, status = got.content, got.status_code
        except httpx.HTTPError as exc:  # a download cut short: a block is missing
            body, status, problem = b"", -1, f"download failed: {exc}"
        with h.lock:
            if not want.acked:
                h.figures.checked_unacked += not want.checked
            else:
                h.figures.checked_acked += not want.checked
                h.figures.checked_at_end += end
                h.figures.checked_via_trash += via_trash
        want.checked = True
        if listed is not None and len(listed) < 1000 and rev not in listed:
            problem = problem or f"rev {rev} is not listed by list_revisions"
        if problem or status != 200:
            h.count_lost(self.user, node, problem or f"rev {rev}: HTTP {status}"
                         f" {body[:200]!r}", rev=rev, want=want)
        elif sha256(body) != want.sha or (
                listed is not None and rev in listed and listed[rev]["content_hash"] != want.chash):
            with h.lock:
                if want.bad:
                    return
                want.bad = True
                h.figures.corrupt += 1
            h.note(h.figures.losses,
                   f"CORRUPT {self.user} {path} rev {rev} ({len(body)} of {want.size} B,"
                   f" acked {want.acked} in cycle {want.cycle})")


# -- the GC run in the background ---------------------------------------------------------------


class GcRunner:
    """`selfdrive gc` in another process, started now and then, killed now and then."""

    def __init__(self, h: Harness) -> None:
        self.h = h
        self.proc: subprocess.Popen[str] | None = None
        self.thread: threading.Thread | None = None
        self.killed = False

    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def start(self) -> None:
        if self.running():
            return
        self.killed = False
        self.proc = subprocess.Popen(self.h.gc_command(), stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.thread = threading.Thread(target=self._wait, args=(self.proc,), daemon=True)
        self.thread.start()

    def _wait(self, proc: subprocess.Popen[str]) -> None:
        out, _ = proc.communicate()
        self.h.gc_result(proc.returncode, out, killed=self.killed)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.killed = True
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGKILL)

    def join(self) -> None:
        if self.thread is not None:
            self.thread.join(timeout=300)


# -- the harness -----------------------------------------------------------------------------


class Harness:
    def __init__(
        self, workdir: Path, *, kills: int, seed: int, threads: int = 3,
        load_s: tuple[float, float] = (0.1, 1.0), gc_chance: float = 0.3,
        server_gc_interval_s: float = 0.5, audit_every: int = 10, grace_s: int = MIN_GRACE_S,
        settle_grace: str = "wait",
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.workdir = workdir
        self.data = workdir / "data"
        self.config = workdir / "crash.toml"
        self.kills_wanted = kills
        self.seed = seed
        self.threads = threads
        self.load_s = load_s
        self.gc_chance = gc_chance
        self.server_gc_interval_s = server_gc_interval_s
        self.audit_every = audit_every
        self.grace_s = grace_s
        assert settle_grace in ("wait", "age", "none"), settle_grace
        self.settle_grace = settle_grace
        self.last_kill = 0.0
        self.log = log or (lambda line: print(line, flush=True))
        self.lock = threading.Lock()
        self.killed = threading.Event()
        self.figures = Figures(seed=seed, cycles_planned=kills)
        self.rng = random.Random(seed)
        self.contents = Contents(random.Random(f"{seed}-contents"))
        self.gc = GcRunner(self)
        self.workers: list[Worker] = []
        self.tls = ssl.create_default_context()
        self.server: Server | None = None

    # -- small helpers ------------------------------------------------------------------

    def note(self, where: list[str], text: str) -> None:
        with self.lock:
            where.append(text)
        self.log(f"  ! {text}")

    def count_lost(self, user: str, node: Node, why: str, rev: int | None = None,
                   want: Rev | None = None) -> None:
        with self.lock:
            if want is not None:
                if want.bad:
                    return  # counted once, when first seen
                want.bad = True
            self.figures.lost += 1 if rev is not None else len(node.revs) or 1
        what = (f"rev {rev} (acked {want.acked} in cycle {want.cycle}, {want.size} B)"
                if want is not None else "every revision")
        where = f"; {self.diagnose(user, node.path(), rev)}" if rev is not None else ""
        self.note(self.figures.losses, f"LOST {user} {node.path()} {what}: {why}{where}")

    def diagnose(self, user: str, path: str, rev: int) -> str:
        """What meta.db and the block folders say about a revision (read-only)."""
        try:
            db = sqlite3.connect(f"file:{self.data / 'meta.db'}?mode=ro", uri=True, timeout=10)
            try:
                row = db.execute("SELECT root_id FROM users WHERE name = ?", (user,)).fetchone()
                node = row[0] if row else None
                for name in split(path):
                    row = db.execute("SELECT id FROM nodes WHERE parent_id = ? AND name = ?"
                                     " AND trashed_at IS NULL", (node, name)).fetchone()
                    node = row[0] if row else None
                row = db.execute("SELECT id, size FROM revisions WHERE node_id = ? AND rev = ?",
                                 (node, rev)).fetchone()
                if row is None:
                    return f"meta.db: node {node} has no revision {rev}"
                blocks = db.execute(
                    "SELECT rb.seq, rb.block_id, b.id IS NOT NULL FROM revision_blocks rb"
                    " LEFT JOIN blocks b ON b.id = rb.block_id WHERE rb.revision_id = ?"
                    " ORDER BY rb.seq", (row[0],)).fetchall()
            finally:
                db.close()
        except sqlite3.Error as exc:
            return f"meta.db unreadable: {exc}"
        out = []
        for seq, raw, has_row in blocks:
            hex_id = bytes(raw).hex()
            final = self.data / "blocks" / hex_id[:2] / hex_id[2:4] / hex_id
            aside = sorted(p.name[64:] for p in final.parent.glob(hex_id + ".*"))
            if not (has_row and final.exists()) or aside:
                out.append(f"block {seq} {hex_id}: row {bool(has_row)}, file {final.exists()}"
                           f"{', also ' + ' '.join(aside) if aside else ''}")
        return "; ".join(out) or f"revision {row[0]}: every block has a row and a file"

    def gc_command(self) -> list[str]:
        return [sys.executable, "-m", "selfdrive", "gc", "--config", str(self.config),
                "--data", str(self.data)]

    def gc_result(self, rc: int, out: str, *, killed: bool) -> None:
        with self.lock:
            if rc == 0:
                self.figures.gc["runs completed"] += 1
                m = GC_LINE.search(out)
                if m:
                    self.figures.gc["blocks freed"] += int(m.group(1))
                    self.figures.gc["orphans freed"] += int(m.group(3))
            elif killed and rc == -signal.SIGKILL:
                self.figures.gc["runs killed"] += 1
            else:
                self.figures.unexpected.append(f"selfdrive gc exited {rc}: {out[-2000:]}")
                self.log(f"  ! selfdrive gc exited {rc}: {out[-2000:]}")

    def mark(self, text: str) -> None:
        """A line in the server log, to find a cycle's lines again."""
        log = self.server.log if self.server is not None else None
        if log is not None:
            with log.open("a") as f:
                f.write(f"==== crash harness {time.strftime('%H:%M:%S')}: {text}\n")

    def write_config(self) -> None:
        self.config.write_text(
            "# written by tests/crash_harness.py\n"
            "[maintenance]\n"
            f"gc_grace_s = {self.grace_s}\n"
            f"interval_s = {self.server_gc_interval_s}\n"
            "[retention]\n"
            "max_revisions = 1000000\n"
        )

    # -- the run --------------------------------------------------------------------------

    def run(self) -> Figures:
        started = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.write_config()
        srv = self.server = CrashServer(data_dir=self.data,
                                        env={"SELFDRIVE_CONFIG": str(self.config)})
        self.log(f"crash harness: seed {self.seed}, {self.kills_wanted} kills, data in {self.data}")
        srv.start()
        self.figures.server_log = str(srv.log)
        for i in range(self.threads):
            name, token = srv.add_user(f"crash{i}")
            self.workers.append(Worker(self, i, name, token))
        try:
            for cycle in range(self.kills_wanted):
                if cycle:
                    self.mark(f"cycle {cycle}: start")
                    srv.start()
                self.settle(cycle)
                self.load(cycle)
                if cycle % 25 == 24:
                    f = self.figures
                    self.log(f"  {f.kills} kills, {sum(f.acked.values())} operations"
                             f" acknowledged, {time.monotonic() - started:.0f} s")
            self.mark("final start")
            srv.start()
            self.final_check(srv)
        finally:
            srv.stop()
            self.gc.kill()
            self.gc.join()
        self.store_checks()
        self.figures.wall_s = time.monotonic() - started
        return self.figures

    def client(self, w: Worker) -> httpx.Client:
        # One TLS context for all: httpx builds one per client otherwise (~50 ms of
        # CPU each, even for plain http), six times a cycle.
        assert self.server is not None
        return self.server.client(w.token, verify=self.tls)

    def each_worker(self, fn: Callable[[Worker, httpx.Client], None]) -> None:
        """fn(worker, client) for every worker at once (each its own user); errors raise."""
        errors: list[BaseException] = []

        def one(w: Worker) -> None:
            try:
                with self.client(w) as c:
                    fn(w, c)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=one, args=(w,)) for w in self.workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]

    def settle(self, cycle: int) -> None:
        """After a restart: settle the requests the kill cut off, check what was
        committed before it, and now and then audit the whole tree."""
        def one(w: Worker, c: httpx.Client) -> None:
            w.cycle = cycle
            w.reconcile(c)
            w.check_new(c)
            if cycle % self.audit_every == 0:
                w.audit(c)

        self.each_worker(one)

    def load(self, cycle: int) -> None:
        srv = self.server
        assert srv is not None and srv.process is not None
        if self.rng.random() < self.gc_chance:
            self.gc.start()
            with self.lock:
                self.figures.gc["runs started"] += 1
        duration = self.rng.uniform(*self.load_s)
        stop = threading.Event()
        self.killed.clear()
        clients = [self.client(w) for w in self.workers]
        threads = [threading.Thread(target=w.run_cycle,
                                    args=(c, random.Random(f"{self.seed}-{cycle}-{w.index}"), stop))
                   for w, c in zip(self.workers, clients, strict=True)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        time.sleep(duration)
        if srv.process.poll() is not None:
            self.note(self.figures.unexpected, f"cycle {cycle}: the server died by itself"
                      f" (exit {srv.process.returncode}); see {srv.log}")
        self.killed.set()
        self.mark(f"cycle {cycle}: SIGKILL after {duration:.3f} s")
        srv.kill()
        self.last_kill = time.time()
        if self.gc.running() and self.rng.random() < 0.5:
            self.gc.kill()
        stop.set()
        for t in threads:
            t.join(timeout=120)
        for c in clients:
            c.close()
        with self.lock:
            self.figures.kills += 1
            self.figures.load_s += time.monotonic() - t0

    def final_check(self, srv: Server) -> None:
        """Every revision the model knows, downloaded by rev; trash restored and checked."""
        self.gc.join()  # a GC left running finishes first

        def one(w: Worker, c: httpx.Client) -> None:
            w.cycle = self.kills_wanted
            w.reconcile(c)
            w.check_new(c)
            w.audit(c)
            # The load may end with an empty trash (a purge_all late in the run):
            # trash a live file so the restore below is never vacuous.
            if w.model.live_files() and not any(
                    n.is_file for e in w.model.entries() for n in e.subtree()):
                w.op_delete(c, random.Random(w.user))
            via_trash = w.restore_all_trash(c)
            w.audit(c)
            w.verify(c, via_trash)

        self.each_worker(one)

    def store_checks(self) -> None:
        """With the server stopped: gc, then fsck, then meta.db against the disk.

        A block file left by a crash is an orphan only once it is older than
        the grace period; so first the grace period since the last block write
        is waited out ("wait"), or every block and temp file is made that old
        with os.utime ("age": the same for the gc, with the server stopped, and
        a minute shorter), or neither ("none": younger files are counted apart).
        """
        f = self.figures
        if self.settle_grace == "wait":
            wait = self.last_kill + self.grace_s + 1 - time.time()
            if wait > 0:
                self.log(f"  waiting {wait:.0f} s for the grace period since the last block"
                         " write, so that the final gc may take every orphan")
                time.sleep(wait)
        elif self.settle_grace == "age":
            old = time.time() - self.grace_s - 1
            for path in (self.data / "blocks").glob("*/*/*"):
                with contextlib.suppress(FileNotFoundError):
                    if path.stat().st_mtime > old:
                        os.utime(path, (old, old))
        gc_started = time.time()
        r = subprocess.run(self.gc_command(), capture_output=True, text=True, timeout=600)
        f.final_gc = (r.stdout.strip() or r.stderr.strip())[-400:]
        if r.returncode != 0:
            f.unexpected.append(f"final selfdrive gc exited {r.returncode}: {r.stderr[-2000:]}")
        f.fsck, f.fsck_ok = self.fsck()
        blocks = self.data / "blocks"
        files: set[bytes] = set()
        young: set[bytes] = set()
        temp = 0
        for shard in blocks.glob("*/*"):
            with os.scandir(shard) as it:
                for entry in it:
                    if len(entry.name) == 64:
                        files.add(bytes.fromhex(entry.name))
                        if entry.stat().st_mtime >= gc_started - self.grace_s:
                            young.add(bytes.fromhex(entry.name))
                    else:
                        temp += 1
        db = sqlite3.connect(f"file:{self.data / 'meta.db'}?mode=ro", uri=True)
        try:
            rows = {bytes(r[0]) for r in db.execute("SELECT id FROM blocks")}
            referenced = {bytes(r[0]) for r in
                          db.execute("SELECT DISTINCT block_id FROM revision_blocks")}
            pinned = {bytes(r[0]) for r in db.execute(
                "SELECT block_id FROM upload_blocks UNION SELECT block_id FROM uploaded_blocks")}
        finally:
            db.close()
        f.block_files = len(files)
        f.orphans_after_gc = len(files - rows - young)
        f.young_orphans = len((files - rows) & young)
        f.rows_without_file = len(rows - files)
        f.referenced_without_row = len(referenced - rows)
        f.unreferenced_rows_after_gc = len(rows - referenced - pinned)
        f.pinned_by_dead_uploads = len((rows & pinned) - referenced)
        f.stray_temp_files = temp
        for what, ids in (("orphan block file", files - rows - young), ("block row without file",
                          rows - files), ("referenced block without row", referenced - rows)):
            for bid in sorted(ids)[:10]:
                self.log(f"  ! {what}: {bid.hex()}")

    def fsck(self) -> tuple[str, bool | None]:
        help_ = subprocess.run([sys.executable, "-m", "selfdrive", "fsck", "--help"],
                               capture_output=True, text=True, timeout=60)
        if help_.returncode != 0:
            return ("SKIPPED: `selfdrive fsck` is not available yet"
                    f" ({(help_.stderr.strip().splitlines() or ['?'])[-1]})"), None
        r = subprocess.run([sys.executable, "-m", "selfdrive", "fsck", "--config",
                            str(self.config), "--data", str(self.data)],
                           capture_output=True, text=True, timeout=1800)
        text = (r.stdout.strip() or r.stderr.strip()).replace("\n", " | ")[-600:]
        return f"exit {r.returncode}: {text}", r.returncode == 0


def run(workdir: Path, *, kills: int, seed: int, **kw: Any) -> Figures:
    figures = Harness(workdir, kills=kills, seed=seed, **kw).run()
    return figures
