"""The sync client end to end: wire bytes of small edits beside rsync, live-sync latency
between two devices, and first-sync throughput.

    python benchmarks/sync.py [--parts a,b,c] [--quick] [--size 256MiB] [--edit-settle-s 0,2.5]
                              [--latency-files 100] [--latency-gap-s 0.3]
                              [--latency-write rename|direct|rename,direct]
                              [--small-files 10000] [--big-size 5GiB]
                              [--data-dir DIR] [--keep]

Every client is a real `python -m selfdrive sync` process (`login` with XDG_CONFIG_HOME set
to a directory of its own, so two devices live on one machine) against a real `selfdrive
serve` on 127.0.0.1, a fresh server and user for each part.

(a) Bytes on the wire for three edits, applied one after another, to a random file of
    --size bytes: a 1-byte change in the middle (in place), a 100-byte insertion in the
    middle (the file rewritten to a temp name and renamed over it, as editors do), a 1 MiB
    append. Selfdrive: device A syncs the file up and device B down (`sync --once`); then A
    edits, syncs ("up": every byte of A's run), and B syncs ("down": every byte of B's run).
    rsync: `rsync -t --no-whole-file` against an `rsync --daemon` on 127.0.0.1, the same
    edits made to the sender's copy: "push" edits the local copy and sends it to the
    daemon (like A's upload), "pull" edits the daemon's copy and fetches it (like B's
    download). Both go through the same counting TCP proxy (benchmarks/_proxy.py), so a
    count is every TCP payload byte both ways: HTTP heads, JSON, bodies; rsync's protocol,
    checksums and data. TCP/IP headers are not counted. A syncs --edit-settle-s after each
    write of its file; the series runs once per value, each on a fresh server: 0 is what
    live sync does, 2.5 is past the client's 2 s racy-timestamp window (scan.py), inside
    which a file is never put in the hash cache (before commit f82a319 the client then
    kept no base for the next delta, and a small edit cost a whole block).
(b) Latency: devices A and B of one user run live (`selfdrive sync DIR`, no --once, through
    the counting proxy); --latency-files files of 10 KiB of random bytes are written on A
    one at a time, each waited for until B's copy is whole and identical (B's folder is
    polled every 5 ms), then --latency-gap-s of rest. "rename": written to `.NAME.tmp`
    (ignored by the client) and renamed into place; "direct": written and closed in place.
    The clock starts when the rename (or close) returns.
(c) First sync: --small-files files of 1-4 KiB of random bytes in 100 folders, uploaded by A
    (`sync --once`) then downloaded by B; then one random file of --big-size, likewise
    (skipped if the disk has less than 4x its size free). Wall time of each client process,
    its CPU time and peak RSS (GNU time's %M, see run_child), the server's CPU time and
    peak RSS (VmHWM, reset before each run by writing 5 to /proc/PID/clear_refs). The
    ceiling is a plain copy of the big file (read, write, fsync) on the same disk.

--quick sets --size 16MiB --edit-settle-s 0 --latency-files 20 --small-files 200
--big-size 128MiB (about two minutes on 2 busy vCPUs); flags given explicitly win. Prints
Markdown tables and, last, one JSON line with every figure. 1 MB = 10^6 bytes. Run it with
the project's Python.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from _proxy import CountingProxy, Counts, shape_of
from _server import (
    MB,
    BenchError,
    RssSampler,
    Server,
    cpu_seconds,
    free_port,
    machine,
    status_mb,
    work_dir,
)

from selfdrive.config import parse_size

T = TypeVar("T")
#: GNU time, for the peak RSS of a client (see run_child); None where it is missing
TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
PASSWORD = "bench-password-1"
USER = "bench"
GENERATE = 16 << 20
EDITS = (("1-byte change in the middle", "flip"), ("100-byte insertion in the middle", "insert"),
         ("1 MiB append", "append"))
INSERT_BYTES = random.Random(1).randbytes(100)
APPEND_BYTES = random.Random(2).randbytes(1 << 20)
LATENCY_FILE = 10 * 1024
POLL_S = 0.005
LATENCY_TIMEOUT_S = 30.0
QUICK = {"size": "16MiB", "edit_settle_s": "0", "latency_files": 20, "small_files": 200,
         "big_size": "128MiB"}
FULL = {"size": "256MiB", "edit_settle_s": "0,2.5", "latency_files": 100, "small_files": 10_000,
        "big_size": "5GiB"}
REQUEST_LOG = re.compile(r"HTTP Request: (?P<method>[A-Z]+) (?P<url>\S+)")
SUMMARY = re.compile(r"in sync: .*\((?P<sent>[^,]+) sent, (?P<received>[^)]+) received\)")


# -- processes -----------------------------------------------------------------------------


@dataclass
class Run:
    """One finished client process."""

    code: int
    wall_s: float
    rss_mb: float
    cpu_s: float
    out: str
    err: str

    def requests(self) -> dict[str, int]:
        """The client's requests by shape, from httpx's log lines on stderr."""
        shapes: dict[str, int] = {}
        for m in REQUEST_LOG.finditer(self.err):
            key = shape_of(m["method"], urlsplit(m["url"]).path + "?" + urlsplit(m["url"]).query)
            shapes[key] = shapes.get(key, 0) + 1
        return dict(sorted(shapes.items(), key=lambda kv: -kv[1]))

    @property
    def summary(self) -> str:
        """The client's own count of what it sent and received ("1.2 MB sent, ...")."""
        m = SUMMARY.search(self.out)
        return f"{m['sent']} sent, {m['received']} received" if m else "-"


def run_child(cmd: list[str], env: dict[str, str], log: Path, timeout_s: float,
              stdin: str | None = None) -> Run:
    """Run *cmd* to its end; its wall time, CPU time and peak RSS.

    The peak RSS comes from GNU time's %M where it is installed: ru_maxrss of a child that
    Python started with vfork includes the RSS of this (the parent's) address space
    before the exec, so it can report the benchmark's own peak instead of the client's."""
    rss_file = log.with_suffix(".rss")
    if TIME is not None:
        cmd = [TIME, "-f", "%M", "-o", str(rss_file), *cmd]
    with open(log.with_suffix(".out"), "w+") as out, open(log.with_suffix(".err"), "w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, text=True,
                                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL)
        if stdin and proc.stdin:
            proc.stdin.write(stdin)
            proc.stdin.close()
        timer = threading.Timer(timeout_s, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        rss_kib = usage.ru_maxrss
        if TIME is not None:
            lines = rss_file.read_text().split() if rss_file.exists() else []
            rss_kib = int(lines[-1]) if lines and lines[-1].isdigit() else -1
        # CPU: wait4 on GNU time counts the command, which time waited for, too
        return Run(proc.returncode, wall, rss_kib * 1024 / MB, usage.ru_utime + usage.ru_stime,
                   out.read(), err.read())


def git_head() -> str:
    """The commit of the selfdrive being measured, and "+changes" if the tree is dirty."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "-C", str(root), "log", "-1", "--format=%h %cI"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "selfdrive"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except OSError:
        return "unknown"
    return (head or "unknown") + (" +uncommitted changes in selfdrive/" if dirty else "")


def selfdrive(*args: str) -> list[str]:
    return [sys.executable, "-m", "selfdrive", *args]


class Device:
    """A `selfdrive sync` device: a config dir of its own and one or more folders."""

    def __init__(self, name: str, home: Path) -> None:
        self.name, self.home = name, home
        self.folder = home / "Sync"
        self.folder.mkdir(parents=True)
        self.env = {**os.environ, "XDG_CONFIG_HOME": str(home / "config"),
                    "PYTHONUNBUFFERED": "1"}
        self.live: subprocess.Popen[bytes] | None = None
        self._runs = 0

    def _log(self, label: str) -> Path:
        self._runs += 1
        return self.home / f"{self._runs:02d}-{label}"

    def login(self, url: str) -> None:
        cmd = selfdrive("login", "--server", url, "--username", USER, "--password-stdin",
                        "--device-name", self.name)
        r = run_child(cmd, self.env, self._log("login"), 60, stdin=PASSWORD + "\n")
        if r.code:
            raise BenchError(f"{self.name}: login failed ({r.code}): {r.err.strip()}")

    def sync_once(self, folder: Path | None = None, remote: str = "/",
                  timeout_s: float = 3600) -> Run:
        folder = folder or self.folder
        cmd = selfdrive("sync", str(folder), "--remote", remote, "--once")
        r = run_child(cmd, self.env, self._log("sync"), timeout_s)
        if r.code:
            raise BenchError(f"{self.name}: `selfdrive sync {folder} --once` exited {r.code}"
                             f"\nstdout: {r.out[-2000:]}\nstderr: {r.err[-4000:]}")
        return r

    def start_live(self) -> None:
        log = open(self.home / "live.log", "wb")  # noqa: SIM115 (closed with the process)
        self.live = subprocess.Popen(selfdrive("sync", str(self.folder)), env=self.env,
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def stop_live(self) -> int | None:
        if self.live is None:
            return None
        self.live.send_signal(signal.SIGINT)
        try:
            code = self.live.wait(30)
        except subprocess.TimeoutExpired:
            self.live.kill()
            code = self.live.wait()
        self.live = None
        return code

    def live_log(self, n: int = 15) -> str:
        path = self.home / "live.log"
        lines = path.read_text(errors="replace").splitlines() if path.exists() else []
        return "\n".join(lines[-n:])


@contextlib.contextmanager
def bench_server(work: Path, name: str, max_file: int) -> Iterator[Server]:
    """A fresh `selfdrive serve` with the quota and file limit out of the way, and the
    benchmark user."""
    config = work / f"{name}.toml"
    config.write_text(f"[limits]\ndefault_quota_bytes = {10**15}\n"
                      f"max_file_bytes = {max(max_file * 2, 10 << 30)}\n")
    server = Server(work / f"{name}-data", config, work / f"{name}-server.log")
    try:
        server.wait_ready()
        cmd = selfdrive("user", "add", USER, "--password-stdin", "--config", str(config),
                        "--data", str(server.data_dir))
        r = run_child(cmd, dict(os.environ), work / f"{name}-user-add", 120,
                      stdin=PASSWORD + "\n")
        if r.code:
            raise BenchError(f"user add failed ({r.code}): {r.err.strip()}")
        yield server
    except BaseException:
        print(f"the server's log ends with:\n{server.log_tail()}", file=sys.stderr)
        raise
    finally:
        code = server.stop()
        if code not in (0, -signal.SIGTERM):
            print(f"warning: the {name} server exited {code}", file=sys.stderr)


class ServerPeak:
    """The server's peak RSS over a `with` block: VmHWM after resetting it, or (where
    clear_refs is refused) VmRSS sampled every 50 ms."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.mb = 0.0
        self._sampler: RssSampler | None = None

    def __enter__(self) -> ServerPeak:
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
        except OSError:
            self._sampler = RssSampler(self.pid).__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._sampler is not None:
            self._sampler.__exit__(None, None, None)
            self.mb = self._sampler.peak
        else:
            self.mb = status_mb(self.pid, "VmHWM")


# -- files ---------------------------------------------------------------------------------


def write_random(path: Path, size: int) -> str:
    """A file of *size* random bytes; its SHA-256."""
    h = hashlib.sha256()
    with open(path, "wb") as f:
        for start in range(0, size, GENERATE):
            piece = os.urandom(min(GENERATE, size - start))
            f.write(piece)
            h.update(piece)
    return h.hexdigest()


def sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def copy_fsynced(src: Path, dst: Path) -> None:
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    with open(src, "rb", buffering=0) as fin, open(dst, "wb") as fout:
        while n := fin.readinto(buf):
            fout.write(view[:n])
        fout.flush()
        os.fsync(fout.fileno())


def apply_edit(path: Path, kind: str) -> None:
    """The same edit, byte for byte, wherever it is applied."""
    mid = path.stat().st_size // 2
    if kind == "flip":
        with open(path, "r+b") as f:
            f.seek(mid)
            byte = f.read(1)[0]
            f.seek(mid)
            f.write(bytes([byte ^ 0xFF]))
    elif kind == "insert":
        tmp = path.with_name(f".{path.name}.edit.tmp")  # *.tmp: ignored by the sync client
        with open(path, "rb") as src, open(tmp, "wb") as dst:
            left = mid
            while left:
                left -= dst.write(src.read(min(left, 1 << 20)))
            dst.write(INSERT_BYTES)
            shutil.copyfileobj(src, dst, 1 << 20)
        os.replace(tmp, path)
    elif kind == "append":
        with open(path, "ab") as f:
            f.write(APPEND_BYTES)
    else:
        raise ValueError(kind)


def tree_digest(folder: Path) -> tuple[int, str]:
    """(number of files, SHA-256 over every file's path and content), .selfdrive left out."""
    h = hashlib.sha256()
    count = 0
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not (root == str(folder) and d == ".selfdrive"))
        for name in sorted(files):
            path = Path(root, name)
            h.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
            count += 1
    return count, h.hexdigest()


# -- rsync ---------------------------------------------------------------------------------


class RsyncDaemon:
    """`rsync --daemon` on 127.0.0.1 with a writable module "push" and a read-only "pull"."""

    def __init__(self, work: Path) -> None:
        if shutil.which("rsync") is None:
            raise BenchError("rsync is not installed (apt-get install -y rsync)")
        work.mkdir()
        self.push_dir, self.pull_dir = work / "push-remote", work / "pull-remote"
        self.push_dir.mkdir()
        self.pull_dir.mkdir()
        self.log = work / "rsyncd.log"
        conf = work / "rsyncd.conf"
        conf.write_text(
            f"use chroot = no\nuid = {os.getuid()}\ngid = {os.getgid()}\n"
            f"log file = {self.log}\n"
            f"[push]\n    path = {self.push_dir}\n    read only = false\n"
            f"[pull]\n    path = {self.pull_dir}\n    read only = true\n")
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["rsync", "--daemon", "--no-detach", f"--config={conf}", f"--port={self.port}",
             "--address=127.0.0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"rsync --daemon exited {self.proc.returncode}")
            with contextlib.suppress(OSError), contextlib.closing(
                    socket.create_connection(("127.0.0.1", self.port), 1)):
                return
            time.sleep(0.05)
        raise BenchError("rsync --daemon did not listen within 10 s")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def rsync(src: str, dst: str, log: Path) -> dict[str, int]:
    """`rsync -t --no-whole-file --stats SRC DST`; the figures of its --stats."""
    r = run_child(["rsync", "-t", "--no-whole-file", "--stats", src, dst], dict(os.environ),
                  log, 3600)
    if r.code:
        raise BenchError(f"rsync {src} {dst} exited {r.code}: {r.err.strip()}")
    stats = {}
    for key in ("Literal data", "Matched data", "Total bytes sent", "Total bytes received"):
        m = re.search(rf"^{key}: ([\d,]+)", r.out, re.M)
        stats[key] = int(m[1].replace(",", "")) if m else -1
    return stats


# -- (a) bytes on the wire -----------------------------------------------------------------


@dataclass
class Step:
    """One transfer of part (a): what crossed the proxy, and the tool's own view."""

    counts: Counts
    note: str
    failed: bool = False


def attempt(dev: Device) -> Run | str:
    """`sync --once` on *dev*; a failure is returned as its message (the last stderr line)."""
    try:
        return dev.sync_once()
    except BenchError as exc:
        last = str(exc).strip().splitlines()[-1]
        print(f"FAILED: {exc}", file=sys.stderr)
        return f"FAILED: {last}"


def measured(proxy: CountingProxy, fn: Callable[[], T]) -> tuple[Counts, T]:
    """What crossed *proxy* while *fn* ran, and what *fn* returned."""
    before = proxy.counts()
    result = fn()
    time.sleep(0.05)  # the last bytes of a closing connection
    return proxy.counts().minus(before), result


def part_a(work: Path, size: int, settle_s: float) -> dict[str, object]:
    """One series of edits on a fresh server, rsync daemon and pair of devices; A syncs
    *settle_s* after each write of its file."""
    work = work / f"a-settle-{settle_s:g}"
    work.mkdir()
    base = work / "a-base.bin"
    write_random(base, size)
    rows: list[tuple[str, dict[str, Step]]] = []
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(bench_server(work, "a", size))
        proxy = CountingProxy(server.port, http=True)
        stack.callback(proxy.close)
        daemon = RsyncDaemon(work / "rsync")
        stack.callback(daemon.close)
        rproxy = CountingProxy(daemon.port)
        stack.callback(rproxy.close)
        url = f"http://127.0.0.1:{proxy.port}"
        a, b = Device("bench-a", work / "a-dev-a"), Device("bench-b", work / "a-dev-b")
        a.login(url)
        b.login(url)
        files = {"a": a.folder / "big.bin", "b": b.folder / "big.bin",
                 "push-local": work / "rsync" / "push-local.bin",
                 "push-remote": daemon.push_dir / "big.bin",
                 "pull-remote": daemon.pull_dir / "big.bin",
                 "pull-local": work / "rsync" / "pull-local.bin"}
        for key in ("push-local", "pull-remote", "a"):  # A's last: its sync follows at once
            shutil.copyfile(base, files[key])
        base.unlink()
        rurl = f"rsync://127.0.0.1:{rproxy.port}"
        logs = work / "a-rsync-logs"
        logs.mkdir()

        def one_round(label: str) -> dict[str, Step]:
            steps: dict[str, Step] = {}
            failed: list[str] = []
            time.sleep(settle_s)
            for key, dev in (("up", a), ("down", b)):
                counts, run = measured(proxy, partial(attempt, dev))
                if isinstance(run, str):
                    steps[key] = Step(counts, run, failed=True)
                    failed.append(key)
                else:
                    steps[key] = Step(counts, run.summary)
            for key, src, dst in (
                    ("push", str(files["push-local"]), f"{rurl}/push/big.bin"),
                    ("pull", f"{rurl}/pull/big.bin", str(files["pull-local"]))):
                counts, st = measured(rproxy, partial(rsync, src, dst, logs / f"{label}-{key}"))
                steps[key] = Step(counts, f"literal {st['Literal data']:,}, matched"
                                  f" {st['Matched data']:,}; rsync says"
                                  f" {st['Total bytes sent']:,} sent,"
                                  f" {st['Total bytes received']:,} received")
            digests = {key: sha256(path) for key, path in files.items()
                       if not (key == "b" and failed)}
            if len(set(digests.values())) != 1:
                raise BenchError(f"after {label}, the copies differ: {digests}")
            return steps

        rows.append(("initial sync of the whole file", one_round("initial")))
        for label, kind in EDITS:
            for key in ("push-local", "pull-remote", "a"):
                apply_edit(files[key], kind)
            rows.append((label, one_round(kind)))
            print(f"(a) {label}: done", file=sys.stderr)
    print_part_a(size, settle_s, rows)
    return {"size": size, "settle_s": settle_s, "rows": [
        {"edit": label, **{k: {"up": s.counts.up, "down": s.counts.down,
                               "total": s.counts.total, "connections": s.counts.connections,
                               "failed": s.failed, "note": s.note} for k, s in steps.items()}}
        for label, steps in rows]}


def print_part_a(size: int, settle_s: float, rows: list[tuple[str, dict[str, Step]]]) -> None:
    print(f"## (a) bytes on the wire, {size / MB:.1f} MB random file, A syncs {settle_s:g} s"
          " after each write\n")
    print("| edit | selfdrive up (A) | selfdrive down (B) | rsync push | rsync pull"
          " | up / push | down / pull |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, s in rows:
        up, down, push, pull = (s[k].counts.total for k in ("up", "down", "push", "pull"))
        cells = [f"{n:,}" + (" (failed)" if s[k].failed else "")
                 for k, n in (("up", up), ("down", down))]
        ratios = ["failed" if s[k].failed else f"{n / d:.2f}"
                  for k, n, d in (("up", up, push), ("down", down, pull))]
        print(f"| {label} | {cells[0]} | {cells[1]} | {push:,} | {pull:,} | {ratios[0]}"
              f" | {ratios[1]} |")
    print("\nEach figure is every TCP payload byte of the run, both directions (client to"
          " server + server to client):\n")
    print("| edit | run | to server | to client | connections | the tool's own count |")
    print("|---|---|---:|---:|---:|---|")
    for label, s in rows:
        for key, name in (("up", "selfdrive A"), ("down", "selfdrive B"),
                          ("push", "rsync push"), ("pull", "rsync pull")):
            c = s[key].counts
            print(f"| {label} | {name} | {c.up:,} | {c.down:,} | {c.connections}"
                  f" | {s[key].note} |")
    print("\nWhere selfdrive's bytes went (requests by shape; head = request or status line"
          " and headers):\n")
    print("| edit | run | request | n | req head | req body | resp head | resp body |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for label, s in rows:
        for key, name in (("up", "A"), ("down", "B")):
            shapes = sorted(s[key].counts.shapes.items(), key=lambda kv: -kv[1].total)
            for shape, x in shapes:
                print(f"| {label} | {name} | `{shape}` | {x.requests} | {x.req_head:,}"
                      f" | {x.req_body:,} | {x.resp_head:,} | {x.resp_body:,} |")
    print()


# -- (b) latency ---------------------------------------------------------------------------


def write_file(folder: Path, name: str, data: bytes, mode: str) -> float:
    """Write *data* to folder/name; the monotonic time when it is complete there."""
    path = folder / name
    if mode == "rename":
        tmp = folder / f".{name}.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, path)
    else:
        with open(path, "wb") as f:
            f.write(data)
    return time.monotonic()


def wait_same(path: Path, data: bytes, t0: float, timeout_s: float) -> float | None:
    """Seconds from *t0* until *path* holds *data* (polled every 5 ms); None on timeout."""
    while time.monotonic() - t0 < timeout_s:
        try:
            if path.stat().st_size == len(data) and path.read_bytes() == data:
                return time.monotonic() - t0
        except OSError:
            pass
        time.sleep(POLL_S)
    return None


def part_b(work: Path, files: int, gap_s: float, modes: list[str]) -> dict[str, object]:
    results: dict[str, object] = {}
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(bench_server(work, "b", 1 << 20))
        proxy = CountingProxy(server.port, http=True)
        stack.callback(proxy.close)
        url = f"http://127.0.0.1:{proxy.port}"
        a, b = Device("live-a", work / "b-dev-a"), Device("live-b", work / "b-dev-b")
        a.login(url)
        b.login(url)
        codes: dict[str, int | None] = {}

        def stop() -> None:
            codes.update({d.name: d.stop_live() for d in (a, b)})

        a.start_live()
        b.start_live()
        stack.callback(stop)
        warm = os.urandom(LATENCY_FILE)
        t0 = write_file(a.folder, "warmup.bin", warm, "rename")
        if wait_same(b.folder / "warmup.bin", warm, t0, 120) is None:
            raise BenchError(f"the warm-up file did not reach B in 120 s\nA:\n{a.live_log()}"
                             f"\nB:\n{b.live_log()}")
        time.sleep(1.0)
        for mode in modes:
            results[mode] = latency_run(a, b, proxy, files, gap_s, mode)
        stack.close()
        results["exit codes after SIGINT"] = codes
    print_part_b(files, gap_s, results)
    return results


def latency_run(a: Device, b: Device, proxy: CountingProxy, files: int, gap_s: float,
                mode: str) -> dict[str, object]:
    before = proxy.counts()
    times: list[float] = []
    failed = 0
    t_start = time.monotonic()
    for i in range(files):
        data = os.urandom(LATENCY_FILE)
        name = f"{mode}-{i:03d}.bin"
        t0 = write_file(a.folder, name, data, mode)
        took = wait_same(b.folder / name, data, t0, LATENCY_TIMEOUT_S)
        if took is None:
            failed += 1
            print(f"(b) {name} did not reach B in {LATENCY_TIMEOUT_S:.0f} s", file=sys.stderr)
            if failed >= 3:
                raise BenchError(f"(b) {failed} files did not reach B\nA:\n{a.live_log()}"
                                 f"\nB:\n{b.live_log()}")
        else:
            times.append(took)
        time.sleep(gap_s)
    wall = time.monotonic() - t_start
    c = proxy.counts().minus(before)
    times.sort()
    q = statistics.quantiles(times, n=100, method="inclusive") if len(times) > 1 else times * 99
    return {"files": files, "arrived": len(times), "failed": failed,
            "p50_s": statistics.median(times), "p95_s": q[94], "max_s": times[-1],
            "min_s": times[0], "mean_s": statistics.fmean(times), "wall_s": wall,
            "bytes_per_file": c.total / files, "to_server": c.up, "to_client": c.down,
            "connections": c.connections,
            "shapes": {k: {"n": s.requests, "bytes": s.total} for k, s in
                       sorted(c.shapes.items(), key=lambda kv: -kv[1].total)}}


def print_part_b(files: int, gap_s: float, results: dict[str, object]) -> None:
    print(f"## (b) live-sync latency, {files} files of 10 KiB written on A one at a time,"
          f" {gap_s} s apart\n")
    print("| write | arrived | p50 s | p95 s | max s | min s | bytes per file (both devices,"
          " both ways) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for mode, r in results.items():
        if not isinstance(r, dict) or "p50_s" not in r:
            continue
        print(f"| {mode} | {r['arrived']}/{r['files']} | {r['p50_s']:.3f} | {r['p95_s']:.3f}"
              f" | {r['max_s']:.3f} | {r['min_s']:.3f} | {r['bytes_per_file']:,.0f} |")
    for mode, r in results.items():
        if not isinstance(r, dict) or "shapes" not in r:
            continue
        print(f"\nRequests during the {mode} run ({r['connections']} new connections),"
              f" per file:\n")
        print("| request | n per file | bytes per file |")
        print("|---|---:|---:|")
        for shape, s in r["shapes"].items():
            print(f"| `{shape}` | {s['n'] / files:.2f} | {s['bytes'] / files:,.0f} |")
    print(f"\nexit codes of the live clients after SIGINT: "
          f"{results.get('exit codes after SIGINT')}\n")


# -- (c) first sync ------------------------------------------------------------------------


def make_small_files(folder: Path, count: int) -> int:
    rng = random.Random(3)
    total = 0
    per_folder = max(1, count // 100)
    for i in range(count):
        sub = folder / f"d{i // per_folder:03d}"
        sub.mkdir(exist_ok=True)
        n = rng.randint(1024, 4096)
        (sub / f"f{i:05d}.bin").write_bytes(os.urandom(n))
        total += n
    return total


def part_c(work: Path, small: int, big: int) -> dict[str, object]:
    rows: list[dict[str, object]] = []
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(bench_server(work, "c", big))
        url = f"http://127.0.0.1:{server.port}"
        a, b = Device("first-a", work / "c-dev-a"), Device("first-b", work / "c-dev-b")
        a.login(url)
        b.login(url)
        if small:
            for dev in (a, b):
                (dev.folder / "small").mkdir()
            nbytes = make_small_files(a.folder / "small", small)
            for dev, way in ((a, "up"), (b, "down")):
                cpu0 = cpu_seconds(server.pid)
                with ServerPeak(server.pid) as peak:
                    r = dev.sync_once(dev.folder / "small", "/small")
                rows.append({"what": f"{small:,} small files {way}", "items": small,
                             "bytes": nbytes, "wall_s": r.wall_s, "client_rss_mb": r.rss_mb,
                             "server_rss_mb": peak.mb, "client_cpu_s": r.cpu_s,
                             "server_cpu_s": cpu_seconds(server.pid) - cpu0,
                             "summary": r.summary, "requests": r.requests()})
                print(f"(c) small files {way}: {r.wall_s:.1f} s", file=sys.stderr)
            if tree_digest(a.folder / "small") != tree_digest(b.folder / "small"):
                raise BenchError("(c) B's small files differ from A's")
        if big:
            rows += big_file(work, server, a, b, big)
    print_part_c(rows)
    return {"rows": rows}


def big_file(work: Path, server: Server, a: Device, b: Device,
             size: int) -> list[dict[str, object]]:
    free = shutil.disk_usage(work).free
    if free < 4 * size:
        print(f"(c) big file skipped: {free / MB:,.0f} MB free under {work},"
              f" {4 * size / MB:,.0f} MB needed", file=sys.stderr)
        return [{"what": "big file", "skipped": f"{free / MB:,.0f} MB free,"
                 f" {4 * size / MB:,.0f} MB needed"}]
    rows: list[dict[str, object]] = []
    for dev in (a, b):
        (dev.folder / "big").mkdir()
    src = a.folder / "big" / "big.bin"
    t0 = time.perf_counter()
    digest = write_random(src, size)
    print(f"(c) made {size / MB:,.0f} MB in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    copy = work / "c-copy.bin"
    t0 = time.perf_counter()
    copy_fsynced(src, copy)
    rows.append({"what": "big file copy ceiling", "bytes": size,
                 "wall_s": time.perf_counter() - t0})
    copy.unlink()
    for dev, way in ((a, "up"), (b, "down")):
        cpu0 = cpu_seconds(server.pid)
        with ServerPeak(server.pid) as peak:
            r = dev.sync_once(dev.folder / "big", "/big")
        rows.append({"what": f"big file {way}", "bytes": size, "wall_s": r.wall_s,
                     "client_rss_mb": r.rss_mb, "server_rss_mb": peak.mb,
                     "client_cpu_s": r.cpu_s, "server_cpu_s": cpu_seconds(server.pid) - cpu0,
                     "summary": r.summary, "requests": r.requests()})
        print(f"(c) big file {way}: {r.wall_s:.1f} s", file=sys.stderr)
    if sha256(b.folder / "big" / "big.bin") != digest:
        raise BenchError("(c) B's big file differs from A's")
    return rows


def print_part_c(rows: list[dict[str, object]]) -> None:
    print("## (c) first sync (`sync --once`, wall time of the client process)\n")
    print("| what | files/s | MB/s | wall s | client CPU s | server CPU s | client peak RSS MB"
          " | server peak RSS MB | client says |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        if "skipped" in r:
            print(f"| {r['what']} | skipped: {r['skipped']} | | | | | | | |")
            continue
        wall = float(r["wall_s"])  # type: ignore[arg-type]
        fps = f"{int(r['items']) / wall:,.0f}" if "items" in r else "-"  # type: ignore[call-overload]
        mbs = int(r["bytes"]) / MB / wall  # type: ignore[call-overload]
        rss = (f"{r['client_cpu_s']:.1f} | {r['server_cpu_s']:.1f} | {r['client_rss_mb']:.0f}"
               f" | {r['server_rss_mb']:.0f}" if "client_rss_mb" in r else "- | - | - | -")
        print(f"| {r['what']} | {fps} | {mbs:,.1f} | {wall:.2f} | {rss}"
              f" | {r.get('summary', '-')} |")
    print("\nThe clients' requests (from their httpx log lines):\n")
    for r in rows:
        if r.get("requests"):
            reqs = ", ".join(f"{n:,} `{k}`" for k, n in r["requests"].items())  # type: ignore[attr-defined]
            print(f"- {r['what']}: {reqs}")
    print()


# -- main ----------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default="a,b,c", help="which parts, e.g. a,c (default a,b,c)")
    ap.add_argument("--quick", action="store_true", help="small sizes: a run under 2 minutes")
    ap.add_argument("--size", help="(a) the edited file (default 256MiB)")
    ap.add_argument("--edit-settle-s",
                    help="(a) seconds between a write and A's sync; a comma list runs the"
                    " series once per value (default 0,2.5; --quick: 0)")
    ap.add_argument("--latency-files", type=int, help="(b) files written (default 100)")
    ap.add_argument("--latency-gap-s", type=float, default=0.3, help="(b) rest between files")
    ap.add_argument("--latency-write", default="rename",
                    help="(b) rename, direct, or rename,direct (default rename)")
    ap.add_argument("--small-files", type=int, help="(c) small files (default 10000; 0: none)")
    ap.add_argument("--big-size", help="(c) the big file (default 5GiB; 0: none)")
    ap.add_argument("--data-dir", type=Path, default=None,
                    help="parent of the work dir (default /var/tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the work dir")
    args = ap.parse_args()
    preset = QUICK if args.quick else FULL
    for key, value in preset.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    parts = set(args.parts.split(","))
    report: dict[str, object] = {"benchmark": "sync", "argv": sys.argv[1:],
                                 "selfdrive": git_head()}
    print(f"# selfdrive sync benchmarks\n\n`{' '.join(['python', *sys.argv])}`\n\n{machine()}")
    print(f"- selfdrive at {git_head()}\n")
    try:
        with work_dir("selfdrive-sync-bench-", args.data_dir or Path("/var/tmp"),
                      args.keep) as work:
            report["machine"] = machine()
            if "a" in parts:
                report["a"] = [part_a(work, parse_size(args.size), float(settle))
                               for settle in args.edit_settle_s.split(",")]
            if "b" in parts:
                modes = args.latency_write.split(",")
                report["b"] = part_b(work, args.latency_files, args.latency_gap_s, modes)
            if "c" in parts:
                report["c"] = part_c(work, args.small_files, parse_size(args.big_size))
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
