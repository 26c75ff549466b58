"""Long poll: how many waiters one selfdrive server holds, how fast one write wakes them, and
what they cost in memory. With several --loops, every scenario runs on a server with each
[server] event_loop in turn (and --rounds times), so the loops compare side by side.

    python benchmarks/longpoll.py [--waiters 10000] [--users 100] [--batch 500]
                                  [--data-dir DIR] [--keep] [--loops asyncio|asyncio,uvloop]
                                  [--rounds N] [--scenarios one,many]

Two scenarios, each on a fresh `selfdrive serve` (one process) on 127.0.0.1:

- one user: WAITERS long polls (GET /api/v1/changes/wait?timeout=120) by one user, as
  from that many devices; then one write (a mkdir) by that user wakes them all.
- many users: USERS users with WAITERS/USERS long polls each; one write by the first user
  must wake only its waiters while the others stay waiting; then one write per other user
  wakes the rest.

The waiters are raw asyncio streams (one connection each, HTTP/1.1 written by hand, kept
alive as a device that waits again keeps it), opened BATCH at a time; each batch is
complete when /healthz counts its waiters. Wake-up latency runs from the write (the
moment its request was sent, and the moment its answer returned) to the arrival of each
waiter's answer (time.monotonic() when its body is read). The server's VmRSS is read
idle (before any waiter), with all waiters held, and after they are answered. The client
shares the machine with the server, so its own work is in the latencies. Waiters that
fail or lose their connection are counted and reported. Prints a Markdown report; 1 MB =
10^6 bytes. Run it with the project's Python. """

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import operator
import os
import resource
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from _server import MB, BenchError, Server, cpu_seconds, machine, status_mb, work_dir

API = "/api/v1"
WAIT_S = 120  # the longest wait the server allows: nothing times out while measured
TARGET_WAKE_S = 2.0
PASSWORD = "bench-password-1"
USER_ADD_PARALLEL = max(1, len(os.sched_getaffinity(0)))
#: how long a batch may take to show up in /healthz, and all answers to arrive
SETTLE_S = 60.0
#: how long the other users' waiters are watched after a write that is not theirs
QUIET_S = 3.0


# -- HTTP over raw streams ---------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    def request(self, method: str, target: str, token: str | None = None,
                body: bytes = b"", content_type: str = "application/json",
                keep_alive: bool = False) -> bytes:
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        if not keep_alive:
            lines.append("Connection: close")
        if token is not None:
            lines.append(f"Authorization: Bearer {token}")
        if body or method in ("POST", "PUT"):
            lines += [f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """The status and body of one response (Content-Length, or up to the close)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise BenchError(f"not an HTTP status line: {status_line!r}")
    length: int | None = None
    for line in header_lines:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    body = await (reader.read() if length is None else reader.readexactly(length))
    return int(parts[1]), body


async def call(ep: Endpoint, method: str, target: str, token: str | None = None,
               payload: object = None, raw: bytes | None = None) -> object:
    """One request on its own connection; its JSON answer.  BenchError unless 2xx."""
    body = raw if raw is not None else b"" if payload is None else json.dumps(payload).encode()
    ctype = "application/octet-stream" if raw is not None else "application/json"
    reader, writer = await asyncio.open_connection(ep.host, ep.port)
    try:
        writer.write(ep.request(method, target, token, body, ctype))
        await writer.drain()
        status, answer = await read_response(reader)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    if not 200 <= status < 300:
        raise BenchError(f"{method} {target}: HTTP {status}: {answer[:2000]!r}")
    return json.loads(answer) if answer else None


async def held_waiters(ep: Endpoint) -> int:
    health = await call(ep, "GET", "/healthz")
    assert isinstance(health, dict)
    return int(health["long_poll_waiters"])


async def write_change(ep: Endpoint, token: str, path: str) -> tuple[float, float]:
    """A mkdir (a change for its user): when it was sent, and when its answer came back."""
    sent = time.monotonic()
    await call(ep, "POST", f"{API}/files/mkdir", token, {"path": path})
    return sent, time.monotonic()


# -- waiters -------------------------------------------------------------------------------------


@dataclass
class Waiter:
    user: int
    connected: asyncio.Future[None]
    task: asyncio.Task[None] | None = None
    answered_at: float | None = None
    status: int | None = None
    changes: bool | None = None
    error: str | None = None

    @property
    def done(self) -> bool:
        return self.task is not None and self.task.done()


async def hold(w: Waiter, ep: Endpoint, request: bytes) -> None:
    """Connect, ask, and wait for the answer; any failure is kept on *w*, never raised."""
    writer: asyncio.StreamWriter | None = None
    try:
        reader, writer = await asyncio.open_connection(ep.host, ep.port)
        writer.write(request)
        await writer.drain()
        w.connected.set_result(None)
        w.status, body = await read_response(reader)
        w.answered_at = time.monotonic()
        if w.status == 200:
            w.changes = bool(json.loads(body)["changes"])
        else:
            w.error = f"HTTP {w.status}: {body[:200]!r}"
    except (OSError, EOFError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
            BenchError, ValueError, KeyError) as exc:
        w.answered_at = w.answered_at or time.monotonic()
        w.error = type(exc).__name__ + (f": {exc}" if str(exc) else "")
    finally:
        if not w.connected.done():
            w.connected.set_result(None)
        if writer is not None:
            writer.close()


@dataclass
class Opened:
    seconds: float
    held: int
    waiters: list[Waiter] = field(default_factory=list)


async def open_waiters(ep: Endpoint, tokens: list[str], per_user: int, cursor: int,
                       batch: int) -> Opened:
    """per_user waiters for each token, users interleaved, *batch* connections at a time;
    each batch is waited for until /healthz counts it."""
    target = f"{API}/changes/wait?cursor={cursor}&timeout={WAIT_S}"
    # Waiters keep their connection alive, as a device that waits again does:
    # the server answers without closing it (the client closes afterwards).
    requests = [ep.request("GET", target, t, keep_alive=True) for t in tokens]
    order = [u for _ in range(per_user) for u in range(len(tokens))]
    loop = asyncio.get_running_loop()
    waiters: list[Waiter] = []
    t0 = time.monotonic()
    held = 0
    for start in range(0, len(order), batch):
        for user in order[start : start + batch]:
            w = Waiter(user, loop.create_future())
            w.task = asyncio.create_task(hold(w, ep, requests[user]))
            waiters.append(w)
        await asyncio.wait([w.connected for w in waiters[start:]], timeout=SETTLE_S)
        expected = sum(1 for w in waiters if not w.done)
        held = await wait_for_count(ep, partial(operator.le, expected), SETTLE_S)
        if held < expected:
            print(f"warning: /healthz counts {held} waiters, {expected} expected",
                  file=sys.stderr)
    return Opened(time.monotonic() - t0, held, waiters)


async def wait_for_count(ep: Endpoint, ok: Callable[[int], bool], timeout_s: float) -> int:
    """Poll /healthz until ok(long_poll_waiters) or the timeout; the last count."""
    deadline = time.monotonic() + timeout_s
    while True:
        n = await held_waiters(ep)
        if ok(n) or time.monotonic() > deadline:
            return n
        await asyncio.sleep(0.05)


async def answers(waiters: list[Waiter], timeout_s: float = SETTLE_S) -> None:
    tasks = [w.task for w in waiters if w.task is not None]
    if tasks:
        await asyncio.wait(tasks, timeout=timeout_s)


async def close_all(waiters: list[Waiter]) -> None:
    tasks = [w.task for w in waiters if w.task is not None and not w.task.done()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


# -- figures -------------------------------------------------------------------------------------


def percentile(sorted_xs: list[float], p: float) -> float:
    """Nearest rank."""
    rank = max(1, min(len(sorted_xs), round(p / 100 * len(sorted_xs) + 0.5)))
    return sorted_xs[rank - 1]


@dataclass
class Wake:
    label: str
    woken: int
    expected: int
    write_ms: float
    from_returned: tuple[float, float, float]  # p50, p99, max in ms
    from_sent: tuple[float, float, float]
    server_cpu_s: float
    client_cpu_s: float
    #: answered `changes: true` within TARGET_WAKE_S of the write being sent
    in_target: int

    @property
    def met(self) -> bool:
        return self.in_target == self.expected


def wake_figures(label: str, woken: list[Waiter], writes: dict[int, tuple[float, float]],
                 server_cpu_s: float, client_cpu_s: float) -> Wake:
    """Latencies of the waiters that answered `changes: true`, each from the write of its
    own user; *writes* maps a user to when its write was sent and when it returned."""
    answered = [w for w in woken if w.answered_at is not None and w.changes]

    def stats(which: int) -> tuple[float, float, float]:
        ms = sorted((w.answered_at - writes[w.user][which]) * 1000 for w in answered
                    if w.answered_at is not None)
        if not ms:
            return math.nan, math.nan, math.nan
        return percentile(ms, 50), percentile(ms, 99), ms[-1]

    write_ms = max((r - s) * 1000 for s, r in writes.values())
    in_target = sum(1 for w in answered if w.answered_at is not None
                    and w.answered_at - writes[w.user][0] <= TARGET_WAKE_S)
    return Wake(label, len(answered), len(woken), write_ms, stats(1), stats(0), server_cpu_s,
                client_cpu_s, in_target)


@dataclass
class Result:
    scenario: str
    target: int
    opened: Opened
    rss_idle: float
    rss_held: float
    rss_after: float
    wakes: list[Wake]
    errors: Counter[str]
    notes: list[str]

    @property
    def kb_per_waiter(self) -> float:
        return (self.rss_held - self.rss_idle) * MB / 1000 / max(1, self.opened.held)


# -- scenarios -----------------------------------------------------------------------------------


def add_users(data: Path, config: Path, names: list[str]) -> None:
    """`selfdrive user add` for each name, a few at a time (each hashes a password)."""
    cmd = [sys.executable, "-m", "selfdrive", "user", "add", "--password-stdin",
           "--config", str(config), "--data", str(data)]
    for start in range(0, len(names), USER_ADD_PARALLEL):
        procs = [subprocess.Popen([*cmd, name], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT)
                 for name in names[start : start + USER_ADD_PARALLEL]]
        for name, proc in zip(names[start : start + USER_ADD_PARALLEL], procs, strict=True):
            out, _ = proc.communicate(PASSWORD.encode() + b"\n")
            if proc.returncode != 0:
                raise BenchError(f"selfdrive user add {name}: {out.decode(errors='replace')}")


async def tokens_for(ep: Endpoint, names: list[str]) -> list[str]:
    async def one(name: str) -> str:
        made = await call(ep, "POST", f"{API}/auth/tokens", payload={
            "username": name, "password": PASSWORD, "device_name": "longpoll-bench"})
        assert isinstance(made, dict)
        return str(made["token"])

    return list(await asyncio.gather(*(one(n) for n in names)))


async def latest_cursor(ep: Endpoint, token: str) -> int:
    latest = await call(ep, "GET", f"{API}/changes/latest", token)
    assert isinstance(latest, dict)
    return int(latest["cursor"])


async def measured_write(ep: Endpoint, token: str, path: str, pid: int,
                         waiters: list[Waiter], label: str) -> Wake:
    """One write, then wait for *waiters* to answer."""
    cpu0, mine0 = cpu_seconds(pid), time.process_time()
    sent, returned = await write_change(ep, token, path)
    await answers(waiters)
    cpu1, mine1 = cpu_seconds(pid), time.process_time()
    return wake_figures(label, waiters, {0: (sent, returned)}, cpu1 - cpu0, mine1 - mine0)


async def scenario(server: Server, names: list[str], per_user: int, batch: int,
                   label: str) -> Result:
    ep = Endpoint(server.host, server.port)
    tokens = await tokens_for(ep, names)
    cursor = await latest_cursor(ep, tokens[0])
    await asyncio.sleep(1.0)  # let the token requests' memory settle
    rss_idle = status_mb(server.pid, "VmRSS")
    opened = await open_waiters(ep, tokens, per_user, cursor, batch)
    waiters, notes = opened.waiters, []
    try:
        await asyncio.sleep(1.0)
        rss_held = status_mb(server.pid, "VmRSS")
        first = [w for w in waiters if w.user == 0 and not w.done]
        others = [w for w in waiters if w.user != 0 and not w.done]
        wakes = [await measured_write(ep, tokens[0], "/wake-0", server.pid, first,
                                      "one write" if len(names) == 1 else "user 0 writes")]
        if others:
            await asyncio.sleep(QUIET_S)
            early = sum(1 for w in others if w.done)
            still = await held_waiters(ep)
            notes.append(f"{QUIET_S:.0f} s after user 0's write: {early} of the other"
                         f" {len(others)} waiters had answered; /healthz counted {still}")
            wakes.append(await wake_rest(ep, tokens, server.pid, others))
        left = await wait_for_count(ep, lambda n: n == 0, SETTLE_S)
        await asyncio.sleep(1.0)
        rss_after = status_mb(server.pid, "VmRSS")
        if left:
            notes.append(f"/healthz still counted {left} waiters after all answers")
    finally:
        await close_all(waiters)
    errors = Counter((w.error or "").split(":")[0] for w in waiters if w.error)
    unanswered = sum(1 for w in waiters if w.answered_at is None)
    false = sum(1 for w in waiters if w.changes is False)
    if unanswered:
        errors["no answer"] += unanswered
    if false:
        errors["changes: false"] += false
    return Result(label, len(names) * per_user, opened, rss_idle, rss_held, rss_after, wakes,
                  errors, notes)


async def wake_rest(ep: Endpoint, tokens: list[str], pid: int, others: list[Waiter]) -> Wake:
    """One write per other user, one after another; each waiter's latency runs from its
    own user's write."""
    cpu0, mine0 = cpu_seconds(pid), time.process_time()
    writes = {user: await write_change(ep, tokens[user], f"/wake-{user}")
              for user in range(1, len(tokens))}
    await answers(others)
    cpu1, mine1 = cpu_seconds(pid), time.process_time()
    return wake_figures(f"then 1 write per other user ({len(writes)}, in turn)", others,
                        writes, cpu1 - cpu0, mine1 - mine0)


def run_scenario(work: Path, label: str, users: int, per_user: int, batch: int,
                 config: Path) -> Result:
    data = work / label.replace(" ", "-").replace(",", "")
    names = [f"u{i:03d}" for i in range(users)]
    data.mkdir()
    t0 = time.monotonic()
    add_users(data, config, names)
    print(f"{label}: {users} users added in {time.monotonic() - t0:.1f} s", file=sys.stderr)
    server = Server(data, config, work / f"{data.name}.log")
    try:
        server.wait_ready()
        result = asyncio.run(scenario(server, names, per_user, batch, label))
        if server.proc.poll() is not None:
            raise BenchError(f"the server died ({server.proc.returncode}):\n{server.log_tail()}")
        return result
    except OSError as exc:
        raise BenchError(f"{exc!r}; the server's log ends with:\n{server.log_tail()}") from exc
    finally:
        code = server.stop()
        print(f"{label}: server exit code {code}", file=sys.stderr)


# -- report --------------------------------------------------------------------------------------


def report(results: list[Result]) -> str:
    def ms(x: float) -> str:
        return f"{x:.0f}"

    out = ["| scenario | waiters | held (/healthz) | opened in s | errors | RSS idle MB"
           " | RSS held MB | RSS after MB | KB per waiter |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        out.append(f"| {r.scenario} | {r.target} | {r.opened.held} | {r.opened.seconds:.1f}"
                   f" | {sum(r.errors.values())} | {r.rss_idle:.0f} | {r.rss_held:.0f}"
                   f" | {r.rss_after:.0f} | {r.kb_per_waiter:.1f} |")
    out += ["", "| scenario | wake | woken | write ms (max) | p50 ms | p99 ms | max ms"
            " | from sent: p50 / p99 / max ms | server CPU s | client CPU s"
            f" | woken within {TARGET_WAKE_S:.0f} s of sent |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        for w in r.wakes:
            p50, p99, top = w.from_returned
            out.append(f"| {r.scenario} | {w.label} | {w.woken} / {w.expected}"
                       f" | {w.write_ms:.0f} | {ms(p50)} | {ms(p99)} | {ms(top)}"
                       f" | {' / '.join(map(ms, w.from_sent))} | {w.server_cpu_s:.2f}"
                       f" | {w.client_cpu_s:.2f} | {w.in_target}"
                       f" ({'all' if w.met else '**not all**'}) |")
    out.append("")
    for r in results:
        for note in r.notes:
            out.append(f"- {r.scenario}: {note}")
        if r.errors:
            kinds = ", ".join(f"{k} x{n}" for k, n in r.errors.most_common())
            out.append(f"- {r.scenario}: waiters that failed: {kinds}")
    out.append("- p50/p99/max: from the moment the answer to the write (of the waiter's user)"
               " returned to the client (negative: the waiter was answered first); 'from"
               " sent': from the moment that write was sent; server and client CPU: from the"
               " (first) write to the last answer")
    return "\n".join(out)


def raise_nofile(need: int) -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit (the server inherits it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if soft != resource.RLIM_INFINITY and soft < need:
        raise BenchError(f"RLIMIT_NOFILE is {soft} (hard {hard}); {need} sockets are needed")
    return int(soft)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--waiters", type=int, default=10_000, help="waiters (default 10000)")
    ap.add_argument("--users", type=int, default=100,
                    help="users of the second scenario (default 100)")
    ap.add_argument("--batch", type=int, default=500,
                    help="connections opened at a time (default 500)")
    ap.add_argument("--data-dir", type=Path, default=None,
                    help="parent of the work dir (default the system temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the work dir (data, logs)")
    ap.add_argument("--loops", default="asyncio",
                    help="[server] event_loop values to run, side by side, comma-separated"
                         " (default asyncio; e.g. asyncio,uvloop)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="run every scenario on every loop this many times, in turn (default 1)")
    ap.add_argument("--scenarios", default="one,many",
                    help="one (one user), many (--users users) or both (default one,many)")
    args = ap.parse_args()
    loops = args.loops.split(",")
    scenarios = args.scenarios.split(",")
    if not set(scenarios) <= {"one", "many"} or not scenarios:
        ap.error("--scenarios: one, many or one,many")
    if args.waiters < args.users or args.waiters % args.users:
        ap.error("--waiters must be a multiple of --users")
    try:
        with work_dir("selfdrive-longpoll-", args.data_dir, args.keep) as work:
            nofile = raise_nofile(args.waiters + 100)
            results = []
            for loop in loops:
                (work / f"{loop}.toml").write_text(
                    f"[server]\nevent_loop = \"{loop}\"\n\n"
                    f"[limits]\nmax_waiters = {max(20_000, 2 * args.waiters)}\n")
            for round_ in range(1, args.rounds + 1):
                for loop in loops:
                    tag = "" if loops == ["asyncio"] else f", {loop}"
                    tag += f", round {round_}" if args.rounds > 1 else ""
                    config = work / f"{loop}.toml"
                    if "one" in scenarios:
                        results.append(run_scenario(work, f"one user{tag}", 1, args.waiters,
                                                    args.batch, config))
                    if "many" in scenarios:
                        results.append(run_scenario(work, f"{args.users} users{tag}",
                                                    args.users, args.waiters // args.users,
                                                    args.batch, config))
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"## selfdrive long poll, {args.waiters} waiters on one server\n\n{machine()}\n"
          f"- RLIMIT_NOFILE {nofile} (client and server)\n")
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
