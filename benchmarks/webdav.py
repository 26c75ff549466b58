"""WebDAV at /dav/ beside selfdrive's REST API, `rclone serve webdav` and nginx's dav module.

    python benchmarks/webdav.py [--quick] [--size 1GiB] [--runs 3] [--entries 10000]
                                [--propfinds 5] [--data-dir DIR] [--keep]

Everything runs on 127.0.0.1, side by side in one run:

(1) Throughput: one PUT and one GET of a --size file of random bytes through each of
    selfdrive's WebDAV (`PUT`/`GET /dav/bench/NAME`), selfdrive's REST API (`PUT`/`GET
    /api/v1/files/content?path=`), `rclone serve webdav` of a temp dir and a private
    nginx with its dav module (skipped, with the reason, where nginx or the module is
    missing). The one client is curl: `-T FILE` for a PUT (streamed from the file,
    `Expect:` turned off), `-o /dev/null` for a GET; a figure is the size over curl's
    time_total (connect to last byte). First an untimed 16 MiB PUT and GET on each
    server (thread pools, caches); then --runs rounds, the servers in a rotating order,
    each transfer after an untimed sync(2) so that no write-back of the one before runs
    in it. The best PUT and the best GET of each server count; the table also lists
    every round's. nginx and rclone do not fsync an upload; selfdrive fsyncs each block
    (and seals it with AES-GCM). Every selfdrive upload has a source file of its
    own (identical content would deduplicate and write no blocks), so there are 2 x
    --runs random files; rclone and nginx get the WebDAV ones. The first GET of each
    server is checked afterwards by an untimed GET (size and SHA-256).
(2) PROPFIND, Depth 1 and no body (allprop), of a folder of --entries small files: on
    selfdrive they are made by REST PUTs, 16 in flight (httpx, asyncio); rclone's and
    nginx's folders are written on disk. --propfinds requests on one kept-alive
    connection (httpx), p50 and max of the time to the end of the answer, which must
    hold --entries + 1 responses. nginx needs the dav-ext module for PROPFIND.

Logins: selfdrive's WebDAV with Basic `admin:<device token>`, its REST API with the
same token as a Bearer; rclone and nginx with Basic user:password. Prints Markdown;
1 MB = 10^6 bytes. --quick sets --size 64MiB --entries 1000 (flags given win). Run it
with the project's Python; as root, nginx runs with `user root` (its workers write the
temp dir).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import httpx
from _server import IO, MB, BenchError, Server, cpu_seconds, free_port, machine, work_dir

from selfdrive.config import parse_size

GENERATE = 16 << 20
#: (--size, --entries) of a full run and of --quick
FULL = ("1GiB", 10_000)
QUICK = ("64MiB", 1000)
IN_FLIGHT = 16
WARM_UP = 16 << 20
ENTRY_BYTES = 100
USER = "bench"
DAV_EXT = Path("/usr/lib/nginx/modules/ngx_http_dav_ext_module.so")
CURL_OUT = "%{http_code} %{time_total} %{size_upload} %{size_download}"
DAV_NS = "{DAV:}"
#: the folder of the transfers, and the one of --entries files
BENCH, MANY = "/bench", "/many"


# -- servers ------------------------------------------------------------------------------


@dataclass
class Endpoint:
    """One server as the benchmark sees it: where a file's bytes live, how to log in."""

    #: "dav", "rest", "rclone" or "nginx"
    key: str
    label: str
    #: a path like /bench/x.bin -> the URL to PUT it to and GET it from
    url: Callable[[str], str]
    #: curl's arguments that log in
    curl_auth: list[str]
    #: the processes whose CPU time is the server's
    pids: Callable[[], list[int]]
    #: the WebDAV base URL (no trailing slash) for PROPFIND; None: no PROPFIND here
    dav: str | None = None
    #: Basic login of httpx's requests (MKCOL, PROPFIND)
    login: tuple[str, str] | None = None
    #: where the served folder is on disk (rclone, nginx), to write the PROPFIND folder
    root: Path | None = None


class Daemon:
    """A server process (rclone, nginx) on 127.0.0.1:*port*, its output in *log*."""

    def __init__(self, name: str, cmd: list[str], port: int, log: Path) -> None:
        self.name, self.port, self.log = name, port, log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)

    def log_tail(self, n: int = 20) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited ({self.proc.returncode}):\n"
                                 f"{self.log_tail()}")
            with contextlib.suppress(OSError), socket.create_connection(
                    ("127.0.0.1", self.port), timeout=1.0):
                return
            time.sleep(0.05)
        raise BenchError(f"{self.name} did not listen in {timeout_s:.0f} s:\n{self.log_tail()}")

    def pids(self) -> list[int]:
        """The process and its children (nginx's workers)."""
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        with contextlib.suppress(OSError):
            return [self.proc.pid, *map(int, children.read_text().split())]
        return [self.proc.pid]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_rclone(work: Path, password: str, entries: int) -> tuple[Daemon, Endpoint]:
    root, port = work / "rclone-root", free_port()
    # before rclone starts: it caches a folder's listing (--dir-cache-time, 5 min)
    create_entries_disk(root, MANY, entries)
    config = work / "rclone.conf"
    config.touch()
    cmd = ["rclone", "--config", str(config), "serve", "webdav", str(root),
           "--addr", f"127.0.0.1:{port}", "--user", USER, "--pass", password]
    daemon = Daemon("rclone", cmd, port, work / "rclone.log")
    base = f"http://127.0.0.1:{port}"
    return daemon, Endpoint("rclone", f"rclone {rclone_version()} serve webdav",
                            lambda p: base + quote(p), ["-u", f"{USER}:{password}"],
                            daemon.pids, base, (USER, password), root)


def nginx_missing() -> str | None:
    """Why nginx with its dav module cannot run here, or None."""
    if shutil.which("nginx") is None:
        return "nginx is not installed (apt-get install nginx)"
    flags = subprocess.run(["nginx", "-V"], capture_output=True, text=True).stderr
    if "http_dav_module" not in flags:
        return "this nginx is built without http_dav_module"
    return None


def start_nginx(work: Path, password: str, entries: int) -> tuple[Daemon, Endpoint]:
    """A private nginx: own config, prefix and temp dirs, one worker, in the foreground."""
    home, port = work / "nginx", free_port()
    root = home / "root"
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (home / sub).mkdir(parents=True)
    create_entries_disk(root, MANY, entries)
    (home / "htpasswd").write_text(f"{USER}:{{PLAIN}}{password}\n")
    ext = DAV_EXT.exists()
    config = "\n".join([
        f"load_module {DAV_EXT};" if ext else "",
        "daemon off;", "worker_processes 1;", f"pid {home}/nginx.pid;",
        "user root;" if os.geteuid() == 0 else "",
        f"error_log {home}/error.log warn;",
        "events { worker_connections 256; }",
        "http {",
        "  access_log off; sendfile on;",
        f"  client_body_temp_path {home}/body; proxy_temp_path {home}/proxy;",
        f"  fastcgi_temp_path {home}/fastcgi; uwsgi_temp_path {home}/uwsgi;",
        f"  scgi_temp_path {home}/scgi;",
        f"  server {{ listen 127.0.0.1:{port}; root {root}; client_max_body_size 0;",
        "    location / {",
        "      dav_methods PUT DELETE MKCOL COPY MOVE; create_full_put_path on;",
        "      dav_access user:rw group:r all:r;" + (" dav_ext_methods PROPFIND OPTIONS;"
                                                   if ext else ""),
        f"      auth_basic bench; auth_basic_user_file {home}/htpasswd;",
        "    }", "  }", "}", ""])
    (home / "nginx.conf").write_text(config)
    cmd = ["nginx", "-p", str(home), "-c", str(home / "nginx.conf"), "-e",
           str(home / "error.log")]
    daemon = Daemon("nginx", cmd, port, home / "stdout.log")
    base = f"http://127.0.0.1:{port}"
    label = f"nginx {nginx_version()} dav" + (" + dav-ext" if ext else "")
    return daemon, Endpoint("nginx", label, lambda p: base + quote(p), ["-u", f"{USER}:{password}"],
                            daemon.pids, base if ext else None, (USER, password), root)


def selfdrive_endpoints(server: Server, token: str) -> tuple[Endpoint, Endpoint]:
    base = f"http://{server.host}:{server.port}"
    dav = Endpoint("dav", "selfdrive WebDAV /dav/", lambda p: f"{base}/dav" + quote(p),
                   ["-u", f"admin:{token}"], lambda: [server.pid], f"{base}/dav",
                   ("admin", token))
    rest = Endpoint("rest", "selfdrive REST /api/v1", lambda p: f"{base}/api/v1/files/content?path="
                    + quote(p, safe=""), ["-H", f"Authorization: Bearer {token}"],
                    lambda: [server.pid])
    return dav, rest


def rclone_version() -> str:
    out = subprocess.run(["rclone", "version"], capture_output=True, text=True).stdout
    return out.split()[1] if out else "?"


def nginx_version() -> str:
    out = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr
    return out.strip().rpartition("/")[2] or "?"


def curl_version() -> str:
    out = subprocess.run(["curl", "--version"], capture_output=True, text=True).stdout
    return out.split()[1] if out else "?"


# -- transfers ----------------------------------------------------------------------------


@dataclass
class Transfer:
    mb_s: float
    server_cpu_s: float


@dataclass
class Throughput:
    endpoint: Endpoint
    puts: list[Transfer] = field(default_factory=list)
    gets: list[Transfer] = field(default_factory=list)

    @staticmethod
    def best(transfers: list[Transfer]) -> Transfer:
        return max(transfers, key=lambda t: t.mb_s)


def make_source(path: Path, size: int) -> str:
    """*size* random bytes into *path*, written in pieces and fsynced; their SHA-256."""
    h = hashlib.sha256()
    with open(path, "wb") as f:
        for start in range(0, size, GENERATE):
            piece = os.urandom(min(GENERATE, size - start))
            f.write(piece)
            h.update(piece)
        f.flush()
        os.fsync(f.fileno())
    return h.hexdigest()


def curl(endpoint: Endpoint, args: list[str], size: int, what: str) -> Transfer:
    """One curl transfer of *size* bytes, timed by curl, with the server's CPU time."""
    os.sync()  # the write-back of the transfer before, not in this one
    cpu0 = sum(map(cpu_seconds, endpoint.pids()))
    out = subprocess.run(["curl", "-sS", "--fail-with-body", "-H", "Expect:", "-w", CURL_OUT,
                          *endpoint.curl_auth, *args], capture_output=True, text=True)
    cpu = sum(map(cpu_seconds, endpoint.pids())) - cpu0
    fields = out.stdout.split()[-4:]
    if out.returncode != 0 or len(fields) != 4:
        raise BenchError(f"{what} on {endpoint.label}: curl exited {out.returncode}:"
                         f" {out.stdout[-2000:]} {out.stderr[-2000:]}")
    moved = max(int(fields[2]), int(fields[3]))
    if moved != size:
        raise BenchError(f"{what} on {endpoint.label}: {moved} bytes moved, not {size}")
    return Transfer(size / MB / float(fields[1]), cpu)


def put(endpoint: Endpoint, src: Path, remote: str, size: int) -> Transfer:
    return curl(endpoint, ["-o", "/dev/null", "-T", str(src), endpoint.url(remote)], size,
                f"PUT {remote}")


def get(endpoint: Endpoint, remote: str, size: int) -> Transfer:
    return curl(endpoint, ["-o", "/dev/null", endpoint.url(remote)], size, f"GET {remote}")


def check_content(endpoint: Endpoint, remote: str, size: int, sha256: str) -> None:
    """An untimed GET through curl's stdout: the right size and SHA-256."""
    proc = subprocess.Popen(["curl", "-sS", "--fail", *endpoint.curl_auth,
                             endpoint.url(remote)], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    h, total = hashlib.sha256(), 0
    while piece := proc.stdout.read(IO):
        h.update(piece)
        total += len(piece)
    if proc.wait() != 0 or total != size or h.hexdigest() != sha256:
        raise BenchError(f"GET {remote} on {endpoint.label}: curl exited {proc.returncode},"
                         f" {total} bytes (want {size}), SHA-256 matches: "
                         f"{h.hexdigest() == sha256}")


def mkcol(endpoint: Endpoint, folder: str) -> None:
    """MKCOL on a WebDAV endpoint (selfdrive's refuses a PUT into a missing folder)."""
    resp = httpx.request("MKCOL", endpoint.url(f"{folder}/"), auth=endpoint.login)
    if resp.status_code != 201:
        raise BenchError(f"MKCOL {folder} on {endpoint.label}: HTTP {resp.status_code}:"
                         f" {resp.text[:2000]}")


def throughput(endpoints: list[Endpoint], sources: dict[str, list[tuple[Path, str]]],
               size: int, runs: int) -> list[Throughput]:
    """*runs* rounds of a PUT and a GET on each endpoint, the order rotating per round,
    after an untimed warm-up transfer on each (thread pools, caches, connections)."""
    warm = sources["dav"][0][0].with_name("warm-up.bin")
    warm_size = min(size, WARM_UP)
    make_source(warm, warm_size)
    for e in endpoints:
        put(e, warm, f"{BENCH}/{warm.name}", warm_size)
        get(e, f"{BENCH}/{warm.name}", warm_size)
    results = [Throughput(e) for e in endpoints]
    for i in range(runs):
        order = results[i % len(results):] + results[:i % len(results)]
        for res in order:
            src, digest = sources["rest" if res.endpoint.key == "rest" else "dav"][i]
            remote = f"{BENCH}/{src.name}"
            res.puts.append(put(res.endpoint, src, remote, size))
            res.gets.append(get(res.endpoint, remote, size))
            print(f"round {i + 1}: {res.endpoint.label}: PUT {res.puts[-1].mb_s:.0f},"
                  f" GET {res.gets[-1].mb_s:.0f} MB/s", file=sys.stderr)
            if i == 0:
                check_content(res.endpoint, remote, size, digest)
            if res.endpoint.root is not None:  # rclone, nginx: keep the disk from filling
                (res.endpoint.root / remote.lstrip("/")).unlink()
    return results


# -- PROPFIND -----------------------------------------------------------------------------


def entry_name(i: int) -> str:
    return f"file-{i:05d}.txt"


async def create_entries_rest(base: str, token: str, folder: str, count: int) -> float:
    """*count* small files in *folder* through REST PUTs, IN_FLIGHT at once; files/s."""
    names = iter(range(count))
    headers = {"Authorization": f"Bearer {token}"}

    async def worker(client: httpx.AsyncClient) -> None:
        for i in names:
            resp = await client.put(f"{base}/api/v1/files/content",
                                    params={"path": f"{folder}/{entry_name(i)}"},
                                    content=os.urandom(ENTRY_BYTES), headers=headers)
            if resp.status_code != 201:
                raise BenchError(f"PUT {folder}/{entry_name(i)}: HTTP {resp.status_code}:"
                                 f" {resp.text[:2000]}")

    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
    t0 = time.perf_counter()
    async with httpx.AsyncClient(limits=limits, timeout=120) as client:
        await asyncio.gather(*(worker(client) for _ in range(IN_FLIGHT)))
    return count / (time.perf_counter() - t0)


def create_entries_disk(root: Path, folder: str, count: int) -> None:
    """*count* small files in *root*/*folder*, which must not exist yet."""
    where = root / folder.strip("/")
    where.mkdir(parents=True)
    for i in range(count):
        (where / entry_name(i)).write_bytes(os.urandom(ENTRY_BYTES))


@dataclass
class Propfind:
    label: str
    times_s: list[float]
    body_bytes: int


def propfind(endpoint: Endpoint, folder: str, entries: int, requests: int) -> Propfind:
    """*requests* PROPFINDs (Depth 1, allprop) of *folder* on one connection."""
    assert endpoint.dav is not None
    times, size = [], 0
    with httpx.Client(auth=endpoint.login, timeout=300) as client:
        for _ in range(requests):
            t0 = time.perf_counter()
            resp = client.request("PROPFIND", f"{endpoint.dav}{folder}/",
                                  headers={"Depth": "1"})
            times.append(time.perf_counter() - t0)
            size = len(resp.content)
            if resp.status_code != 207:
                raise BenchError(f"PROPFIND {folder} on {endpoint.label}: HTTP"
                                 f" {resp.status_code}: {resp.text[:2000]}")
            found = sum(1 for _ in ET.fromstring(resp.content).iter(f"{DAV_NS}response"))
            if found != entries + 1:
                raise BenchError(f"PROPFIND {folder} on {endpoint.label}: {found} responses,"
                                 f" not {entries + 1}")
    return Propfind(endpoint.label, times, size)


# -- report -------------------------------------------------------------------------------


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}"


def throughput_table(results: list[Throughput]) -> str:
    out = ["| server | PUT MB/s | GET MB/s | PUT server CPU s | GET server CPU s"
           " | all PUTs MB/s | all GETs MB/s |", "|---|---:|---:|---:|---:|---|---|"]
    for r in results:
        p, g = Throughput.best(r.puts), Throughput.best(r.gets)
        out.append(f"| {r.endpoint.label} | {p.mb_s:.0f} | {g.mb_s:.0f}"
                   f" | {p.server_cpu_s:.2f} | {g.server_cpu_s:.2f}"
                   f" | {', '.join(f'{t.mb_s:.0f}' for t in r.puts)}"
                   f" | {', '.join(f'{t.mb_s:.0f}' for t in r.gets)} |")
    return "\n".join(out)


def ratios(results: list[Throughput]) -> str:
    by = {r.endpoint.key: r for r in results}
    dav = by["dav"]
    lines = []
    for key, goal in (("rest", "goal >= 0.90"), ("rclone", "goal > 1"),
                      ("nginx", "for context")):
        other = by.get(key)
        if other is None:
            continue
        lines.append(
            f"- WebDAV / {other.endpoint.label}: PUT"
            f" {ratio(Throughput.best(dav.puts).mb_s, Throughput.best(other.puts).mb_s)},"
            f" GET {ratio(Throughput.best(dav.gets).mb_s, Throughput.best(other.gets).mb_s)}"
            f" ({goal})")
    return "\n".join(lines)


def propfind_table(rows: list[Propfind], entries: int) -> str:
    out = ["| server | entries | p50 s | max s | all s | answer MB |",
           "|---|---:|---:|---:|---|---:|"]
    for r in rows:
        out.append(f"| {r.label} | {entries:,} | {statistics.median(r.times_s):.3f}"
                   f" | {max(r.times_s):.3f} | {', '.join(f'{t:.3f}' for t in r.times_s)}"
                   f" | {r.body_bytes / MB:.2f} |")
    return "\n".join(out)


# -- the run ------------------------------------------------------------------------------


def git_head() -> str:
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "-C", str(root), "log", "-1", "--format=%h"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "selfdrive"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except OSError:
        return "unknown"
    if not dirty:
        return head or "unknown"
    # the tree changes under a benchmark while others work in it: name what ran
    digest = hashlib.sha256()
    for source in sorted((root / "selfdrive").rglob("*.py")):
        digest.update(source.read_bytes())
    return (f"{head or 'unknown'} + uncommitted changes in selfdrive/ (sha256 of its .py"
            f" files: {digest.hexdigest()[:12]})")


@contextlib.contextmanager
def running(daemons: list[Daemon], server: Server) -> Iterator[None]:
    try:
        yield
    except (OSError, httpx.HTTPError) as exc:
        raise BenchError(f"{exc!r}; selfdrive's log ends with:\n{server.log_tail()}") from exc
    finally:
        for daemon in daemons:
            daemon.stop()
        server.stop()


def run(size: int, runs: int, entries: int, requests: int, work: Path) -> None:
    load = [os.getloadavg()[0]]
    src = work / "src"
    src.mkdir()
    t0 = time.perf_counter()
    sources = {kind: [(src / f"{kind}-{i}.bin", make_source(src / f"{kind}-{i}.bin", size))
                      for i in range(runs)] for kind in ("dav", "rest")}
    print(f"made {2 * runs} files of {size / MB:.0f} MB in {time.perf_counter() - t0:.1f} s",
          file=sys.stderr)
    config = work / "selfdrive.toml"  # quota and file size limits out of the way
    config.write_text(f"[limits]\ndefault_quota_bytes = {10**15}\n"
                      f"max_file_bytes = {max(size, 10 * 1024**3)}\n")
    head = git_head()  # what the server is about to load
    server = Server(work / "data", config, work / "server.log")
    password = secrets.token_urlsafe(16)
    daemons: list[Daemon] = []
    skipped: list[str] = []
    with running(daemons, server):
        server.wait_ready()
        token = server.token()
        dav, rest = selfdrive_endpoints(server, token)
        endpoints = [dav, rest]
        rclone, rclone_end = start_rclone(work, password, entries)
        daemons.append(rclone)
        endpoints.append(rclone_end)
        why = nginx_missing()
        if why is None:
            nginx, nginx_end = start_nginx(work, password, entries)
            daemons.append(nginx)
            endpoints.append(nginx_end)
        else:
            skipped.append(f"nginx: {why}")
        for daemon in daemons:
            daemon.wait_ready()
        for e in endpoints:
            if e is not rest:
                mkcol(e, BENCH)
        results = throughput(endpoints, sources, size, runs)

        print(f"making {entries:,} entries...", file=sys.stderr)
        rate = asyncio.run(create_entries_rest(f"http://127.0.0.1:{server.port}", token,
                                               MANY, entries))
        listings = []
        for e in endpoints:
            if e.dav is not None:
                listings.append(propfind(e, MANY, entries, requests))
            elif e.root is not None:
                skipped.append(f"PROPFIND on {e.label}: nginx has no PROPFIND without the"
                               f" dav-ext module ({DAV_EXT} is missing)")
    load.append(os.getloadavg()[0])

    print(f"## WebDAV beside the REST API, rclone and nginx\n\n`python {' '.join(sys.argv)}`\n")
    print(f"{machine()}\n- selfdrive at {head}; client curl {curl_version()}")
    print(f"- load average (1 min) {load[0]:.1f} at the start, {load[1]:.1f} at the end\n")
    print(f"### PUT and GET of a {size / MB:.0f} MB random file, best of {runs}\n")
    print(throughput_table(results) + "\n")
    print(ratios(results) + "\n")
    print(f"### PROPFIND Depth 1 (allprop) of a folder of {entries:,} files, {requests}"
          " requests\n")
    print(propfind_table(listings, entries) + "\n")
    print(f"- the {entries:,} selfdrive entries were made by REST PUTs, {IN_FLIGHT} in"
          f" flight: {rate:.0f} files/s; rclone's and nginx's were written on disk")
    for line in skipped:
        print(f"- skipped {line}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help=f"--size {QUICK[0]} --entries {QUICK[1]}")
    ap.add_argument("--size", default=None, help=f"bytes per file (default {FULL[0]})")
    ap.add_argument("--runs", type=int, default=3, help="rounds of transfers (default 3)")
    ap.add_argument("--entries", type=int, default=None,
                    help=f"files in the PROPFIND folder (default {FULL[1]:,})")
    ap.add_argument("--propfinds", type=int, default=5, help="PROPFINDs per server (default 5)")
    ap.add_argument("--data-dir", type=Path, default=None,
                    help="parent of the work dir (default /var/tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the work dir")
    args = ap.parse_args()
    preset = QUICK if args.quick else FULL
    size = parse_size(args.size or preset[0])
    entries = preset[1] if args.entries is None else args.entries
    for tool in ("curl", "rclone"):
        if shutil.which(tool) is None:
            print(f"error: {tool} is not installed", file=sys.stderr)
            return 1
    try:
        with work_dir("selfdrive-webdav-bench-", args.data_dir or Path("/var/tmp"),
                      args.keep) as work:
            run(size, args.runs, entries, args.propfinds, work)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
