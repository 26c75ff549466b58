"""The sync client under failures: lost answers, a server that is down or was
restored from an old backup, clients killed mid-upload, files written during
a sync, quota.  The lessons of other clients' data-loss bugs, one test each."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from selfdrive.core.conflicts import is_conflict_copy
from selfdrive.sync.api import Api
from selfdrive.sync.engine import Engine, Settings
from selfdrive.sync.scan import Scan
from tests.conftest import Server
from tests.sync.conftest import PASSWORD, Device, wait_for

MakeDevice = Callable[..., Device]


class LoseAnswers(httpx.AsyncBaseTransport):
    """Forwards to the real server, but for the first *times* requests whose
    path ends with *suffix*, drops the answer after the server acted on it."""

    def __init__(self, suffix: str, times: int = 1, status: int | None = None) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.suffix, self.times, self.status = suffix, times, status
        self.lost = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(self.suffix) and self.lost < self.times:
            self.lost += 1
            if self.status is not None:  # a proxy in front says the server is away
                return httpx.Response(self.status, text="Bad Gateway")
            response = await self.inner.handle_async_request(request)
            await response.aread()
            await response.aclose()
            raise httpx.ReadError("connection reset after the server acted")
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _engine_once(server: Server, d: Device, transport: httpx.AsyncBaseTransport) -> Engine:
    api = Api(server.base_url, server.token(d.username, PASSWORD, device=d.name),
              transport=transport, max_tries=4, sleep=_no_sleep)
    engine = Engine(Settings(root=d.folder, device=d.name), api)
    try:
        await engine.run_once()
    finally:
        engine.close()
        await api.aclose()
    return engine


async def _no_sleep(_s: float) -> None:
    return None


@pytest.mark.anyio
async def test_a_lost_commit_answer_is_no_conflict(make_device: MakeDevice, server: Server) -> None:
    a = make_device()
    a.write("report.txt", "final numbers")
    transport = LoseAnswers("/files/commit")
    engine = await _engine_once(server, a, transport)
    assert transport.lost == 1
    assert engine.stats.conflicts == 0
    assert [n for n in a.tree() if is_conflict_copy(n)] == []
    with server.client(server.token(a.username, PASSWORD)) as api:
        revs = api.get("/files/list_revisions", params={"path": "/report.txt"}).json()
    assert len(revs["revisions"]) == 1


@pytest.mark.anyio
async def test_errors_are_never_read_as_deletions(make_device: MakeDevice, server: Server) -> None:
    a = make_device()
    a.write("one.txt", "1")
    a.write("two.txt", "2")
    a.sync()
    for suffix, status in (("/changes", 502), ("/changes", 404), ("/changes/latest", 503)):
        transport = LoseAnswers(suffix, times=100, status=status)
        with pytest.raises(Exception):  # noqa: B017 - any failure, as long as nothing is deleted
            await _engine_once(server, a, transport)
        assert sorted(a.tree()) == ["one.txt", "two.txt"]
    r = a.run("--once")  # and the real client, with the server stopped
    assert r.returncode == 0
    server.stop()
    try:
        r = a.run("--once", timeout=120)
        assert r.returncode == 4, r.stderr
        assert "cannot be reached" in r.stderr
        assert sorted(a.tree()) == ["one.txt", "two.txt"]
    finally:
        server.start()


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[Server]:
    (tmp_path / "own-server").mkdir()
    srv = Server(data_dir=tmp_path / "own-server" / "data")
    srv.start()
    yield srv
    srv.stop()


def test_a_server_restored_from_an_old_backup_deletes_nothing(
    own_server: Server, tmp_path: Path
) -> None:
    srv = own_server
    name, _ = srv.add_user(password=PASSWORD)
    home = tmp_path / "dev"
    (home / "Sync").mkdir(parents=True)
    d = Device(srv, name, "laptop", home, home / "Sync")
    d.login()
    d.write("kept.txt", "v1")
    d.sync()
    srv.stop()
    backup = tmp_path / "backup"
    shutil.copytree(srv.data_dir, backup)
    srv.start()
    d.write("kept.txt", "v2, newer than the backup")
    d.write("new.txt", "made after the backup")
    d.sync()
    srv.stop()
    shutil.rmtree(srv.data_dir)
    shutil.copytree(backup, srv.data_dir)
    srv.start()
    d.sync()
    tree = d.tree()
    assert d.read("new.txt") == b"made after the backup", "not deleted"
    versions = {(d.folder / p).read_bytes() for p in tree if p.startswith("kept")}
    assert versions == {b"v1", b"v2, newer than the backup"}, tree


def test_a_client_killed_mid_upload_resumes_without_sending_again(
    make_device: MakeDevice, server: Server
) -> None:
    a = make_device()
    a.write("big.bin", os.urandom(48 * 1024 * 1024))
    proc = subprocess.Popen(
        [sys.executable, "-m", "selfdrive", "sync", str(a.folder), "--once"],
        env=a.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    blocks = server.data_dir / "blocks"
    before = _count_files(blocks)
    wait_for(lambda: _count_files(blocks) >= before + 8, 60, "some blocks on the server")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    r = a.sync()
    sent = r.stdout.split("(")[1]
    sent_mb = float(sent.split()[0]) * (1 if "MB" in sent.split()[1] else 1 / 1024)
    assert sent_mb < 44, f"finished blocks are not sent again: {r.stdout}"
    with server.client(server.token(a.username, PASSWORD)) as api:
        meta = api.get("/files/metadata", params={"path": "/big.bin"}).json()
    assert meta["size"] == 48 * 1024 * 1024 and meta["rev"] == 1


def _count_files(folder: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(folder))


def test_a_file_written_during_a_sync_is_never_committed_torn(
    make_device: MakeDevice, server: Server
) -> None:
    a = make_device()
    size = 6 * 1024 * 1024
    path = a.write("growing.bin", bytes([0]) * size)
    writer = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\n"
        f"for k in range(1, 40):\n"
        f"    with open({str(path)!r}, 'r+b') as f:\n"
        f"        for i in range(0, {size}, 65536):\n"
        f"            f.write(bytes([k]) * 65536)\n"
        f"            time.sleep(0.0005)\n"
    )])
    try:
        while writer.poll() is None:
            a.run("--once", timeout=120)
    finally:
        writer.wait()
    a.sync()
    with server.client(server.token(a.username, PASSWORD)) as api:
        revs = api.get("/files/list_revisions", params={"path": "/growing.bin",
                                                         "limit": 100}).json()["revisions"]
        for rev in revs:
            data = api.get("/files/content", params={"path": "/growing.bin",
                                                     "rev": rev["rev"]}).content
            assert len(set(data)) == 1, f"revision {rev['rev']} mixes two versions"
    assert a.read("growing.bin") == bytes([39]) * size


def test_a_file_over_quota_is_reported_and_the_rest_syncs(
    make_device: MakeDevice, server: Server
) -> None:
    name, _ = server.add_user(quota="1MiB", password=PASSWORD)
    a = make_device(name)
    a.write("small.txt", "fits")
    a.write("huge.bin", os.urandom(3 * 1024 * 1024))
    r = a.run("--once")
    assert r.returncode == 1
    assert "huge.bin" in r.stderr and "quota" in r.stderr, r.stderr
    assert (a.folder / "huge.bin").exists(), "left alone locally"
    status = a.run("--status")
    assert "huge.bin" in status.stdout and "quota" in status.stdout
    with server.client(server.token(name, PASSWORD)) as api:
        assert api.get("/files/metadata", params={"path": "/small.txt"}).status_code == 200


def test_a_case_only_rename_travels_as_a_rename(make_device: MakeDevice) -> None:
    a = make_device(name="laptop")
    b = make_device(a.username, name="desktop")
    a.write("readme.txt", "r")
    a.sync()
    b.sync()
    (a.folder / "readme.txt").rename(a.folder / "README.txt")
    r = a.sync()
    assert "1 moved" in r.stdout
    b.sync()
    assert sorted(b.tree()) == ["README.txt"]


def test_live_sync_carries_a_save_across_and_stops_cleanly(make_device: MakeDevice) -> None:
    a = make_device(name="laptop")
    b = make_device(a.username, name="desktop")
    a.write("start.txt", "s")
    a.sync()
    b.sync()
    a.start()
    b.start()
    try:
        a.wait_live()  # both are watching and waiting on the doorbell
        b.wait_live()
        a.write("fresh.txt", "saved on the laptop")
        wait_for(lambda: (b.folder / "fresh.txt").read_bytes() == b"saved on the laptop",
                 20, "fresh.txt on the desktop")
        (b.folder / "start.txt").unlink()
        wait_for(lambda: not (a.folder / "start.txt").exists(), 20, "the delete on the laptop")
        (a.folder / "Folder").mkdir()
        (a.folder / "fresh.txt").rename(a.folder / "Folder" / "moved.txt")
        wait_for(lambda: (b.folder / "Folder" / "moved.txt").exists()
                 and not (b.folder / "fresh.txt").exists(), 20, "the move on the desktop")
    finally:
        codes = (a.stop(), b.stop())
    assert codes == (0, 0), f"exit codes {codes}\n{a.log_text()[-3000:]}\n{b.log_text()[-3000:]}"
    assert not list(a.folder.rglob(".selfdrive-tmp-*")), "nothing half-written"
    assert a.tree() == b.tree()


class NewsDuringARound(Engine):
    """A live engine whose first round learns of news only after it looked:
    *news* runs once the round has read the feed and scanned, and the round
    goes on once the news has woken the engine (the doorbell or a file-system
    event arriving mid-round, as on a busy machine)."""

    def __init__(self, settings: Settings, api: Api, news: Callable[[], object]) -> None:
        super().__init__(settings, api)
        self.news: Callable[[], object] | None = news

    async def scan(self) -> Scan:
        found = await super().scan()
        if self.news is not None:
            news, self.news = self.news, None
            await asyncio.to_thread(news)
            await asyncio.wait_for(self.wake.wait(), 20)
        return found


async def _live_until(server: Server, d: Device, news: Callable[[], object],
                      done: Callable[[], bool]) -> None:
    api = Api(server.base_url, server.token(d.username, PASSWORD, device=d.name))
    engine = NewsDuringARound(Settings(root=d.folder, device=d.name), api, news)
    stop = asyncio.Event()
    live = asyncio.create_task(engine.run_live(rescan_s=300, stop=stop))
    try:
        await asyncio.to_thread(wait_for, done, 10, "the news carried by the next round")
    finally:
        stop.set()
        await live
        engine.close()
        await api.aclose()


@pytest.mark.anyio
async def test_a_doorbell_ringing_during_a_round_is_not_lost(
    make_device: MakeDevice, server: Server
) -> None:
    a = make_device(name="laptop")
    b = make_device(a.username, name="desktop")
    a.write("start.txt", "s")
    a.sync()
    b.sync()
    a.write("fresh.txt", "saved on the laptop")
    await _live_until(server, b, a.sync, lambda: (b.folder / "fresh.txt").exists())


@pytest.mark.anyio
async def test_a_file_saved_during_a_round_is_not_lost(
    make_device: MakeDevice, server: Server
) -> None:
    a = make_device()
    a.write("start.txt", "s")
    a.sync()
    token = server.token(a.username, PASSWORD)
    with server.client(token) as api:
        await _live_until(server, a, lambda: a.write("fresh.txt", "saved mid-round"),
                          lambda: api.get("/files/metadata", params={
                              "path": "/fresh.txt"}).status_code == 200)


class ExpireCursor(httpx.AsyncBaseTransport):
    """The change feed no longer reaches back to the device's cursor (410)."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.expired = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/changes") and not self.expired:
            self.expired += 1
            return httpx.Response(410, json={"error": {"code": "cursor_expired",
                                                       "message": "older than the journal"}})
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.mark.anyio
async def test_an_expired_cursor_means_a_full_listing_and_no_loss(
    make_device: MakeDevice, server: Server
) -> None:
    a = make_device(name="laptop")
    b = make_device(a.username, name="desktop")
    a.write("kept.txt", "k")
    a.write("gone.txt", "g")
    a.sync()
    b.sync()
    (a.folder / "gone.txt").unlink()
    a.write("new.txt", "n")
    a.sync()
    b.write("local-only.txt", "made while away")
    transport = ExpireCursor()
    await _engine_once(server, b, transport)
    assert transport.expired == 1
    assert sorted(b.tree()) == ["kept.txt", "local-only.txt", "new.txt"]
    a.sync()
    assert a.read("local-only.txt") == b"made while away"
