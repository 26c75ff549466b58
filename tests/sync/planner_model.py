"""A model of the sync engine, for testing the planner CanopyCheck-style.

Terms:

- a *world* holds the three trees the planner compares (base, local, remote;
  selfdrive/sync/tree.py) as plain dicts, and what the model keeps to judge
  data safety: the *local trash* (contents the engine moved there) and the
  server's *history* (every content the server ever held: its revisions and
  its trash keep them all; what the base holds was on the server too);
- a *side* is "local" or "remote"; `World.write`, `mkdir`, `remove`, `move`
  and `chmod` change one side as a user, or another device, would;
- `World.apply` runs one planner operation against the trees as engine.py
  `_dispatch` does against the disk and the server.  Where the engine catches
  a failure (`transfer.Changed`, a 409, FileNotFoundError) and tries again
  next round, the model raises `Skip`; where the OSError is one the engine
  does not catch, so its whole round fails, `Crash`; `DataLost` where a
  local file's content would be replaced although the server never held it;
- a *case* is a seeded random triple: a base, and local and remote each made
  from it by a few independent edits (`generate`); `check` runs it to the end
  and asserts the properties below; `replay(seed)` prints a case's story and
  `shrink(seed)` the smallest triple of trees that still fails the same way.

The properties (`check_world` and `check`):

(a) rounds of plan -> run reach an empty plan within `MAX_ROUNDS`, and no
    round crashes;
(b) then local and remote hold the same keys with the same identity
    (tree.same), and the base agrees with both (inode, server id, revision);
(c) no content is lost: what the three trees held at the start is on disk,
    on the server, in the local trash or in the server's history;
(d) an edit is never lost to a delete: a file edited on one side and deleted
    on the other still lives (on disk or on the server, maybe as a copy);
(e) a single move on one side (the case's only change) is made on the other
    as one move, with nothing sent again;
(f) no planned operation fails (a failure is a wasted round trip at best),
    save the removal of a local folder that is not empty yet; and the first
    round leaves unsettled files alone.

With ``strict=False`` only the data-safety properties (c), (d), (e) are
asserted: a crashed round loses the rest of its operations (as in the
engine, which tries again later) and a case need not converge.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from selfdrive.core.conflicts import conflict_name
from selfdrive.sync.planner import (
    ConflictCopy,
    DeleteLocal,
    DeleteRemote,
    Download,
    Forget,
    MkdirLocal,
    MkdirRemote,
    MoveLocal,
    MoveRemote,
    Op,
    Options,
    Problem,
    Rebase,
    Record,
    Upload,
    plan,
)
from selfdrive.sync.tree import Base, Local, Remote, rebase, same, under

Side = Literal["local", "remote"]
T = TypeVar("T")

DEVICE = "laptop"
NOW_MS = 1_790_000_000_000
OPTIONS = Options(device=DEVICE, now_ms=NOW_MS)
MAX_ROUNDS = 6
#: contents both sides draw from, so that equal content happens by chance
POOL = ("c1", "c2", "c3", "c4", "c5", "c6")
#: names: a case pair ("d", "D"), and now and then a conflict copy made by another device
NAMES = ("a", "b", "c.txt", "d", "D", "e.md")
COPY_NAME = conflict_name("c.txt", device="phone", when_ms=0)


class ModelError(AssertionError):
    """A property of the planner does not hold."""


class Crash(ModelError):
    """An operation whose OSError the engine does not catch: its round fails."""


class DataLost(ModelError):
    """A local file's only copy would be replaced."""


class Skip(Exception):
    """An operation the engine would fail, log and leave for the next round."""


def size_of(content: str | None) -> int:
    return 0 if content is None else len(content)


def base_of(loc: Local, rem: Remote) -> Base:
    """What engine._base records from the two sides."""
    return Base(kind=loc.kind, remote_id=rem.id, ino=loc.ino, content_hash=loc.content_hash,
                size=loc.size, rev=rem.rev, mtime_ns=loc.mtime_ns, executable=loc.executable)


def contents(items: Iterable[Local | Remote | Base]) -> set[str]:
    return {i.content_hash for i in items if i.kind == "file" and i.content_hash}


def _subtree(tree: Mapping[str, object], key: str) -> list[str]:
    return [k for k in tree if under(k, key)]


def _ancestors(key: str) -> list[str]:
    """The ancestors of *key*, the outermost first."""
    parts = key.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _move_keys(tree: MutableMapping[str, T], src: str, dst: str) -> None:
    """Move *src* and what is under it to *dst*, over what sits at the new keys
    (state._move does so for the base)."""
    moving = {k: tree.pop(k) for k in _subtree(tree, src)}
    for k, item in moving.items():
        tree[rebase(k, src, dst)] = item


def _same_stat(a: Local, b: Local) -> bool:
    return (a.ino, a.size, a.mtime_ns) == (b.ino, b.size, b.mtime_ns)


# ---- the world ------------------------------------------------------------------


@dataclass
class World:
    base: dict[str, Base] = field(default_factory=dict)
    local: dict[str, Local] = field(default_factory=dict)
    remote: dict[str, Remote] = field(default_factory=dict)
    #: local files the planner sees as unsettled (content_hash None) in the next plan
    unsettled: set[str] = field(default_factory=set)
    local_trash: list[str] = field(default_factory=list)
    history: set[str] = field(default_factory=set)
    next_ino: int = 1
    next_id: int = 1001
    clock: int = 1
    #: the plans run, round by round
    rounds: list[list[Op]] = field(default_factory=list)
    #: the operations that failed: (round, op, why)
    skipped: list[tuple[int, Op, str]] = field(default_factory=list)
    crashes: list[tuple[int, Op, str]] = field(default_factory=list)

    @classmethod
    def agreed(cls, spec: Mapping[str, str | None]) -> World:
        """Disk and server holding *spec* and agreeing on it: {key: content, or
        None for a folder}; a content "c1+x" is executable."""
        w = cls()
        w.put("local", spec)
        w.put("remote", spec)
        w.base = {k: base_of(w.local[k], w.remote[k]) for k in w.local}
        return w

    @classmethod
    def first_sync(cls, local: Mapping[str, str | None],
                   remote: Mapping[str, str | None]) -> World:
        """No base yet: a folder meets a server that already holds files."""
        w = cls()
        w.put("local", local)
        w.put("remote", remote)
        return w

    def put(self, side: Side, spec: Mapping[str, str | None]) -> None:
        for key in sorted(spec):
            content = spec[key]
            if content is None:
                self.mkdir(side, key)
            else:
                self.write(side, key, content)

    def fresh_ino(self) -> int:
        self.next_ino += 1
        return self.next_ino

    def fresh_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def tick(self) -> int:
        self.clock += 1
        return self.clock

    # ---- a user's (or another device's) changes to one side ----

    def tree(self, side: Side) -> dict[str, Local] | dict[str, Remote]:
        return self.local if side == "local" else self.remote

    def write(self, side: Side, key: str, spec: str, *, new: bool = False,
              executable: bool | None = None) -> None:
        """Write a file (*spec* "c1" or "c1+x"): an edit keeps its identity (a
        new revision on the server); *new* makes a new one (save-by-rename)."""
        content, _, x = spec.partition("+")
        exe = x == "x" if executable is None else executable
        self._parents(side, key)
        if side == "local":
            old = self.local.get(key)
            ino = old.ino if old is not None and old.kind == "file" and not new else None
            self.local[key] = Local("file", ino or self.fresh_ino(), content, size_of(content),
                                    self.tick(), exe)
        else:
            was = self.remote.get(key)
            kept = was if was is not None and was.kind == "file" and not new else None
            self.remote[key] = Remote("file", kept.id if kept else self.fresh_id(), content,
                                      size_of(content), kept.rev + 1 if kept else 1, exe)
            self.history.add(content)

    def chmod(self, side: Side, key: str) -> None:
        """Flip the executable bit: a new revision on the server; on disk a new
        ctime, not a new mtime."""
        if side == "local":
            loc = self.local[key]
            self.local[key] = dataclasses.replace(loc, executable=not loc.executable)
        else:
            rem = self.remote[key]
            self.remote[key] = dataclasses.replace(rem, executable=not rem.executable,
                                                   rev=rem.rev + 1)

    def mkdir(self, side: Side, key: str) -> None:
        self._parents(side, key)
        if side == "local":
            self.local[key] = Local("folder", self.fresh_ino(), None)
        else:
            self.remote[key] = Remote("folder", self.fresh_id())

    def remove(self, side: Side, key: str) -> None:
        tree = self.tree(side)
        for k in _subtree(tree, key):
            del tree[k]

    def move(self, side: Side, src: str, dst: str) -> None:
        assert not under(dst, src) and dst not in self.tree(side), (src, dst)
        self._parents(side, dst)
        if side == "local":
            _move_keys(self.local, src, dst)
        else:
            _move_keys(self.remote, src, dst)

    def _parents(self, side: Side, key: str) -> None:
        tree = self.tree(side)
        for a in _ancestors(key):
            if a not in tree:
                self.mkdir(side, a)
            assert tree[a].kind == "folder", f"{side}: {a} is a file (making {key})"

    # ---- planning and running ----

    def plan(self) -> list[Op]:
        local = dict(self.local)
        for key in self.unsettled & set(local):
            local[key] = dataclasses.replace(local[key], content_hash=None)
        return plan(self.base, local, self.remote, OPTIONS)

    def run(self, max_rounds: int = MAX_ROUNDS, *, strict: bool = True) -> bool:
        """Plan and run until a plan is empty; whether one was.  The unsettled
        files settle after the first round.  Strict, a crashed round or no
        empty plan raises; else a crash ends its round, as in the engine."""
        for n in range(1, max_rounds + 1):
            ops = self.plan()
            pending = bool(self.unsettled)
            self.unsettled.clear()
            if all(isinstance(op, Problem) for op in ops) and not pending:
                return True
            self.rounds.append(ops)
            for op in ops:
                try:
                    self.apply(op)
                except Skip as exc:
                    self.skipped.append((n, op, str(exc)))
                except Crash as exc:
                    if strict:
                        raise
                    self.crashes.append((n, op, str(exc)))
                    break
        if strict:
            raise ModelError(f"no empty plan after {max_rounds} rounds; the next: {self.plan()}")
        return False

    def apply(self, op: Op) -> None:
        """Run *op* as engine._dispatch does."""
        match op:
            case Record(key, loc, rem):
                self.base[key] = base_of(loc, rem)
            case Forget(key):
                self.base.pop(key, None)
            case Problem():
                pass
            case MkdirLocal(key, rem):
                if (here := self.local.get(key)) is not None and here.kind != "folder":
                    raise Crash(f"{op}: mkdir: a file is in the way")
                self._local_parents(op, key)
                if here is None:
                    self.mkdir("local", key)
                self.base[key] = base_of(self.local[key], rem)
            case MkdirRemote(key, loc):
                if (there := self.remote.get(key)) is not None and there.kind != "folder":
                    raise Skip("409: a file is in the way on the server")
                self._remote_parents(key)
                if there is None:
                    self.mkdir("remote", key)
                self.base[key] = base_of(loc, self.remote[key])
            case Upload(key, loc, base_rev):
                self._upload(key, loc, base_rev)
            case Download(key, rem, expect):
                self._download(op, key, rem, expect)
            case DeleteLocal(key, expect):
                self._delete_local(key, expect)
            case DeleteRemote(key, kind, rev):
                there = self.remote.get(key)
                if there is not None and kind == "file" and (
                        there.kind != "file" or there.rev != rev):
                    raise Skip(f"409: the server holds {there}")
                self.remove("remote", key)  # into the server's trash: history keeps it
                for k in _subtree(self.base, key):
                    del self.base[k]
            case Rebase(src, dst):
                _move_keys(self.base, src, dst)
            case MoveLocal(src, dst, base_key):
                if src not in self.local:
                    raise Skip(f"FileNotFoundError: {src}")
                if dst in self.local:
                    raise Skip(f"Changed: {dst} exists")
                if under(dst, src):
                    raise Crash(f"{op}: os.rename into itself (EINVAL)")
                self._local_parents(op, dst)
                self.move("local", src, dst)
                _move_keys(self.base, base_key or src, dst)
            case MoveRemote(src, dst, base_key):
                self._move_remote(src, dst, base_key or src)
            case ConflictCopy(key, copy, loc, rem):
                self._conflict_copy(op, key, copy, loc, rem)

    def _local_parents(self, op: Op, key: str) -> None:
        """mkdir(parents=True) under a file: NotADirectoryError / FileExistsError."""
        for a in _ancestors(key):
            if (item := self.local.get(a)) is not None and item.kind != "folder":
                raise Crash(f"{op}: {a} is a file on disk")

    def _remote_parents(self, key: str) -> None:
        for a in _ancestors(key):
            if (item := self.remote.get(a)) is not None and item.kind != "folder":
                raise Skip(f"409: {a} is a file on the server")

    def _upload(self, key: str, loc: Local, base_rev: int) -> None:
        here = self.local.get(key)
        if here is None:
            raise Skip(f"FileNotFoundError: {key}")
        if not _same_stat(here, loc) or here.content_hash != loc.content_hash:
            raise Skip(f"Changed: the disk holds {here}")
        there = self.remote.get(key)
        if there is not None and there.kind != "file":
            raise Skip("409: a folder is in the way on the server")
        if (there.rev if there else 0) != base_rev:
            if there is None or there.content_hash != loc.content_hash:
                raise Skip(f"409: the server holds {there}")
            rem = there  # engine._upload: ours is there already
        else:
            self._remote_parents(key)
            self.write("remote", key, loc.content_hash or "", executable=loc.executable)
            rem = self.remote[key]
        self.base[key] = base_of(loc, rem)

    def _download(self, op: Op, key: str, rem: Remote, expect: Local | None) -> None:
        there = self.remote.get(key)
        if there is None or there.kind != "file":
            raise Skip(f"404: the server holds {there}")
        self._local_parents(op, key)
        here = self.local.get(key)
        if expect is None and here is not None:
            raise Skip(f"Changed: {here} appeared on disk")
        if expect is not None and (
                here is None or here.kind != "file" or not _same_stat(here, expect)):
            raise Skip(f"Changed: the disk holds {here}")
        if here is not None and here.content_hash not in self.history:
            raise DataLost(f"{op} replaces {here.content_hash}, which the server never held")
        self._parents("local", key)
        loc = Local("file", self.fresh_ino(), rem.content_hash, rem.size, self.tick(),
                    rem.executable)
        self.local[key] = loc
        self.base[key] = base_of(loc, rem)

    def _delete_local(self, key: str, expect: Local) -> None:
        here = self.local.get(key)
        if here is None:
            raise Skip(f"FileNotFoundError: {key}")
        if here.ino != expect.ino or (expect.kind == "file" and not _same_stat(here, expect)):
            raise Skip(f"Changed: the disk holds {here}")
        if here.kind == "folder" and len(_subtree(self.local, key)) > 1:
            raise Skip(f"Changed: {key} is not empty")
        if here.content_hash is not None:
            self.local_trash.append(here.content_hash)
        del self.local[key]
        for k in _subtree(self.base, key):
            del self.base[k]

    def _move_remote(self, src: str, dst: str, base_key: str) -> None:
        if src in self.remote and dst not in self.remote and not under(dst, src):
            self._remote_parents(dst)
            self.move("remote", src, dst)
        else:  # done already, if an earlier try's answer was lost
            there, b = self.remote.get(dst), self.base.get(base_key)
            if there is None or b is None or there.id != b.remote_id:
                raise Skip(f"40x: cannot move {src} -> {dst} on the server")
        _move_keys(self.base, base_key, dst)

    def _conflict_copy(self, op: Op, key: str, copy: str, loc: Local, rem: Remote) -> None:
        here = self.local.get(key)
        if here is None:
            raise Skip(f"FileNotFoundError: {key}")
        if here.kind != "file" or not _same_stat(here, loc):
            raise Skip(f"Changed: the disk holds {here}")
        if copy in self.local:
            raise Skip(f"Changed: {copy} exists")
        _move_keys(self.local, key, copy)
        for k in _subtree(self.base, key):
            del self.base[k]
        # a failure from here on leaves the file renamed: the next round sees it there
        self._upload(copy, dataclasses.replace(loc, disk=None), 0)
        if rem.kind == "folder":
            self._local_parents(op, key)
            self.mkdir("local", key)
            self.base[key] = base_of(self.local[key], rem)
        else:
            self._download(op, key, rem, None)


# ---- describing -----------------------------------------------------------------


def _what(item: Local | Remote | Base) -> str:
    if item.kind == "folder":
        return "folder"
    return f"file {item.content_hash}{'+x' if item.executable else ''}"


def show(w: World) -> str:
    """The three trees, one item a line."""
    return "\n".join([
        "base:", *(f"  {k}: {_what(b)} ino={b.ino} id={b.remote_id} rev={b.rev}"
                   for k, b in sorted(w.base.items())),
        "local:", *(f"  {k}: {_what(v)} ino={v.ino} mtime={v.mtime_ns}"
                    + (" UNSETTLED" if k in w.unsettled else "")
                    for k, v in sorted(w.local.items())),
        "remote:", *(f"  {k}: {_what(v)} id={v.id} rev={v.rev}"
                     for k, v in sorted(w.remote.items())),
    ])


def story(w: World, head: str) -> str:
    lines = [head]
    for n, ops in enumerate(w.rounds, 1):
        lines += [f"round {n}:", *(f"  {op}" for op in ops)]
    lines += [f"skipped in round {n}: {op}: {why}" for n, op, why in w.skipped]
    lines += [f"crashed round {n}: {why}" for n, _op, why in w.crashes]
    lines += ["at the end:", show(w), f"local trash: {w.local_trash}"]
    return "\n".join(lines)


# ---- random cases ---------------------------------------------------------------


@dataclass
class Case:
    seed: int
    #: "edits", "first-sync" (no base) or "move" (one move, nothing else)
    mode: str
    world: World
    #: what each side did, in words
    log: list[str] = field(default_factory=list)
    #: side -> base file key -> where that side's version of it is (None: deleted)
    lineage: dict[str, dict[str, str | None]] = field(default_factory=dict)
    #: the one move of a "move" case: (side, src, dst)
    simple_move: tuple[Side, str, str] | None = None
    #: the three trees before any round, shown
    initial: str = ""

    def describe(self, failure: str = "") -> str:
        return "\n".join([
            f"seed {self.seed} ({self.mode}): {failure}",
            f"reproduce: from tests.sync.planner_model import replay; replay({self.seed})",
            "the three trees at the start:", self.initial,
            "what each side did:", *(f"  {line}" for line in self.log),
        ])


class _Gen:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.unique = 0

    def content(self, side: Side) -> str:
        """A pooled content half the time (the other side may write it too),
        else one that only this write makes."""
        if self.rng.random() < 0.5:
            return self.rng.choice(POOL)
        self.unique += 1
        return f"{side[0].upper()}{self.unique}"

    def spec(self, side: Side) -> str:
        return self.content(side) + ("+x" if self.rng.random() < 0.15 else "")

    def name(self) -> str:
        return COPY_NAME if self.rng.random() < 0.04 else self.rng.choice(NAMES)

    def free_key(self, tree: Mapping[str, Local | Remote], avoid: str | None = None) -> str | None:
        """A free key in an existing folder (at most three deep), not under *avoid*."""
        folders = ["", *sorted(k for k, v in tree.items() if v.kind == "folder"
                               and k.count("/") < 2 and (avoid is None or not under(k, avoid)))]
        for _ in range(8):
            p = self.rng.choice(folders)
            key = f"{p}/{self.name()}" if p else self.name()
            if key not in tree:
                return key
        return None


def generate(seed: int) -> Case:
    """A random triple: a base of up to 15 items, and local and remote each
    changed from it by a few independent edits."""
    g = _Gen(seed)
    rng = g.rng
    w = World()
    roll = rng.random()
    mode = "first-sync" if roll < 0.08 else "move" if roll < 0.2 else "edits"
    for _ in range(rng.randint(1 if mode == "move" else 0, 15)):
        key = g.free_key(w.local)
        if key is None:
            continue
        if rng.random() < 0.35:
            w.mkdir("local", key)
        else:
            w.write("local", key, g.spec("local"))
    for key in sorted(w.local):  # the server's copy: its own ids and revisions
        loc = w.local[key]
        w.remote[key] = Remote("folder", w.fresh_id()) if loc.kind == "folder" else Remote(
            "file", w.fresh_id(), loc.content_hash, loc.size, rng.randint(1, 3), loc.executable)
    if mode == "first-sync":  # the same files on disk, but no memory of agreeing
        w.local = {k: dataclasses.replace(v, ino=w.fresh_ino()) for k, v in w.local.items()}
    else:
        w.base = {k: base_of(w.local[k], w.remote[k]) for k in w.local}
    w.history |= contents(w.remote.values()) | contents(w.base.values())
    case = Case(seed, mode, w)
    case.lineage = {s: {k: k for k, b in w.base.items() if b.kind == "file"}
                    for s in ("local", "remote")}
    if mode == "move":
        _one_move(g, case)
    else:
        shared = [k for k in (g.free_key(w.local) for _ in range(3)) if k is not None]
        sides: tuple[Side, Side] = ("local", "remote")
        for side in sides:
            for _ in range(rng.choice((0, 1, 1, 2, 2, 3, 4))):
                _mutate(g, case, side, shared)
        files = sorted(k for k, v in w.local.items() if v.kind == "file")
        if files and rng.random() < 0.04:
            w.unsettled.add(rng.choice(files))
            case.log.append(f"local: {min(w.unsettled)} is unsettled in round 1")
    case.initial = show(w)
    return case


def _one_move(g: _Gen, case: Case) -> None:
    w, rng = case.world, g.rng
    side: Side = rng.choice(("local", "remote"))
    tree = w.tree(side)
    src = rng.choice(sorted(tree))
    dst = _case_swap(src) if rng.random() < 0.2 else g.free_key(tree, avoid=src)
    if dst is None or dst in tree:
        return
    w.move(side, src, dst)
    case.simple_move = (side, src, dst)
    case.log.append(f"{side}: move {src} -> {dst}")


def _case_swap(key: str) -> str:
    folder, _, name = key.rpartition("/")
    return f"{folder}/{name.swapcase()}" if folder else name.swapcase()


def _mutate(g: _Gen, case: Case, side: Side, shared: list[str]) -> None:
    """One random change to one side, noted in the case's log and lineage."""
    w, rng = case.world, g.rng
    tree = w.tree(side)
    files = sorted(k for k, v in tree.items() if v.kind == "file")
    folders = sorted(k for k, v in tree.items() if v.kind == "folder")
    lineage = case.lineage[side]
    what = rng.choice(("edit", "edit", "chmod", "delete", "delete folder", "create", "create",
                       "mkdir", "move", "move", "move+edit", "replace", "save by rename"))

    def note(text: str) -> None:
        case.log.append(f"{side}: {text}")

    def gone(key: str) -> None:
        for bk, cur in lineage.items():
            if cur is not None and under(cur, key):
                lineage[bk] = None

    def other(key: str) -> str:
        new = g.content(side)
        return new if new != tree[key].content_hash else f"{new}'"

    def edit(key: str, *, new: bool = False) -> None:
        content = other(key)
        w.write(side, key, content, new=new, executable=tree[key].executable)
        note(f"{'save by rename' if new else 'edit'} {key} = {content}")

    if what in ("edit", "save by rename") and files:
        edit(rng.choice(files), new=what == "save by rename")
    elif what == "chmod" and files:
        key = rng.choice(files)
        w.chmod(side, key)
        note(f"chmod {key}")
    elif what in ("delete", "delete folder") and (files if what == "delete" else folders):
        key = rng.choice(files if what == "delete" else folders)
        w.remove(side, key)
        gone(key)
        note(f"{what} {key}")
    elif what in ("create", "mkdir"):
        picks = [k for k in shared if k not in tree and all(
            a in tree and tree[a].kind == "folder" for a in _ancestors(k))]
        made = rng.choice(picks) if picks and rng.random() < 0.6 else g.free_key(tree)
        if made is None:
            return
        key = made
        if what == "mkdir":
            w.mkdir(side, key)
            note(f"mkdir {key}")
        else:
            spec = g.spec(side)
            w.write(side, key, spec)
            note(f"create {key} = {spec}")
    elif what in ("move", "move+edit") and tree:
        src = rng.choice(files if what == "move+edit" and files else sorted(tree))
        dst = _case_swap(src) if rng.random() < 0.15 else g.free_key(tree, avoid=src)
        if dst is None or dst in tree:
            return
        w.move(side, src, dst)
        for bk, cur in lineage.items():
            if cur is not None and under(cur, src):
                lineage[bk] = rebase(cur, src, dst)
        note(f"move {src} -> {dst}")
        if what == "move+edit" and tree[dst].kind == "file":
            edit(dst)
    elif what == "replace" and tree:
        key = rng.choice(sorted(tree))
        gone(key)
        if tree[key].kind == "file":
            del tree[key]
            w.mkdir(side, key)
            note(f"replace file {key} by a folder")
        else:
            w.remove(side, key)
            spec = g.spec(side)
            w.write(side, key, spec)
            note(f"replace folder {key} by a file = {spec}")


# ---- the properties ---------------------------------------------------------------


def check(seed: int, *, strict: bool = True) -> Case:
    """Run one case and assert the properties (module docstring); the
    AssertionError tells the case's whole story."""
    case = generate(seed)
    try:
        _check(case, strict=strict)
    except AssertionError as exc:
        head = case.describe(f"{type(exc).__name__}: {exc}")
        raise AssertionError(story(case.world, head)) from None
    return case


def replay(seed: int, *, strict: bool = True) -> None:
    """Print one case's story (and raise its failure, if any)."""
    case = generate(seed)
    try:
        _check(case, strict=strict)
    finally:
        print(story(case.world, case.describe()))


def _check(case: Case, *, strict: bool) -> None:
    w = case.world
    base0, local0, remote0 = dict(w.base), dict(w.local), dict(w.remote)
    check_world(w, strict=strict)
    if case.simple_move is not None:  # (e)
        _check_simple_move(case.simple_move, w.rounds[0] if w.rounds else [])
    live = contents(w.local.values()) | contents(w.remote.values())
    for bk, b in base0.items():  # (d)
        if b.kind != "file":
            continue
        for side, theirs, tree0 in (("local", "remote", local0), ("remote", "local", remote0)):
            mine = case.lineage[side][bk]
            if mine is None or case.lineage[theirs][bk] is not None:
                continue
            edited = tree0[mine].content_hash
            assert edited == b.content_hash or edited in live, (
                f"the {side} edit of {bk} (then {mine} = {edited}) was lost to the "
                f"{theirs} delete")


def check_world(w: World, *, strict: bool = True) -> None:
    """Run *w* to the end and assert (a), (b), (c) and (f); only (c) unless *strict*."""
    before = contents(w.local.values()) | contents(w.remote.values()) | contents(
        w.base.values())
    unsettled = set(w.unsettled)
    w.run(strict=strict)
    live = contents(w.local.values()) | contents(w.remote.values())
    lost = before - live - set(w.local_trash) - w.history
    assert not lost, f"DATA LOST: {sorted(lost)}"
    if not strict:
        return
    lk, rk, bk = set(w.local), set(w.remote), set(w.base)
    assert lk == rk == bk, f"the trees differ in keys: {sorted((lk | rk | bk) - (lk & rk & bk))}"
    for k, b in w.base.items():
        loc, rem = w.local[k], w.remote[k]
        assert same(loc, rem) and same(b, loc), f"{k} differs: {b} {loc} {rem}"
        assert (b.ino, b.remote_id, b.rev) == (loc.ino, rem.id, rem.rev), f"{k}: base {b}"
    failed = [(n, op, why) for n, op, why in w.skipped if not why.endswith("is not empty")]
    assert not failed, f"planned operations failed: {failed}"
    touched = _local_keys_of(w.rounds[0] if w.rounds else []) & unsettled
    assert not touched, f"the first round touches the unsettled {sorted(touched)}"


def _local_keys_of(ops: Iterable[Op]) -> set[str]:
    """The keys on disk that *ops* read or change."""
    keys: set[str] = set()
    for op in ops:
        match op:
            case MoveLocal(src, dst):
                keys |= {src, dst}
            case ConflictCopy(key, copy):
                keys |= {key, copy}
            case MoveRemote() | MkdirRemote() | DeleteRemote() | Problem() | Rebase():
                pass
            case _:
                keys.add(op.key)
    return keys


def _check_simple_move(move: tuple[Side, str, str], ops: list[Op]) -> None:
    side, src, dst = move
    made: Callable[[str, str], Op] = MoveRemote if side == "local" else MoveLocal
    others = [op for op in ops if not isinstance(op, Record)]
    assert others == [made(src, dst)], (
        f"the {side} move {src} -> {dst} should be made as one {made.__name__}, not {others}")


# ---- shrinking --------------------------------------------------------------------


Trees = tuple[dict[str, Base], dict[str, Local], dict[str, Remote]]


def shrink(seed: int, *, strict: bool = True) -> World | None:
    """The smallest triple of trees (dropping subtrees from one, two or all
    three) that still fails as *seed* does, as a fresh world; None if it passes."""
    start = generate(seed).world
    trees: Trees = (dict(start.base), dict(start.local), dict(start.remote))
    loose, history = set(start.unsettled), set(start.history)

    def world(t: Trees) -> World:
        return World(base=dict(t[0]), local=dict(t[1]), remote=dict(t[2]),
                     unsettled=loose & set(t[1]), history=set(history),
                     next_ino=100_000, next_id=200_000)

    def fails(t: Trees) -> str | None:
        try:
            check_world(world(t), strict=strict)
        except AssertionError as exc:
            return f"{type(exc).__name__}: {str(exc).partition('(')[0][:40]}"
        return None

    target = fails(trees)
    if target is None:
        return None
    smaller = True
    while smaller:
        smaller = False
        for key in sorted(set(trees[0]) | set(trees[1]) | set(trees[2]),
                          key=lambda k: -k.count("/")):
            for drop in ((0, 1, 2), (0,), (1,), (2,), (0, 1), (0, 2), (1, 2)):
                cut = _cut(trees, key, drop)
                if cut != trees and fails(cut) == target:
                    trees, smaller = cut, True
                    break
            if smaller:
                break
    return world(trees)


def _cut(trees: Trees, key: str, drop: tuple[int, ...]) -> Trees:
    """*trees* without *key*'s subtree in the trees numbered in *drop*."""
    def keep(i: int, k: str) -> bool:
        return i not in drop or not under(k, key)
    base, local, remote = trees
    return ({k: v for k, v in base.items() if keep(0, k)},
            {k: v for k, v in local.items() if keep(1, k)},
            {k: v for k, v in remote.items() if keep(2, k)})
