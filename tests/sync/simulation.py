"""A seeded simulation of whole sync clients against the server, in one process.

The server is the real application (selfdrive.http.app) over a real Runtime
(SQLite file, in-memory block store, fake clock), reached through httpx's
ASGI transport.  Each device is a real `Engine` over a `MemoryFS` that may
fold case and keep 2 s mtimes, with its state database in a temp dir.  A
seed decides everything: what the users do to their disks, which device
syncs when, and the faults: errors (503), answers lost after the server
acted, answers held back while another device syncs (so they arrive after
later changes: reordered, and stale by then), clients killed in the middle
of a request, a local database lost.  With one block in flight per file the
requests are sequential, so a seed replays the same story
(`python -m tests.sync.simulation SEED` prints it).

Each seed syncs its own server folder (/sim-SEED), so one server and one
set of device tokens serve every seed of a run.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import sqlite3
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from selfdrive.config import load
from selfdrive.core.blockhash import block_id, content_hash
from selfdrive.core.chunking import chunk_bytes
from selfdrive.core.clock import FakeClock
from selfdrive.http.app import create_app
from selfdrive.services.runtime import Runtime, open_runtime
from selfdrive.store.memory import MemoryBlockStore
from selfdrive.sync.api import Api
from selfdrive.sync.engine import Engine, Settings
from selfdrive.sync.errors import ClientError
from selfdrive.sync.fs import MemoryFS
from selfdrive.sync.ignore import STATE_DIR
from selfdrive.sync.names import nfc

USER, PASSWORD = "sim", "sim-password-1"
DEVICES = ("alpha", "bravo", "charlie")
NAMES = ("a", "b", "c", "Doc.txt", "doc.txt", "Café", "x y")


class Killed(BaseException):
    """The client process died here (not an Exception: nothing catches it)."""


class FaultyTransport(httpx.AsyncBaseTransport):
    """The ASGI app, with seeded faults on the way."""

    def __init__(self, inner: httpx.AsyncBaseTransport, rng: random.Random) -> None:
        self.inner, self.rng = inner, rng
        self.error_p = self.lost_p = self.kill_p = self.held_p = 0.0
        #: what happens while an answer is held back (another device syncs)
        self.meanwhile: Callable[[str], Awaitable[None]] | None = None
        self.log: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        roll = self.rng.random()
        what = f"{request.method} {request.url.path.removeprefix('/api/v1')}"
        if roll < self.error_p:
            self.log.append(f"{what}: 503")
            return httpx.Response(503, json={"error": {"code": "internal_error",
                                                       "message": "injected"}})
        answer = await self.inner.handle_async_request(request)
        raw = b"".join([piece async for piece in answer.aiter_raw()])  # as sent, still encoded
        response = httpx.Response(answer.status_code, headers=answer.headers,
                                  stream=httpx.ByteStream(raw))
        if roll < self.error_p + self.lost_p:
            self.log.append(f"{what}: answer lost")
            raise httpx.ReadError("injected: the answer was lost")
        if roll < self.error_p + self.lost_p + self.kill_p:
            self.log.append(f"{what}: client killed")
            raise Killed
        if roll < self.error_p + self.lost_p + self.kill_p + self.held_p and self.meanwhile:
            self.log.append(f"{what}: answer held back")
            await self.meanwhile(what)
        return response


@dataclass
class Device:
    name: str
    token: str
    fs: MemoryFS
    state_dir: Path
    #: every content a sync run took off this device's disk (replaced, moved to
    #: the trash...): each must still exist somewhere at the end
    removed: set[bytes] = field(default_factory=set)


@dataclass
class World:
    runtime: Runtime
    app: object
    clock: FakeClock
    tokens: dict[str, str]
    tmp: Path


@asynccontextmanager
async def world(tmp: Path) -> AsyncIterator[World]:
    config, secrets = load(None, data_dir=tmp / "server", env={"HOME": str(tmp)})
    clock = FakeClock()
    runtime = await open_runtime(config, secrets, clock=clock, blockstore=MemoryBlockStore())
    try:
        await runtime.auth.create_user(USER, PASSWORD, quota_bytes=10**12)
        tokens = {d: (await runtime.auth.create_token(USER, PASSWORD, d))[0] for d in DEVICES}
        yield World(runtime, create_app(runtime), clock, tokens, tmp)
    finally:
        await runtime.close()


def _hash(data: bytes) -> str:
    return content_hash(block_id(c) for c in chunk_bytes(data)).hex()


class Story:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.lines: list[str] = []

    def say(self, line: str) -> None:
        self.lines.append(line)

    def text(self) -> str:
        return (f"seed {self.seed}; replay: python -m tests.sync.simulation {self.seed}\n"
                + "\n".join(self.lines[-80:]))


async def run_seed(w: World, seed: int, steps: int = 24) -> Story:
    rng = random.Random(seed)
    story = Story(seed)
    remote = f"/sim-{seed}"
    now_ns = lambda: w.clock.now_ms() * 1_000_000  # noqa: E731 - one shared clock
    devices = []
    for name in DEVICES[:rng.choice((2, 3))]:
        fs = MemoryFS(now_ns, case_insensitive=rng.random() < 0.3,
                      granularity_ns=rng.choice((1, 2_000_000_000)))
        devices.append(Device(name, w.tokens[name], fs, w.tmp / f"s{seed}-{name}"))
        story.say(f"{name}: case_insensitive={fs.case_insensitive} "
                  f"granularity={fs.granularity_ns}ns")
    written: list[bytes] = []
    app = httpx.ASGITransport(app=w.app)  # type: ignore[arg-type]
    transport = FaultyTransport(app, rng)
    #: a held-back answer waits for another device's whole sync, without faults
    calm = FaultyTransport(app, rng)

    async def sync(d: Device, *, faults: bool, via: FaultyTransport = transport) -> bool:
        via.error_p, via.lost_p, via.kill_p, via.held_p = (
            (0.03, 0.03, 0.01, 0.03) if faults else (0.0, 0.0, 0.0, 0.0))

        async def meanwhile(what: str) -> None:
            other = rng.choice([o for o in devices if o is not d])
            if rng.random() < 0.5:
                _user_op(rng, other, story, written, seed)
            story.say(f"{d.name}: the answer to {what} is held back while {other.name} syncs")
            await sync(other, faults=False, via=calm)

        via.meanwhile = meanwhile if via is transport else None
        before = _contents(d)
        api = Api("http://sim", d.token, transport=via, max_tries=3, sleep=_no_sleep)
        engine = Engine(Settings(root=d.state_dir, remote_root=remote, device=d.name, fs=d.fs,
                                 state_dir=d.state_dir, in_flight=1), api)
        try:
            await engine.run_once()
            done = engine.in_sync()
        except Killed:
            story.say(f"{d.name}: killed mid-sync ({via.log[-1]})")
            return False
        except ClientError as exc:
            story.say(f"{d.name}: sync stopped: {exc}")
            return False
        finally:
            engine.close()
            await api.aclose()
            d.removed |= before - _contents(d)
        s = engine.stats
        story.say(f"{d.name}: synced (in sync: {done}; up {s.uploaded}, down {s.downloaded}, "
                  f"moved {s.moved}, deleted {s.deleted}, conflicts {s.conflicts})")
        return done

    for _ in range(steps):
        w.clock.advance(rng.choice((0.001, 0.5, 1.5, 3)))
        d = rng.choice(devices)
        roll = rng.random()
        if roll < 0.55:
            _user_op(rng, d, story, written, seed)
        elif roll < 0.95:
            await sync(d, faults=True)
        else:
            for f in d.state_dir.glob("state.db*"):
                f.unlink()
            story.say(f"{d.name}: the local database is lost")
    # the end: no more faults, everyone syncs until all agree
    for _ in range(4):
        results = [await sync(d, faults=False) for d in devices]
        w.clock.advance(3)
        if all(results) and _same_trees(devices):
            break
    check(w, seed, devices, written, story, remote)
    return story


async def _no_sleep(_s: float) -> None:
    await asyncio.sleep(0)


def _user_op(rng: random.Random, d: Device, story: Story, written: list[bytes],
             seed: int) -> None:
    files = {k: v for k, v in d.fs.files().items() if not k.startswith(STATE_DIR)}
    paths = [k for k, v in files.items() if v is not None]
    folders = [k for k, v in files.items() if v is None]

    def new_path() -> str:
        folder = rng.choice(["", *folders])
        name = rng.choice(NAMES) + rng.choice(("", "", ".md", "2"))
        return f"{folder}/{name}" if folder else name

    def content() -> bytes:
        data = f"seed {seed} #{len(written)} ".encode() + rng.randbytes(rng.choice((0, 40, 900)))
        written.append(data)
        return data

    op = rng.choice(("create", "create", "edit", "edit", "delete", "rename", "mkdir",
                     "rmtree", "chmod", "move_folder"))
    try:
        if op == "create" or (op in ("edit", "delete", "rename", "chmod") and not paths):
            path = new_path()
            d.fs.write_file(path, content())
        elif op == "edit":
            path = rng.choice(paths)
            d.fs.write_file(path, content())
        elif op == "chmod":
            path = rng.choice(paths)
            st = d.fs.stat(path)
            d.fs.set_meta(path, mtime_ns=None, executable=not (st and st.executable))
        elif op == "delete":
            path = rng.choice(paths)
            d.fs.unlink(path)
        elif op == "rename":
            path = rng.choice(paths)
            target = new_path()
            if d.fs.stat(target) is not None:
                return
            d.fs.rename(path, target)
            path = f"{path} -> {target}"
        elif op == "mkdir":
            path = new_path()
            d.fs.mkdirs(path)
        elif op in ("rmtree", "move_folder") and folders:
            path = rng.choice(folders)
            if op == "rmtree":
                for k in sorted((k for k in files if k == path or k.startswith(path + "/")),
                                reverse=True):
                    if files[k] is None:
                        d.fs.rmdir(k)
                    else:
                        d.fs.unlink(k)
            else:
                target = rng.choice(NAMES) + "-moved"
                if d.fs.stat(target) is not None:
                    return
                d.fs.rename(path, target)
                path = f"{path} -> {target}"
        else:
            return
    except OSError as exc:
        story.say(f"{d.name}: {op} failed on disk ({exc}); nothing done")
        return
    story.say(f"{d.name}: {op} {path}")


def _contents(d: Device) -> set[bytes]:
    return {v for k, v in d.fs.files().items() if v is not None and not k.startswith(STATE_DIR)}


def _tree(d: Device) -> dict[str, tuple[str, bool] | None]:
    out: dict[str, tuple[str, bool] | None] = {}
    for k, v in d.fs.files().items():
        if k == STATE_DIR or k.startswith(STATE_DIR + "/"):
            continue
        st = d.fs.stat(k)
        out[nfc(k)] = None if v is None else (hashlib.sha256(v).hexdigest(),
                                              bool(st and st.executable))
    return out


def _same_trees(devices: list[Device]) -> bool:
    first = _tree(devices[0])
    return all(_tree(d) == first for d in devices[1:])


def check(w: World, seed: int, devices: list[Device], written: list[bytes], story: Story,
          remote: str) -> None:
    trees = {d.name: _tree(d) for d in devices}
    first = trees[devices[0].name]
    for name, tree in trees.items():
        if tree != first:
            only = set(tree.items()) ^ set(first.items())
            raise AssertionError(f"{name} differs from {devices[0].name}: "
                                 f"{sorted(only, key=str)[:8]}\n{story.text()}")
    db = sqlite3.connect(f"file:{w.runtime.config.data_path / 'meta.db'}?mode=ro", uri=True)
    try:
        on_server = {bytes(r[0]).hex() for r in db.execute("SELECT content_hash FROM revisions")}
    finally:
        db.close()
    kept: set[str] = set(on_server)
    for d in devices:
        for data in d.fs.files().values():
            if data is not None:
                kept.add(_hash(data))
    for d in devices:
        for data in d.removed:
            if _hash(data) not in kept:
                raise AssertionError(f"lost: {data[:40]!r}, which a sync took off {d.name}'s "
                                     f"disk\n{story.text()}")
    del written


def main(seed: int) -> None:
    import tempfile

    async def go() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            async with world(Path(tmp)) as w:
                story = await run_seed(w, seed)
                print(story.text())

    asyncio.run(go())


if __name__ == "__main__":
    main(int(sys.argv[1]))
