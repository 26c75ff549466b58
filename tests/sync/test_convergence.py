"""Randomized convergence: two or three devices of one user (real `selfdrive
sync --once` processes, the real server on 127.0.0.1) make random changes,
sync in random order, and now and then a sync is killed (SIGKILL) mid-run.
At the end every device syncs until none has anything left to do; then

1. every device holds the same tree (paths, kinds, contents, exec bits);
2. the server holds that tree too;
3. no version is lost: every content a sync could have seen is still
   somewhere (a current file on a device or the server, a server revision,
   the server's trash, a device's local trash; conflict copies are files).

Terms:

*snapshot*
    A tree as ``{rel path: ("folder",) | ("file", sha256, executable)}``;
    on a device it leaves out the client's state folder ``.selfdrive/`` and
    its temp files (``.selfdrive-tmp-*``, debris a kill may leave).
*seen*
    The contents on a device's disk when a sync started there that then ran
    to its end.  A content overwritten before any such sync is legitimately
    never seen (nor one present only while a sync was killed: that run may
    have died before reading it).
*quiet*
    A sync that changed neither its folder nor the server (its change cursor
    stands still).  The final phase ends after one quiet sync per device in a
    row.

Each case is seeded.  A failure names the seed, the pytest command that runs
it again and the log of what was done; kills land at random moments, so a
replay runs the same script, not always the same interleaving.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import random
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import httpx
import pytest

from selfdrive.core.conflicts import is_conflict_copy
from tests.conftest import Server
from tests.sync.conftest import PASSWORD, Device

MakeDevice = Callable[..., Device]
Snapshot = dict[str, tuple[object, ...]]

STATE_DIR = ".selfdrive"
TEMP_PREFIX = ".selfdrive-tmp-"
#: where the server's tree is put aside to read its trash (no name the runs use)
PARKING = "parked-by-the-check"
FILE_NAMES = ("a.txt", "b.txt", "notes.md", "run.sh", "data.bin", "c")
FOLDER_NAMES = ("A", "B", "docs", "Deep")
MAX_DEPTH = 3
KILL_AFTER_S = (0.0, 1.5)
#: final syncs allowed per device before "did not converge"
FINAL_PASSES = 6

QUICK_SEEDS = [1, 2, 5]
#: Five long seeds per run (about 6 min on the CI VM, whose budget is 30 min
#: in all and nearly used), a different five each day, so that CI covers new
#: seeds every day and a failure names a seed anyone can run again.
#: SELFDRIVE_CONVERGENCE_SEEDS=N runs N of them instead.
_TODAY = datetime.date.today().toordinal()
_MANY = int(os.environ.get("SELFDRIVE_CONVERGENCE_SEEDS", "5"))
MANY_SEEDS = [1000 + (_TODAY * 6 + i) % 1_000_000 for i in range(_MANY)]


@pytest.mark.parametrize("seed", QUICK_SEEDS)
def test_random_changes_converge(seed: int, make_device: MakeDevice, server: Server,
                                 request: pytest.FixtureRequest, tmp_path: Path) -> None:
    Scenario(seed, make_device, server, request.node.nodeid, tmp_path, steps=4).run()


@pytest.mark.slow
@pytest.mark.parametrize("seed", MANY_SEEDS)
def test_random_changes_converge_many_seeds(
    seed: int, make_device: MakeDevice, server: Server, request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    Scenario(seed, make_device, server, request.node.nodeid, tmp_path, steps=20).run()


# ---- what the random runs found, made small -------------------------------------


def _pair(make_device: MakeDevice) -> tuple[Device, Device]:
    a = make_device(name="dev1")
    return a, make_device(a.username, name="dev2")


def test_debris_of_a_killed_download_does_not_keep_a_deleted_folder(
    make_device: MakeDevice,
) -> None:
    """A download killed mid-way leaves its temp file beside the target
    (seeds 112 and 116 left some); a folder the server deletes must still go,
    or at least the device must get in sync."""
    a, b = _pair(make_device)
    a.write("A/x.txt", "x")
    a.sync()
    b.sync()
    b.write(f"A/{TEMP_PREFIX}0123456789ab", "half a download")
    shutil.rmtree(a.folder / "A")
    a.sync()
    b.sync()  # must end in sync
    assert "A/x.txt" not in snapshot(b.folder)[0]


def test_an_ignored_file_does_not_keep_a_deleted_folder(make_device: MakeDevice) -> None:
    a, b = _pair(make_device)
    a.write("A/x.txt", "x")
    a.sync()
    b.sync()
    b.write("A/.DS_Store", "finder litter")
    shutil.rmtree(a.folder / "A")
    a.sync()
    b.sync()  # must end in sync
    assert "A/x.txt" not in snapshot(b.folder)[0]


# ---- snapshots ---------------------------------------------------------------


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def snapshot(folder: Path) -> tuple[Snapshot, list[str]]:
    """The device's tree, and the client temp files found in it."""
    tree: Snapshot = {}
    debris: list[str] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        rel = os.path.relpath(dirpath, folder)
        if rel == ".":
            dirnames[:] = [d for d in dirnames if d != STATE_DIR]
        for name in sorted(dirnames + filenames):
            key = os.path.normpath(os.path.join(rel, name))
            if name.startswith(TEMP_PREFIX):
                debris.append(key)
                if name in dirnames:
                    dirnames.remove(name)
                continue
            path = Path(dirpath, name)
            if name in dirnames:
                tree[key] = ("folder",)
            else:
                tree[key] = ("file", _sha(path.read_bytes()), bool(path.stat().st_mode & 0o100))
    return tree, debris


def local_trash(folder: Path) -> set[str]:
    """The contents of every file in a device's local trash."""
    out: set[str] = set()
    for dirpath, _dirs, filenames in os.walk(folder / STATE_DIR / "trash"):
        out.update(_sha(Path(dirpath, f).read_bytes()) for f in filenames)
    return out


def files_of(tree: Snapshot) -> dict[str, str]:
    return {k: str(v[1]) for k, v in tree.items() if v[0] == "file"}


def tree_diff(a: Snapshot, b: Snapshot) -> str:
    lines = []
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            lines.append(f"  {key}: {_short(a.get(key))} vs {_short(b.get(key))}")
    return "\n".join(lines)


def _short(item: tuple[object, ...] | None) -> str:
    if item is None:
        return "-"
    if item[0] == "folder":
        return "folder"
    return f"file {str(item[1])[:8]}{' +x' if item[2] else ''}"


# ---- the server, through its API ---------------------------------------------


class ServerView:
    """What the server holds, read through the public API (docs/api.md)."""

    def __init__(self, api: httpx.Client) -> None:
        self.api = api
        #: server content hash -> sha256, so no revision is fetched twice
        self._sha_of: dict[str, str] = {}
        self.parked = 0

    def cursor(self) -> str:
        r = self.api.get("/changes/latest")
        assert r.status_code == 200, r.text
        return str(r.json()["cursor"])

    def entries(self, path: str = "/") -> Iterator[dict[str, object]]:
        """Every entry under *path*, by the recursive listing, in small pages."""
        after: str | None = None
        while True:
            params: dict[str, str | int] = {"path": path, "recursive": "true", "limit": 7}
            if after is not None:
                params["after"] = after
            r = self.api.get("/files/list", params=params)
            assert r.status_code == 200, r.text
            page = r.json()
            yield from page["entries"]
            after = page["next_after"]
            if not after:
                return

    def content_sha(self, path: str, content_hash: str, rev: int | None = None) -> str:
        if content_hash not in self._sha_of:
            params: dict[str, str | int] = {"path": path}
            if rev is not None:
                params["rev"] = rev
            r = self.api.get("/files/content", params=params)
            assert r.status_code == 200, f"{path} rev {rev}: {r.status_code} {r.text}"
            self._sha_of[content_hash] = _sha(r.content)
        return self._sha_of[content_hash]

    def tree(self) -> Snapshot:
        out: Snapshot = {}
        for e in self.entries():
            key = str(e["path"]).lstrip("/")
            if e["kind"] == "folder":
                out[key] = ("folder",)
            else:
                sha = self.content_sha(str(e["path"]), str(e["content_hash"]))
                out[key] = ("file", sha, bool(e["executable"]))
        return out

    def revisions(self, path: str) -> set[str]:
        """The contents of every revision of the file at *path*."""
        r = self.api.get("/files/list_revisions", params={"path": path, "limit": 1000})
        assert r.status_code == 200, r.text
        return {self.content_sha(path, str(v["content_hash"]), int(v["rev"]))
                for v in r.json()["revisions"]}

    def all_revisions(self, path: str = "/") -> set[str]:
        out: set[str] = set()
        for e in self.entries(path):
            if e["kind"] == "file":
                out |= self.revisions(str(e["path"]))
        return out

    def trash_contents(self) -> set[str]:
        """Every revision of everything in the trash.  The API reads a trashed
        item only once it is back, and a restore fails where a file now sits
        in the way of its path, so the tree is first parked in one folder
        (the test is over by then), and each entry is restored into the empty
        root, read and parked too before the next."""
        r = self.api.get("/trash")
        assert r.status_code == 200, r.text
        entries = r.json()["entries"]
        if entries:
            self._park()
        out: set[str] = set()
        for entry in entries:
            back = self.api.post("/trash/restore", json={"id": entry["id"]})
            assert back.status_code == 200, f"restore {entry}: {back.text}"
            where = back.json()
            if where["kind"] == "file":
                out |= self.revisions(str(where["path"]))
            else:
                out |= self.all_revisions(str(where["path"]))
            self._park()
        return out

    def _park(self) -> None:
        """Move everything at the root into PARKING, so the root is empty."""
        made = self.api.post("/files/mkdir", json={"path": f"/{PARKING}"})
        assert made.status_code in (201, 409), made.text
        r = self.api.get("/files/list", params={"path": "/", "limit": 1000})
        assert r.status_code == 200, r.text
        for e in r.json()["entries"]:
            if e["name"] == PARKING:
                continue
            to = f"/{PARKING}/{self.parked}"
            self.parked += 1
            moved = self.api.post("/files/move", json={"from_path": e["path"], "to_path": to})
            assert moved.status_code in (200, 201), moved.text


# ---- the scenario ---------------------------------------------------------------


@dataclass
class Tally:
    ops: Counter[str] = field(default_factory=Counter)
    syncs: int = 0
    kills: int = 0
    #: kills that hit a running sync (not one that had ended already)
    kills_mid_run: int = 0
    conflicts: int = 0
    confirmations: int = 0
    final_syncs: int = 0
    #: where the seen contents were found at the end: how many in each place
    kept: Counter[str] = field(default_factory=Counter)

    def line(self) -> str:
        ops = ", ".join(f"{k} {v}" for k, v in sorted(self.ops.items()))
        return (f"{sum(self.ops.values())} ops ({ops}); {self.syncs} syncs "
                f"({self.final_syncs} final), {self.kills} kills ({self.kills_mid_run} mid-run), "
                f"{self.conflicts} conflicts, {self.confirmations} --confirm-deletes; seen "
                f"contents kept as {dict(self.kept) or '-'}")


class Scenario:
    def __init__(self, seed: int, make_device: MakeDevice, server: Server, nodeid: str,
                 tmp_path: Path, *, steps: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.steps = steps
        self.nodeid = nodeid
        self.log_path = tmp_path / f"convergence-seed-{seed}.log"
        self.log: list[str] = []
        self.tally = Tally()
        self.started = time.monotonic()
        first = make_device(name="dev1")
        self.devices = [first] + [make_device(first.username, name=f"dev{i}")
                                  for i in range(2, self.rng.choice((2, 3)) + 1)]
        self.server = ServerView(server.client(server.token(first.username, PASSWORD)))
        #: sha256 -> where a finished sync could first have seen it
        self.seen: dict[str, str] = {}
        self.written = 0
        self.sync_started = 0.0

    # ---- reporting ----

    def note(self, line: str) -> None:
        self.log.append(f"{time.monotonic() - self.started:7.2f} {line}")

    def fail(self, what: str) -> NoReturn:
        self.log_path.write_text("\n".join(self.log) + "\n")
        tail = "\n".join(self.log[-120:])
        pytest.fail(
            f"seed {self.seed}: {what}\n\nreplay: {sys.executable} -m pytest -q "
            f"'{self.nodeid}'\n(kills land at random moments: a replay runs the same script)\n"
            f"summary: {self.tally.line()}\nfull log: {self.log_path}\n"
            f"last steps:\n{tail}", pytrace=False)

    # ---- the run ----

    def run(self) -> None:
        try:
            self.setup()
            for step in range(self.steps):
                self.step(step)
            self.converge()
            self.check()
        except (AssertionError, subprocess.TimeoutExpired) as exc:
            self.fail(f"{type(exc).__name__}: {exc}")
        finally:
            self.server.api.close()
            self.log_path.write_text("\n".join(self.log) + "\n")
        print(f"seed {self.seed}: {len(self.devices)} devices; {self.tally.line()}; "
              f"{len(self.seen)} contents seen; {time.monotonic() - self.started:.1f} s")

    def setup(self) -> None:
        first = self.devices[0]
        for rel in ("A/a.txt", "A/b.txt", "docs/notes.md", "c"):
            self.write(first, rel, self.content(first, 0.0))
        (first.folder / "B" / "Deep").mkdir(parents=True)
        self.note("dev1: made the first tree")
        for d in self.devices:
            self.sync(d)

    def step(self, step: int) -> None:
        if self.rng.random() < 0.3:  # several devices edit before any syncs: conflicts
            editors = self.rng.sample(self.devices, self.rng.randint(2, len(self.devices)))
        else:
            editors = [self.rng.choice(self.devices)]
        self.note(f"-- step {step}")
        for d in editors:
            for _ in range(self.rng.randint(1, 4)):
                self.edit(d)
        for d in self.rng.sample(self.devices, self.rng.randint(1, len(self.devices))):
            if self.rng.random() < 0.25:
                self.killed_sync(d)
            else:
                self.sync(d)

    def converge(self) -> None:
        self.note("-- final: sync until one quiet sync per device in a row")
        quiet = 0
        for n in range(FINAL_PASSES * len(self.devices)):
            d = self.devices[n % len(self.devices)]
            before, cursor = snapshot(d.folder)[0], self.server.cursor()
            self.sync(d)
            self.tally.final_syncs += 1
            changed = snapshot(d.folder)[0] != before or self.server.cursor() != cursor
            quiet = 0 if changed else quiet + 1
            if quiet == len(self.devices):
                return
        self.fail(f"no convergence after {FINAL_PASSES} final syncs per device")

    def check(self) -> None:
        trees = {d.name: snapshot(d.folder) for d in self.devices}
        first = self.devices[0].name
        want = trees[first][0]
        for name, (tree, _debris) in trees.items():
            if tree != want:
                self.fail(f"{first} and {name} differ after convergence:\n"
                          f"{tree_diff(want, tree)}")
        on_server = self.server.tree()
        if on_server != want:
            self.fail(f"the devices and the server differ ({first} vs server):\n"
                      f"{tree_diff(want, on_server)}")
        debris = {name: d for name, (_t, d) in trees.items() if d}
        if debris:
            self.note(f"temp files left in the folders: {debris}")
        self.tally.conflicts = max(self.tally.conflicts,
                                   sum(1 for k in want if is_conflict_copy(k.split("/")[-1])))
        self.check_no_version_lost(want)

    def check_no_version_lost(self, tree: Snapshot) -> None:
        found = set(files_of(tree).values())
        self.tally.kept["current"] = len(found & set(self.seen))
        places: list[tuple[str, Callable[[], set[str]]]] = [
            ("local trash", lambda: set().union(*(local_trash(d.folder) for d in self.devices))),
            ("revision", self.server.all_revisions),
            ("server trash", self.server.trash_contents),
        ]
        for place, contents in places:
            if not set(self.seen) - found:
                break
            more = contents() - found
            self.tally.kept[place] = len(more & set(self.seen))
            found |= more
        lost = {sha: where for sha, where in self.seen.items() if sha not in found}
        if lost:
            lines = "\n".join(f"  {sha[:12]}: {where}" for sha, where in sorted(lost.items()))
            self.fail(f"{len(lost)} of {len(self.seen)} seen contents are nowhere "
                      f"(no device, no local trash, no server revision or trash):\n{lines}")

    # ---- syncs ----

    def command(self, d: Device, *args: str) -> list[str]:
        return [sys.executable, "-m", "selfdrive", "sync", str(d.folder), "--remote",
                d.remote, "--once", *args]

    def sync(self, d: Device) -> None:
        """A sync run to its end; it must end in sync."""
        before = files_of(snapshot(d.folder)[0])
        self.tally.syncs += 1
        self.sync_started = time.monotonic()
        r = subprocess.run(self.command(d), capture_output=True, text=True, env=d.env,
                           timeout=300)
        if r.returncode == 3 and "--confirm-deletes" in r.stderr:
            self.note(f"{d.name}: sync asks for --confirm-deletes: {_last(r.stderr)}")
            self.tally.confirmations += 1
            r = subprocess.run(self.command(d, "--confirm-deletes"), capture_output=True,
                               text=True, env=d.env, timeout=300)
        self.finished(d, before, r.returncode, r.stdout, r.stderr)

    def killed_sync(self, d: Device) -> None:
        """A sync SIGKILLed after a random delay (it may have ended by then)."""
        before = files_of(snapshot(d.folder)[0])
        delay = self.rng.uniform(*KILL_AFTER_S)
        self.tally.syncs += 1
        self.tally.kills += 1
        self.sync_started = time.monotonic()
        p = subprocess.Popen(self.command(d), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=d.env)
        try:
            out, err = p.communicate(timeout=delay)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            self.tally.kills_mid_run += 1
            self.note(f"{d.name}: sync killed after {delay:.2f} s; last words: {_last(err)}")
            return
        if p.returncode == 3 and "--confirm-deletes" in err:
            self.note(f"{d.name}: sync (ended before its kill) asks for --confirm-deletes")
            return
        self.finished(d, before, p.returncode, out, err)

    def finished(self, d: Device, before: dict[str, str], code: int, out: str,
                 err: str) -> None:
        if code != 0:
            self.fail(f"{d.name}: sync --once exited {code}\nstdout:\n{out}\nstderr:\n{err}")
        self.note(f"{d.name}: {out.strip()} in {time.monotonic() - self.sync_started:.1f} s")
        if m := re.search(r"(\d+) conflicts", out):
            self.tally.conflicts += int(m.group(1))
        for rel, sha in before.items():
            self.seen.setdefault(sha, f"{d.name}:{rel} before sync {self.tally.syncs}")

    # ---- edits ----

    def content(self, d: Device, big_chance: float = 0.1) -> bytes:
        self.written += 1
        size = (self.rng.randint(64_000, 400_000) if self.rng.random() < big_chance
                else self.rng.randint(0, 3000))
        return f"seed {self.seed} write {self.written} on {d.name}\n".encode() + \
            self.rng.randbytes(size)

    def write(self, d: Device, rel: str, data: bytes) -> None:
        path = d.folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def edit(self, d: Device) -> None:
        tree = snapshot(d.folder)[0]
        files = sorted(k for k, v in tree.items() if v[0] == "file")
        folders = sorted(k for k, v in tree.items() if v[0] == "folder")
        choices: list[tuple[Callable[[Device, list[str], list[str]], str], int]] = [
            (self.create, 4), (self.mkdir, 1)]
        if files:
            choices += [(self.overwrite, 3), (self.replace, 1), (self.append, 2),
                        (self.truncate, 1), (self.rename_file, 2), (self.move_file, 2),
                        (self.delete_file, 2), (self.chmod, 1)]
        if folders:
            choices += [(self.move_folder, 1), (self.delete_folder, 1)]
        op = self.rng.choices([c for c, _ in choices], [w for _, w in choices])[0]
        what = op(d, files, folders)
        self.tally.ops[op.__name__] += 1
        self.note(f"{d.name}: {what}")

    def free_name(self, d: Device, parent: str, pool: tuple[str, ...]) -> str | None:
        """A name not taken in *parent*; now and then from the other pool, so a
        file and a folder may meet at one path on two devices."""
        if self.rng.random() < 0.1:
            pool = FOLDER_NAMES if pool == FILE_NAMES else FILE_NAMES
        names = [n for n in pool if not os.path.lexists(d.folder / parent / n)]
        return self.rng.choice(names) if names else None

    def parent(self, folders: list[str], avoid: str | None = None) -> str:
        shallow = [f for f in folders if f.count("/") < MAX_DEPTH - 1
                   and (avoid is None or not (f == avoid or f.startswith(avoid + "/")))]
        return self.rng.choice(["", *shallow])

    def create(self, d: Device, files: list[str], folders: list[str]) -> str:
        parent = self.parent(folders)
        if self.rng.random() < 0.2 and parent.count("/") < MAX_DEPTH - 2:
            parent = os.path.join(parent, self.rng.choice(FOLDER_NAMES))
            if os.path.lexists(d.folder / parent) and not (d.folder / parent).is_dir():
                return f"create: skipped, {parent} is a file"
        name = self.free_name(d, parent, FILE_NAMES)
        if name is None:
            return f"create: skipped, {parent or '/'} is full"
        rel = os.path.join(parent, name)
        data = self.content(d)
        self.write(d, rel, data)
        if self.rng.random() < 0.2:
            (d.folder / rel).chmod(0o755)
        return f"create {rel} ({len(data)} bytes, {_sha(data)[:8]})"

    def mkdir(self, d: Device, files: list[str], folders: list[str]) -> str:
        parent = self.parent(folders)
        name = self.free_name(d, parent, FOLDER_NAMES)
        if name is None:
            return f"mkdir: skipped, {parent or '/'} is full"
        (d.folder / parent / name).mkdir()
        return f"mkdir {os.path.join(parent, name)}"

    def overwrite(self, d: Device, files: list[str], folders: list[str]) -> str:
        rel = self.rng.choice(files)
        data = self.content(d)
        with open(d.folder / rel, "r+b") as f:  # in place: the inode stays
            f.truncate(0)
            f.write(data)
        return f"overwrite {rel} ({len(data)} bytes, {_sha(data)[:8]})"

    def replace(self, d: Device, files: list[str], folders: list[str]) -> str:
        rel = self.rng.choice(files)
        data = self.content(d)
        path = d.folder / rel
        tmp = path.with_name(path.name + ".~saving")
        tmp.write_bytes(data)
        tmp.chmod(path.stat().st_mode & 0o777)
        os.replace(tmp, path)  # as editors save: a new inode
        return f"save {rel} via a temp file ({len(data)} bytes, {_sha(data)[:8]})"

    def append(self, d: Device, files: list[str], folders: list[str]) -> str:
        rel = self.rng.choice(files)
        self.written += 1
        extra = f"\nappended {self.written} on {d.name}\n".encode() + self.rng.randbytes(
            self.rng.randint(0, 500))
        with open(d.folder / rel, "ab") as f:
            f.write(extra)
        return f"append {len(extra)} bytes to {rel} ({_sha((d.folder / rel).read_bytes())[:8]})"

    def truncate(self, d: Device, files: list[str], folders: list[str]) -> str:
        rel = self.rng.choice(files)
        size = (d.folder / rel).stat().st_size
        keep = self.rng.randint(0, max(size - 1, 0))
        os.truncate(d.folder / rel, keep)
        return f"truncate {rel} to {keep} bytes ({_sha((d.folder / rel).read_bytes())[:8]})"

    def rename_file(self, d: Device, files: list[str], folders: list[str]) -> str:
        src = self.rng.choice(files)
        return self._move(d, src, os.path.dirname(src), FILE_NAMES)

    def move_file(self, d: Device, files: list[str], folders: list[str]) -> str:
        return self._move(d, self.rng.choice(files), self.parent(folders), FILE_NAMES)

    def move_folder(self, d: Device, files: list[str], folders: list[str]) -> str:
        src = self.rng.choice(folders)
        return self._move(d, src, self.parent(folders, avoid=src), FOLDER_NAMES)

    def _move(self, d: Device, src: str, parent: str, pool: tuple[str, ...]) -> str:
        name = self.free_name(d, parent, pool)
        if name is None:
            return f"move {src}: skipped, {parent or '/'} is full"
        dst = os.path.join(parent, name)
        os.rename(d.folder / src, d.folder / dst)
        return f"move {src} -> {dst}"

    def delete_file(self, d: Device, files: list[str], folders: list[str]) -> str:
        rel = self.rng.choice(files)
        (d.folder / rel).unlink()
        return f"delete {rel}"

    def delete_folder(self, d: Device, files: list[str], folders: list[str]) -> str:
        rel = self.rng.choice(folders)
        inside = sum(1 for k in files if k.startswith(rel + "/"))
        shutil.rmtree(d.folder / rel)
        return f"delete folder {rel} ({inside} files inside)"

    def chmod(self, d: Device, files: list[str], folders: list[str]) -> str:
        rel = self.rng.choice(files)
        path = d.folder / rel
        mode = path.stat().st_mode
        path.chmod(0o644 if mode & 0o100 else 0o755)
        return f"chmod {rel} {'-x' if mode & 0o100 else '+x'}"


def _last(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-2:]) if lines else "(nothing)"
