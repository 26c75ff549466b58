"""The web UI in a real Chromium: a 10,000-entry folder's first listing and scrolling, and
a browser upload beside the API's uploads of the same file.

    python benchmarks/web.py [--entries 10000] [--listing-runs 5] [--size 1GiB]
                             [--upload-runs 3] [--chunk-mib 64] [--skip-listing]
                             [--skip-upload] [--data-dir DIR] [--keep] [--pin]

A fresh `selfdrive serve` on 127.0.0.1 (quota and file size limits out of the way) and a
user made with `selfdrive user add`; the API calls use a device token of that user (POST
/api/v1/auth/tokens), the browser a session cookie (POST /api/v1/auth/login in the
Playwright context, as tests/web do). Chromium is Debian's, headless, 1280x800.

(1) Listing: --entries empty files are made in /Big (POST /api/v1/files/commit with no
    blocks, 16 in flight from a thread pool on one httpx.Client). Then --listing-runs times,
    each on a fresh page: go to /files/Big and, from an init script (a MutationObserver;
    times are performance.now(), i.e. from the navigation's start), take (a) the first
    `.item` row in the DOM, plus two animation frames ("visible": the frame holding it has
    been produced), (b) the status line reading "N items" (every page of the listing
    loaded), (c) the `.item` nodes in the DOM then. Then the listing is scrolled to 10 rows
    spread over the folder (in a jumping order) and each time the animation frames are
    counted until row `data-index` i is in the DOM: the worst such time is the scroll
    figure, and the most `.item` nodes seen is the DOM's size. Median and max of the runs.
(2) Upload of one --size file of random bytes (a temp file, in the page cache), three ways,
    --upload-runs rounds in a rotating order: the UI (a fresh page on /files, the file given
    to `input[type=file]:not([webkitdirectory])` with set_input_files; timed from that call
    to the panel's `.uploads .summary` reading "1 upload complete", polled every 50 ms:
    tus-js-client to /api/v1/uploads in 64 MiB PATCHes), `curl -T` (PUT
    /api/v1/files/content, streamed from the file, `Expect:` off) and tuspy (POST then
    PATCHes to /api/v1/uploads of --chunk-mib MiB each; each PATCH on a new connection, as
    tuspy does). Before each upload 16 bytes at every MiB of the source are rewritten (so no
    block deduplicates against an earlier upload) and sync(2) runs, untimed; after it the
    size is checked through /files/list, the file is deleted and the trash purged. Per
    upload: the server's CPU seconds, its peak RSS (VmHWM after a reset through
    /proc/PID/clear_refs, or VmRSS sampled every 50 ms) and the client's CPU seconds (every
    Chromium process under this one; curl's rusage; tuspy's process time). --chunk-mib other
    than 64 also changes the UI's chunk, by serving the page a copy of uploads.js with its
    CHUNK constant replaced (route interception; the file on disk is untouched).

Clients and server share the machine's cores, unless --pin puts the server on CPU 0 and
every client on CPU 1. Chromium spends about 10 s of CPU sending 1 GiB from a file (curl
under 1 s), which on one shared machine is taken from the server; a browser on a laptop
takes it from the laptop. Prints Markdown; 1 MB = 10^6 bytes.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from _server import MB, BenchError, RssSampler, Server, cpu_seconds, machine, status_mb, work_dir
from playwright.sync_api import Browser, BrowserContext, Playwright, Route, sync_playwright
from tusclient.client import TusClient

from selfdrive.config import parse_size

MIB = 1 << 20
USER = "bench"
BIG = "/Big"
IN_FLIGHT = 16
UI_CHUNK_MIB = 64  # CHUNK in selfdrive/web/static/uploads.js
SCROLL_POSITIONS = (0.55, 0.15, 0.85, 0.35, 0.95, 0.05, 0.65, 0.25, 0.75, 0.45)
FILE_INPUT = "input[type=file]:not([webkitdirectory])"

#: watches the listing from before the page's first script (performance.now() counts from
#: the navigation's start); WANT is the status line once every page is loaded
LISTING_PROBE = """(() => {
  const b = window.__bench = { first: null, visible: null, all: null, items: null };
  const check = () => {
    if (b.first === null && document.querySelector('.item')) {
      b.first = performance.now()
      requestAnimationFrame(() => requestAnimationFrame(() => { b.visible = performance.now() }))
    }
    if (b.all === null) {
      const s = document.querySelector('.listing-status')
      if (s && s.textContent.trim() === WANT) {
        b.all = performance.now()
        b.items = document.querySelectorAll('.item').length
        obs.disconnect()
      }
    }
  }
  const obs = new MutationObserver(check)
  obs.observe(document, { childList: true, subtree: true, characterData: true })
})()"""

#: scrolls the listing to row i and counts animation frames until that row is in the DOM
SCROLL_TO = """async ([index, count]) => {
  const box = document.querySelector('.listing')
  const list = box.querySelector('[role=list]')
  const rowHeight = list.offsetHeight / count
  const t0 = performance.now()
  box.scrollTop = index * rowHeight
  let frames = 0
  return await new Promise((done) => {
    const tick = () => {
      frames++
      if (box.querySelector(`[data-index="${index}"]`) || frames > 600) {
        done({ ms: performance.now() - t0, frames, found: frames <= 600,
               items: document.querySelectorAll('.item').length })
      } else requestAnimationFrame(tick)
    }
    requestAnimationFrame(tick)
  })
}"""

#: "done" once the upload panel says so, "error: ..." if a row failed, else null
UPLOAD_STATE = """() => {
  const s = document.querySelector('.uploads .summary')
  if (s && s.textContent.trim() === '1 upload complete') return 'done'
  const bad = document.querySelector('.uploads .upload.state-error')
  return bad ? 'error: ' + bad.textContent.trim() : null
}"""


# -- server and account --------------------------------------------------------------------


@dataclass
class Site:
    server: Server
    base: str
    password: str
    token: str

    def api(self, timeout_s: float = 600.0) -> httpx.Client:
        return httpx.Client(base_url=self.base + "/api/v1", timeout=timeout_s,
                            headers={"Authorization": f"Bearer {self.token}"},
                            limits=httpx.Limits(max_connections=IN_FLIGHT + 4))


def add_user(server: Server, config: Path, password: str) -> None:
    cmd = [sys.executable, "-m", "selfdrive", "user", "add", USER, "--password-stdin",
           "--config", str(config), "--data", str(server.data_dir)]
    r = subprocess.run(cmd, input=password + "\n", capture_output=True, text=True, timeout=120)
    if r.returncode:
        raise BenchError(f"user add failed ({r.returncode}): {r.stderr.strip()}")


def device_token(base: str, password: str) -> str:
    r = httpx.post(base + "/api/v1/auth/tokens", timeout=60,
                   json={"username": USER, "password": password, "device_name": "bench"})
    check(r, 200, 201)
    return str(r.json()["token"])


def check(r: httpx.Response, *ok: int) -> None:
    if r.status_code not in ok:
        raise BenchError(f"{r.request.method} {r.request.url}: HTTP {r.status_code}: "
                         f"{r.text[:500]}")


@contextmanager
def running_site(work: Path, size: int) -> Iterator[Site]:
    config = work / "selfdrive.toml"
    config.write_text(f"[limits]\ndefault_quota_bytes = {10**15}\n"
                      f"max_file_bytes = {max(2 * size, 10 << 30)}\n")
    server = Server(work / "data", config, work / "server.log")
    try:
        server.wait_ready()
        password = secrets.token_urlsafe(16)
        add_user(server, config, password)
        base = f"http://{server.host}:{server.port}"
        yield Site(server, base, password, device_token(base, password))
    except BaseException:
        print(f"the server's log ends with:\n{server.log_tail()}", file=sys.stderr)
        raise
    finally:
        server.stop()


# -- measuring helpers ---------------------------------------------------------------------


def load1() -> float:
    return os.getloadavg()[0]


def chromium_cpu(root: int) -> dict[str, float]:
    """CPU seconds of the live Chromium processes below *root*, by kind: "browser" (the main
    process, where Blobs are kept), "renderer" (the page: tus-js-client), "network" (the
    network service, which reads the request body and writes the socket), "other"."""
    parent: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    kinds: dict[str, float] = {"browser": 0.0, "renderer": 0.0, "network": 0.0, "other": 0.0}
    for pid in parent:
        p = pid
        while p > 1 and p in parent and p != root:
            p = parent[p]
        if p != root or pid == root:
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_text(errors="replace").split("\0")
            cpu = cpu_seconds(pid)
        except OSError:
            continue
        if "chromium" not in cmd[0]:
            continue
        flags = " ".join(cmd[1:])
        kind = ("network" if "network.mojom.NetworkService" in flags
                else "renderer" if "--type=renderer" in flags
                else "other" if "--type=" in flags else "browser")
        kinds[kind] += cpu
    return kinds


class ServerPeak:
    """The server's peak RSS over a `with` block: VmHWM after resetting it, or (where
    clear_refs is refused) VmRSS sampled every 50 ms."""

    def __init__(self, pid: int) -> None:
        self.pid, self.mb = pid, 0.0
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


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# -- (1) listing ---------------------------------------------------------------------------


def make_entries(site: Site, count: int) -> float:
    """*count* empty files in BIG; files made per second."""
    started = time.monotonic()
    done = 0
    with site.api() as client:
        def one(i: int) -> None:
            r = client.post("/files/commit", json={"path": f"{BIG}/file-{i:05d}.txt",
                                                   "blocks": [], "size": 0})
            check(r, 200, 201)

        with ThreadPoolExecutor(IN_FLIGHT) as pool:
            for _ in pool.map(one, range(count)):
                done += 1
                if done % 1000 == 0 or done == count:
                    took = time.monotonic() - started
                    print(f"  {done}/{count} entries, {done / took:.0f}/s", file=sys.stderr)
    return count / (time.monotonic() - started)


@dataclass
class ListingRun:
    first_ms: float
    visible_ms: float
    all_ms: float
    items_loaded: int
    items_max: int
    scroll_ms: list[float]
    scroll_frames: list[int]


def listing_run(context: BrowserContext, count: int) -> ListingRun:
    page = context.new_page()
    try:
        page.add_init_script(LISTING_PROBE.replace("WANT", repr(f"{count} items")))
        page.goto(f"/files{BIG}", wait_until="commit")
        page.wait_for_function("() => window.__bench && window.__bench.all !== null &&"
                               " window.__bench.visible !== null", timeout=300_000)
        probe: dict[str, float] = page.evaluate("() => window.__bench")
        scroll_ms: list[float] = []
        frames: list[int] = []
        items_max = int(probe["items"])
        for where in SCROLL_POSITIONS:
            index = min(count - 1, int(where * count))
            got: dict[str, Any] = page.evaluate(SCROLL_TO, [index, count])
            if not got["found"]:
                raise BenchError(f"row {index} never rendered after scrolling to it")
            scroll_ms.append(float(got["ms"]))
            frames.append(int(got["frames"]))
            items_max = max(items_max, int(got["items"]))
        return ListingRun(probe["first"], probe["visible"], probe["all"], int(probe["items"]),
                          items_max, scroll_ms, frames)
    finally:
        page.close()


# -- (2) uploads ---------------------------------------------------------------------------


#: an upload's seconds, the client's CPU seconds, and the browser's by process kind
Timed = tuple[float, float, dict[str, float]]


@dataclass
class Upload:
    seconds: float
    server_cpu: float
    client_cpu: float
    peak_mb: float
    #: the browser's CPU seconds by Chromium process kind (see chromium_cpu)
    split: dict[str, float]


@dataclass
class Method:
    label: str
    run: Callable[[Path], Timed]
    done: list[Upload] = field(default_factory=list)

    def rates(self, size: int) -> list[float]:
        return [size / u.seconds / MB for u in self.done]


def write_random(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(16 * MIB, left)
            f.write(os.urandom(n))
            left -= n


def stamp(path: Path, tag: int) -> None:
    """Rewrite 16 bytes at every MiB, so that no block matches an earlier upload's."""
    size = path.stat().st_size
    fd = os.open(path, os.O_WRONLY)
    try:
        for offset in range(0, size - 16, MIB):
            os.pwrite(fd, tag.to_bytes(8, "big") + offset.to_bytes(8, "big"), offset)
    finally:
        os.close(fd)


def browser_upload(context: BrowserContext, size: int, chunk_mib: int) -> Callable[[Path], Timed]:
    def run(src: Path) -> Timed:
        page = context.new_page()
        try:
            if chunk_mib != UI_CHUNK_MIB:
                page.route("**/static/**/uploads.js", lambda route: serve_chunk(route, chunk_mib))
            page.goto("/files")
            page.wait_for_function(
                "() => /^\\d+ items?$/.test(document.querySelector('.listing-status')"
                "?.textContent.trim() || '')")
            before = chromium_cpu(os.getpid())
            started = time.monotonic()
            page.set_input_files(FILE_INPUT, str(src))
            state = page.wait_for_function(UPLOAD_STATE, polling=50,
                                           timeout=max(600_000, size // 100_000)).json_value()
            took = time.monotonic() - started
            after = chromium_cpu(os.getpid())
            if state != "done":
                raise BenchError(f"the browser upload failed: {state}")
            split = {k: after[k] - before[k] for k in after}
            print("  chromium CPU s: " + ", ".join(f"{k} {v:.1f}" for k, v in split.items()),
                  file=sys.stderr)
            return took, sum(split.values()), split
        finally:
            page.close()
    return run


def serve_chunk(route: Route, chunk_mib: int) -> None:
    original = route.fetch()
    text, n = re.subn(r"const CHUNK = [^\n]+", f"const CHUNK = {chunk_mib} * 1024 * 1024",
                      original.text())
    if n != 1:
        raise BenchError("uploads.js holds no `const CHUNK = ...` line to replace")
    route.fulfill(response=original, body=text)


def curl_upload(site: Site) -> Callable[[Path], Timed]:
    def run(src: Path) -> Timed:
        url = f"{site.base}/api/v1/files/content?path=/{src.name}"
        cmd = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Expect:",
               "-H", f"Authorization: Bearer {site.token}", "-T", str(src), url]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
        took = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if r.stdout.strip() != "201":
            raise BenchError(f"curl PUT: {r.stdout.strip()} {r.stderr.strip()}")
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        return took, cpu, {}
    return run


def tus_upload(site: Site, chunk_mib: int) -> Callable[[Path], Timed]:
    def run(src: Path) -> Timed:
        client = TusClient(site.base + "/api/v1/uploads",
                           headers={"Authorization": f"Bearer {site.token}"})
        before = time.process_time()
        started = time.monotonic()
        uploader = client.uploader(file_path=str(src), chunk_size=chunk_mib * MIB,
                                   metadata={"filename": src.name, "folder": "/"})
        uploader.upload()
        return time.monotonic() - started, time.process_time() - before, {}
    return run


def verify_and_remove(site: Site, name: str, size: int) -> None:
    with site.api() as client:
        r = client.get("/files/list", params={"path": "/", "limit": 1000})
        check(r, 200)
        sizes = {e["name"]: e.get("size") for e in r.json()["entries"]}
        if sizes.get(name) != size:
            raise BenchError(f"/{name} is {sizes.get(name)} bytes on the server, not {size}")
        check(client.post("/files/delete", json={"path": f"/{name}"}), 200)
        check(client.post("/trash/purge", json={"all": True}), 200)


def upload_rounds(site: Site, methods: list[Method], src: Path, size: int, runs: int) -> None:
    tag = 0
    for r in range(runs):
        for k in range(len(methods)):
            method = methods[(r + k) % len(methods)]
            tag += 1
            named = src.with_name(f"{method.label.split()[0]}-{r + 1}.bin")
            src.rename(named)
            src = named
            stamp(src, tag)
            os.sync()
            cpu0 = cpu_seconds(site.server.pid)
            with ServerPeak(site.server.pid) as peak:
                took, client_cpu, split = method.run(src)
            server_cpu = cpu_seconds(site.server.pid) - cpu0
            method.done.append(Upload(took, server_cpu, client_cpu, peak.mb, split))
            print(f"  round {r + 1} {method.label}: {size / took / MB:.0f} MB/s in"
                  f" {took:.1f} s, server CPU {server_cpu:.1f} s, client CPU"
                  f" {client_cpu:.1f} s, server peak RSS {peak.mb:.0f} MB", file=sys.stderr)
            verify_and_remove(site, src.name, size)


# -- report --------------------------------------------------------------------------------


def print_listing(runs: list[ListingRun], count: int, made_per_s: float) -> None:
    def row(label: str, values: list[float], fmt: str) -> None:
        shown = ", ".join(format(v, fmt) for v in values)
        print(f"| {label} | {format(median(values), fmt)} | {format(max(values), fmt)}"
              f" | {shown} |")

    print(f"\n## Listing a folder of {count:,} files ({len(runs)} fresh pages)\n")
    print(f"The {count:,} entries took {count / made_per_s:.0f} s to make"
          f" ({made_per_s:.0f} files/s, {IN_FLIGHT} commits in flight).\n")
    print("| figure | median | max | all runs |\n|---|---:|---:|---|")
    row("first `.item` row in the DOM, ms from navigation start",
        [x.first_ms for x in runs], ".0f")
    row("first row visible (2 frames later), ms", [x.visible_ms for x in runs], ".0f")
    row(f'status "{count} items" (all pages loaded), ms', [x.all_ms for x in runs], ".0f")
    row("`.item` nodes in the DOM then", [float(x.items_loaded) for x in runs], ".0f")
    row("most `.item` nodes while scrolling", [float(x.items_max) for x in runs], ".0f")
    row("scroll to a row, worst of 10 jumps, ms", [max(x.scroll_ms) for x in runs], ".0f")
    row("scroll to a row, median of 10 jumps, ms",
        [median(x.scroll_ms) for x in runs], ".0f")
    row("animation frames until the row is there, worst", [float(max(x.scroll_frames))
                                                           for x in runs], ".0f")


def print_uploads(methods: list[Method], size: int, chunk_mib: int) -> None:
    print(f"\n## Upload of one {size / MIB:.0f} MiB file ({len(methods[0].done)} rounds,"
          f" rotating order; tus chunk {chunk_mib} MiB)\n")
    print("| client | best MB/s | median MB/s | all MB/s | server CPU s (median)"
          " | client CPU s (median) | server peak RSS MB (max) |")
    print("|---|---:|---:|---|---:|---:|---:|")
    for m in methods:
        rates = m.rates(size)
        print(f"| {m.label} | {max(rates):.0f} | {median(rates):.0f}"
              f" | {', '.join(f'{x:.0f}' for x in rates)}"
              f" | {median([u.server_cpu for u in m.done]):.1f}"
              f" | {median([u.client_cpu for u in m.done]):.1f}"
              f" | {max(u.peak_mb for u in m.done):.0f} |")
    split = methods[0].done[0].split
    print("\nChromium's CPU seconds per browser upload, median, by process: " + ", ".join(
        f"{k} {median([u.split[k] for u in methods[0].done]):.1f}" for k in split) + ".\n")
    browser = methods[0].rates(size)
    for m in methods[1:]:
        api = m.rates(size)
        print(f"- browser / {m.label}: best {max(browser) / max(api):.2f},"
              f" median {median(browser) / median(api):.2f} (goal >= 0.70)")


def pin(server: int, me: int) -> None:
    """Every thread of *server* on CPU 0 (threads it starts later inherit that), this
    process on CPU 1 (the clients it starts inherit that)."""
    if (os.cpu_count() or 1) < 2:
        raise BenchError("--pin needs two CPUs")
    for task in Path(f"/proc/{server}/task").iterdir():
        os.sched_setaffinity(int(task.name), {0})
    for task in Path(f"/proc/{me}/task").iterdir():
        os.sched_setaffinity(int(task.name), {1})


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise BenchError("no chromium on PATH (apt-get install chromium)")


def open_browser(p: Playwright, base: str, password: str) -> tuple[Browser, BrowserContext]:
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    browser = p.chromium.launch(executable_path=chromium_path(), args=args)
    context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(120_000)
    r = context.request.post("/api/v1/auth/login",
                             data={"username": USER, "password": password})
    if not r.ok:
        raise BenchError(f"sign-in: HTTP {r.status}: {r.text()[:500]}")
    return browser, context


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--listing-runs", type=int, default=5)
    parser.add_argument("--size", type=parse_size, default=parse_size("1GiB"))
    parser.add_argument("--upload-runs", type=int, default=3)
    parser.add_argument("--chunk-mib", type=int, default=UI_CHUNK_MIB,
                        help="tuspy's PATCH size, and the UI's if not 64 (default 64)")
    parser.add_argument("--skip-listing", action="store_true")
    parser.add_argument("--skip-upload", action="store_true")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="where the temp work dir goes (default: the system's temp)")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--pin", action="store_true",
                        help="the server on CPU 0, this script and every client (Chromium,"
                             " curl, tuspy) on CPU 1: a browser on a laptop does not take its"
                             " CPU from the server, as it does on one shared machine")
    args = parser.parse_args()
    load_start = load1()
    listing: list[ListingRun] = []
    made = 0.0
    methods: list[Method] = []
    with work_dir("selfdrive-web-", args.data_dir, args.keep) as work, \
            running_site(work, args.size) as site, sync_playwright() as p:
        if args.pin:
            pin(site.server.pid, os.getpid())
        browser, context = open_browser(p, site.base, site.password)
        version = browser.version
        if not args.skip_listing:
            print(f"making {args.entries} entries in {BIG}", file=sys.stderr)
            made = make_entries(site, args.entries)
            for i in range(args.listing_runs):
                listing.append(listing_run(context, args.entries))
                x = listing[-1]
                print(f"  listing {i + 1}: first row {x.first_ms:.0f} ms, all {x.all_ms:.0f}"
                      f" ms, {x.items_loaded} nodes, worst scroll {max(x.scroll_ms):.0f} ms",
                      file=sys.stderr)
        if not args.skip_upload:
            src = work / "source.bin"
            write_random(src, args.size)
            methods = [Method("browser (UI, tus-js-client)",
                              browser_upload(context, args.size, args.chunk_mib)),
                       Method("curl -T (PUT /files/content)", curl_upload(site)),
                       Method("tuspy (/uploads)", tus_upload(site, args.chunk_mib))]
            upload_rounds(site, methods, src, args.size, args.upload_runs)
        browser.close()
    print(f"# selfdrive web UI figures\n\n{machine()}\n- chromium {version} (headless),"
          f" playwright\n- load average (1 min) {load_start:.1f} at the start,"
          f" {load1():.1f} at the end")
    if args.pin:
        print("- pinned: the server on CPU 0; this script, Chromium, curl and tuspy on CPU 1")
    if listing:
        print_listing(listing, args.entries, made)
    if methods:
        print_uploads(methods, args.size, args.chunk_mib)


if __name__ == "__main__":
    main()
