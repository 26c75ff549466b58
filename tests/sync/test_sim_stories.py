"""Stories the seeded simulation (tests/sync/simulation.py) found, told step
by step: real engines on in-memory disks against the real server application,
another device's sync run while one request of ours is on its way.  Every
device must end with the server's tree.

Most are one device's operation racing another's, told afterwards by the
change feed.  A client records what its own operations did at once, ahead of
its feed cursor; when one of them raced another device's (a folder moved or
deleted just after the other device put something in it, an item deleted
just after the other device moved it), the rows that follow speak of items it
no longer holds where they say.  The last is a move that a disk folding case
cannot make in one step.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from selfdrive.sync.api import Api
from selfdrive.sync.engine import Engine, Settings
from selfdrive.sync.fs import MemoryFS
from selfdrive.sync.ignore import STATE_DIR
from tests.sync.simulation import World, world


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Race(httpx.AsyncBaseTransport):
    """The server application, where the first request matching *method* and
    *path* meets *meanwhile*: run before the request reaches the server
    (*before*), or after the server answered and before the client reads the
    answer (an answer held back, so it is stale when it arrives)."""

    def __init__(self, app: object, method: str, path: str,
                 meanwhile: Callable[[], Awaitable[None]], *, before: bool) -> None:
        self.inner = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        self.method, self.path, self.meanwhile, self.before = method, path, meanwhile, before
        self.done = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        hit = not self.done and request.method == self.method and (
            request.url.path == "/api/v1" + self.path)
        if hit:
            self.done = True
        if hit and self.before:
            await self.meanwhile()
        response = await self.inner.handle_async_request(request)
        if hit and not self.before:
            await response.aread()
            await self.meanwhile()
        return response


@dataclass
class Device:
    w: World
    name: str
    remote: str
    fs: MemoryFS
    state_dir: Path

    async def sync(self, race: Race | None = None) -> bool:
        transport = race or httpx.ASGITransport(app=self.w.app)  # type: ignore[arg-type]
        api = Api("http://test", self.w.tokens[self.name], transport=transport, max_tries=1,
                  sleep=_no_sleep)
        engine = Engine(Settings(root=self.state_dir, remote_root=self.remote, device=self.name,
                                 fs=self.fs, state_dir=self.state_dir, in_flight=1), api)
        try:
            await engine.run_once()
            return engine.in_sync()
        finally:
            engine.close()
            await api.aclose()
            self.w.clock.advance(1)

    def race(self, method: str, path: str, other: Device, *, before: bool) -> Race:
        async def meanwhile() -> None:
            assert await other.sync()
        return Race(self.w.app, method, path, meanwhile, before=before)

    def tree(self) -> dict[str, str | None]:
        return {k: None if v is None else hashlib.sha256(v).hexdigest()
                for k, v in self.fs.files().items()
                if k != STATE_DIR and not k.startswith(STATE_DIR + "/")}


async def _no_sleep(_s: float) -> None:
    await asyncio.sleep(0)


@asynccontextmanager
async def devices(tmp_path: Path, *names: str,
                  folds_case: tuple[str, ...] = ()) -> AsyncIterator[list[Device]]:
    async with world(tmp_path) as w:
        now_ns = lambda: w.clock.now_ms() * 1_000_000  # noqa: E731 - one shared clock
        yield [Device(w, n, "/race", MemoryFS(now_ns, case_insensitive=n in folds_case),
                      tmp_path / n) for n in names]


async def settle(*devs: Device) -> None:
    """Sync every device in turn until all say they are in sync and agree."""
    for _ in range(3):
        results = [await d.sync() for d in devs]
        if all(results) and all(d.tree() == devs[0].tree() for d in devs):
            return
    trees = "\n".join(f"{d.name}: {sorted(d.tree())}" for d in devs)
    raise AssertionError(f"the devices do not agree:\n{trees}")


@pytest.mark.anyio
async def test_a_folder_deleted_after_a_file_moved_into_it(tmp_path: Path) -> None:
    """Alpha removes an empty folder; bravo moves a file into it just before
    alpha's delete reaches the server.  The delete carried alpha's cursor,
    and the server refuses it (409 changed_since_cursor): alpha catches up
    with the feed, and a folder deleted on one side keeps a file changed on
    the other, so the file stays, and the folder comes back with it, on
    every device.  Without the cursor the server took the file along to its
    trash, and it vanished from every device: alpha once even kept a ghost
    of it while bravo lost it."""
    async with devices(tmp_path, "alpha", "bravo") as (alpha, bravo):
        alpha.fs.mkdirs("F")
        alpha.fs.write_file("x", b"moved into a folder being deleted")
        assert await alpha.sync()
        assert await bravo.sync()
        alpha.fs.rmdir("F")
        bravo.fs.rename("x", "F/x")
        await alpha.sync(alpha.race("POST", "/files/delete", bravo, before=True))
        await settle(alpha, bravo)
        kept = hashlib.sha256(b"moved into a folder being deleted").hexdigest()
        for device in (alpha, bravo):
            assert device.tree() == {"F": None, "F/x": kept}, device.name


@pytest.mark.anyio
@pytest.mark.parametrize("change", ["edited", "added deep"])
async def test_a_folder_deleted_after_a_file_in_it_changed(tmp_path: Path, change: str) -> None:
    """The same race with an edit of a file inside the folder, or a file
    added a few folders down: alpha's delete is refused, and bravo's file
    survives on both devices, in the folders above it."""
    async with devices(tmp_path, "alpha", "bravo") as (alpha, bravo):
        alpha.fs.mkdirs("F/a/b")
        alpha.fs.write_file("F/x", b"as alpha saw it")
        assert await alpha.sync()
        assert await bravo.sync()
        alpha.fs.unlink("F/x")
        for folder in ("F/a/b", "F/a", "F"):
            alpha.fs.rmdir(folder)
        saved = b"saved by bravo a moment before alpha's delete"
        bravo.fs.write_file("F/x" if change == "edited" else "F/a/b/new.txt", saved)
        await alpha.sync(alpha.race("POST", "/files/delete", bravo, before=True))
        await settle(alpha, bravo)
        kept = hashlib.sha256(saved).hexdigest()
        want = {"F": None, "F/x": kept} if change == "edited" else {
            "F": None, "F/a": None, "F/a/b": None, "F/a/b/new.txt": kept}
        for device in (alpha, bravo):
            assert device.tree() == want, device.name


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["file", "folder"])
async def test_an_item_deleted_after_another_device_moved_it(tmp_path: Path, kind: str) -> None:
    """Bravo deletes an item that alpha has just moved: bravo's delete finds
    nothing (404) and bravo forgets the item; the feed then tells of a move of
    an item bravo no longer knows.  The move wins (as an edit beats a delete):
    every device ends with the item at its new place.  Bravo used to list a
    moved file as a folder (409: its sync stopped for good) or to list only
    what a moved folder holds, never the folder itself."""
    async with devices(tmp_path, "alpha", "bravo") as (alpha, bravo):
        alpha.fs.mkdirs("F")
        if kind == "file":
            alpha.fs.write_file("c", b"deleted on one side, moved on the other")
        else:
            alpha.fs.mkdirs("c")
        assert await alpha.sync()
        assert await bravo.sync()
        (bravo.fs.unlink if kind == "file" else bravo.fs.rmdir)("c")
        alpha.fs.rename("c", "F/c2")
        await bravo.sync(bravo.race("POST", "/files/delete", alpha, before=True))
        await settle(alpha, bravo)
        assert "F/c2" in bravo.tree()


@pytest.mark.anyio
async def test_a_folder_moved_after_a_file_was_added_to_it(tmp_path: Path) -> None:
    """Charlie moves a folder on a stale view of the server: bravo has just
    added a file to it, and charlie's move carries that file along.  The feed
    then tells charlie of the file at its old place, in a folder charlie has
    already moved: charlie kept it there, a ghost downloaded (404) forever,
    and never got it at its new place."""
    async with devices(tmp_path, "bravo", "charlie") as (bravo, charlie):
        bravo.fs.mkdirs("A")
        assert await bravo.sync()
        assert await charlie.sync()
        charlie.fs.rename("A", "B")
        bravo.fs.write_file("A/y", b"added while the folder moved")
        await charlie.sync(charlie.race("GET", "/changes", bravo, before=False))
        await settle(bravo, charlie)
        assert "B/y" in charlie.tree()
        assert "A/y" not in charlie.tree()


@pytest.mark.anyio
async def test_a_file_moved_into_a_folder_named_like_itself_on_a_disk_that_folds_case(
    tmp_path: Path,
) -> None:
    """Charlie's disk tells case apart: it makes a folder doc.txt beside the
    file Doc.txt and moves the file into it.  On bravo's disk, which folds
    case, the folder cannot be made while the file is there, and the file
    cannot go into the folder before it is made: bravo tried both every round
    and never got in sync.  The file steps aside first."""
    async with devices(tmp_path, "bravo", "charlie", folds_case=("bravo",)) as (bravo, charlie):
        charlie.fs.write_file("Doc.txt", b"moved into a folder named like itself")
        assert await charlie.sync()
        assert await bravo.sync()
        charlie.fs.mkdirs("doc.txt")
        charlie.fs.rename("Doc.txt", "doc.txt/c.md")
        assert await charlie.sync()
        await settle(bravo, charlie)
        assert set(bravo.tree()) == {"doc.txt", "doc.txt/c.md"}
