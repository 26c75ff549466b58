"""The cold tier (docs/backup.md, "Cold tier"): blocks that only long-replaced
revisions list move to the bucket and leave the local disk once their copy
is verified, and come back byte for byte when read; against moto's real S3
server and a real selfdrive server."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from selfdrive.core.errors import BlockNotFound
from selfdrive.store.s3 import block_name
from tests.backup.conftest import OpenRuntime, alice, backup_env, body, replica_env
from tests.backup.s3proxy import S3FaultProxy
from tests.backup.test_replica import bucket_at
from tests.conftest import S3Server, Server, cli

pytestmark = pytest.mark.anyio

#: revisions replaced more than 1.7 s ago are old
COLD_AFTER_DAYS = "0.00002"


def cold_env(endpoint: str, bucket: str, **extra: str) -> dict[str, str]:
    return backup_env(endpoint, bucket, SELFDRIVE_BACKUP_COLD_AFTER_DAYS=COLD_AFTER_DAYS,
                      SELFDRIVE_BACKUP_COLD_INTERVAL_S="0.3", **extra)


@pytest.fixture
def cold_server(tmp_path: Path, s3_server: S3Server) -> Iterator[Server]:
    server = Server(data_dir=tmp_path / "data",
                    env=cold_env(s3_server.url, s3_server.create_bucket()))
    server.start()
    yield server
    server.stop()


def block_ids(api: httpx.Client, path: str, rev: int) -> list[bytes]:
    r = api.get("/files/blocklist", params={"path": path, "rev": rev})
    assert r.status_code == 200, r.text
    return [bytes.fromhex(b["id"] if isinstance(b, dict) else b) for b in r.json()["blocks"]]


def on_disk(data: Path, block_id: bytes) -> bool:
    h = block_id.hex()
    return (data / "blocks" / h[:2] / h[2:4] / h).exists()


def cold_states(data: Path) -> dict[bytes, str]:
    conn = sqlite3.connect(f"file:{data / 'meta.db'}?mode=ro", uri=True)
    try:
        return {bytes(r[0]): str(r[1])
                for r in conn.execute("SELECT block_id, state FROM cold_blocks")}
    finally:
        conn.close()


def wait_until(check: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


def put(api: httpx.Client, path: str, data: bytes) -> None:
    r = api.put("/files/content", params={"path": path}, content=data)
    assert r.status_code in (200, 201), r.text


def test_old_revisions_move_and_come_back_byte_for_byte(cold_server: Server) -> None:
    data = cold_server.data_dir
    api = cold_server.client(cold_server.token())
    old, new = os.urandom(300_000), os.urandom(200_000)
    shared_old, shared_new = os.urandom(150_000), os.urandom(120_000)
    put(api, "/a.bin", old)
    put(api, "/a.bin", new)
    put(api, "/b.bin", shared_old)
    put(api, "/b.bin", shared_new)
    put(api, "/copy-of-old-b.bin", shared_old)  # dedup: a current file holds b's old block
    old_ids, new_ids = block_ids(api, "/a.bin", 1), block_ids(api, "/a.bin", 2)
    shared_ids = block_ids(api, "/b.bin", 1)
    assert set(shared_ids) == set(block_ids(api, "/copy-of-old-b.bin", 1))

    wait_until(lambda: not any(on_disk(data, b) for b in old_ids))
    states = cold_states(data)
    assert all(states.get(b) == "cold" for b in old_ids)
    time.sleep(1.0)  # more passes: what is current stays
    for current in [*new_ids, *shared_ids, *block_ids(api, "/b.bin", 2)]:
        assert on_disk(data, current) and current not in cold_states(data)

    # status and fsck know the tier; fsck does not call it missing
    status = cli("backup", "status", data=data, check=False, env=cold_server.env)
    assert "cold tier" in status.stdout and "local disk" in status.stdout, status.stdout
    fsck = cli("fsck", "--remote", data=data, env=cold_server.env)
    assert "the store is whole" in fsck.stdout and f"{len(old_ids)} in the cold tier" in \
        fsck.stdout, fsck.stdout

    # download of the old revision: from the bucket, byte for byte
    r = api.get("/files/content", params={"path": "/a.bin", "rev": 1})
    assert r.status_code == 200 and r.content == old
    # restore of the old revision makes it current, byte for byte
    wait_until(lambda: not any(on_disk(data, b) for b in old_ids))  # tiered again? not yet
    r = api.post("/files/restore", json={"path": "/a.bin", "rev": 1})
    assert r.status_code in (200, 201), r.text
    r = api.get("/files/content", params={"path": "/a.bin"})
    assert r.status_code == 200 and r.content == old
    wait_until(lambda: all(on_disk(data, b) for b in old_ids))
    time.sleep(1.0)
    assert all(on_disk(data, b) for b in old_ids), "a current file's blocks left the disk"


def test_an_archive_class_answers_202_then_the_bytes(
        tmp_path: Path, s3_server: S3Server) -> None:
    server = Server(data_dir=tmp_path / "data", env=cold_env(
        s3_server.url, s3_server.create_bucket(),
        SELFDRIVE_BACKUP_COLD_STORAGE_CLASS="GLACIER"))
    server.start()
    try:
        api = server.client(server.token())
        old = os.urandom(250_000)
        put(api, "/g.bin", old)
        put(api, "/g.bin", os.urandom(1000))
        ids = block_ids(api, "/g.bin", 1)
        wait_until(lambda: not any(on_disk(server.data_dir, b) for b in ids))
        r = api.get("/files/content", params={"path": "/g.bin", "rev": 1})
        assert r.status_code == 202, r.text
        error = r.json()["error"]
        assert error["code"] == "restoring" and "try again at" in error["message"]
        assert int(r.headers["Retry-After"]) > 0 and error["retry_at"]
        requested = _restore_requested(server.data_dir)
        assert set(requested) == set(ids) and all(requested.values())
        for _ in range(10):  # moto's restore completes after a look or two
            r = api.get("/files/content", params={"path": "/g.bin", "rev": 1})
            if r.status_code != 202:
                break
            assert _restore_requested(server.data_dir) == requested, "restore asked twice"
        assert r.status_code == 200 and r.content == old
    finally:
        server.stop()


def _restore_requested(data: Path) -> dict[bytes, int | None]:
    conn = sqlite3.connect(f"file:{data / 'meta.db'}?mode=ro", uri=True)
    try:
        return {bytes(r[0]): r[1] for r in conn.execute(
            "SELECT block_id, restore_requested_at FROM cold_blocks")}
    finally:
        conn.close()


async def _tiered_runtime(open_rt: OpenRuntime, endpoint: str, bucket: str,
                          **extra: str) -> tuple[object, bytes, list[bytes]]:
    runtime = await open_rt(endpoint, bucket, SELFDRIVE_BACKUP_COLD_AFTER_DAYS=COLD_AFTER_DAYS,
                            **extra)
    who = await alice(runtime)
    old = os.urandom(200_000)
    await runtime.files.upload(who, "/x.bin", body(old))
    await runtime.files.upload(who, "/x.bin", body(os.urandom(5000)))
    opened = await runtime.files.open(who, "/x.bin", 1)
    ids = [e.id for e in opened.extents]
    await runtime.backup.copy_pass()
    time.sleep(1.8)
    report = await runtime.cold.tier_pass()
    assert report.moved == len(ids), report
    for b in ids:
        assert not await runtime.blockstore.exists(b)
    return runtime, old, ids


async def test_reads_fall_back_to_the_replica_when_the_primary_is_down(
        open_rt: OpenRuntime, s3_server: S3Server, proxy: S3FaultProxy) -> None:
    first, second = s3_server.create_bucket(), s3_server.create_bucket()
    runtime, old, _ = await _tiered_runtime(open_rt, proxy.url, first,
                                            **replica_env(s3_server.url, second))
    proxy.faults.down = True
    who = await alice(runtime)  # type: ignore[arg-type]
    opened = await runtime.files.open(who, "/x.bin", 1)  # type: ignore[attr-defined]
    got = b"".join([c async for c in runtime.files.read(opened)])  # type: ignore[attr-defined]
    assert got == old


async def test_a_tiered_block_missing_from_the_bucket_is_an_error_and_fsck_says_so(
        open_rt: OpenRuntime, s3_server: S3Server, bucket: str) -> None:
    runtime, _, ids = await _tiered_runtime(open_rt, s3_server.url, bucket)
    rt: object = runtime
    assert (await rt.fsck.check()).whole  # type: ignore[attr-defined]
    await bucket_at(s3_server, bucket, "home").delete(block_name(ids[0]))
    who = await alice(rt)  # type: ignore[arg-type]
    opened = await rt.files.open(who, "/x.bin", 1)  # type: ignore[attr-defined]
    with pytest.raises(BlockNotFound, match="in the cold tier but no backup bucket has it"):
        _ = b"".join([c async for c in rt.files.read(opened)])  # type: ignore[attr-defined]
    report = await rt.fsck.check(remote=True)  # type: ignore[attr-defined]
    assert not report.whole and report.missing == 1
    assert "in the cold tier but in no bucket" in report.problems[0].describe()
    assert "x.bin rev 1" in report.problems[0].describe()


def test_sigkill_while_tiering_loses_nothing(tmp_path: Path, s3_server: S3Server) -> None:
    env = cold_env(s3_server.url, s3_server.create_bucket(),
                   SELFDRIVE_BACKUP_COLD_BATCH_BLOCKS="3")
    server = Server(data_dir=tmp_path / "data", env=env)
    data = server.data_dir
    server.start()
    api = server.client(server.token())
    olds = {f"/f{n}.bin": os.urandom(60_000 + n) for n in range(24)}
    for path, content in olds.items():
        put(api, path, content)
        put(api, path, os.urandom(700))
    ids = [b for path in olds for b in block_ids(api, path, 1)]
    wait_until(lambda: any(not on_disk(data, b) for b in ids), timeout=60)
    server.kill()  # mid-pass: some moved, some not, maybe one half-way
    server.start()
    wait_until(lambda: not any(on_disk(data, b) for b in ids), timeout=60)
    states = cold_states(data)
    assert all(states.get(b) == "cold" for b in ids), states
    api = server.client(server.token())
    for path, content in olds.items():
        r = api.get("/files/content", params={"path": path, "rev": 1})
        assert r.status_code == 200 and r.content == content, path
    server.stop()
    fsck = cli("fsck", "--remote", data=data, env=env)
    assert "the store is whole" in fsck.stdout, fsck.stdout
