"""Fault tests of the backup against a real S3 server (moto) behind a
fault-injecting proxy: the server going down in the middle of an upload, and
the selfdrive server SIGKILLed while it replicates to two buckets."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from pathlib import Path

import pytest

from selfdrive.core.errors import BucketUnavailable
from selfdrive.services.backup_read import Source, fetch_block
from selfdrive.store.local import LocalBlockStore
from selfdrive.store.s3 import block_name
from tests.backup.conftest import (
    OpenRuntime,
    alice,
    backup_env,
    body,
    pending,
    replica_env,
)
from tests.backup.s3proxy import S3FaultProxy
from tests.backup.test_replica import assert_has, bucket_at
from tests.backup.test_replication import local_blocks
from tests.conftest import S3Server, Server


@pytest.mark.anyio
async def test_the_bucket_going_down_mid_upload_loses_nothing(
        open_rt: OpenRuntime, s3_server: S3Server, bucket: str, proxy: S3FaultProxy) -> None:
    runtime = await open_rt(proxy.url, bucket, SELFDRIVE_BACKUP_PARALLEL_UPLOADS="2")
    who = await alice(runtime)
    for n in range(4):
        await runtime.files.upload(who, f"/f{n}.bin", body(os.urandom(80_000)))
    proxy.cut_next(3)  # three bodies cut halfway: the S3 client tries them again
    report = await runtime.backup.copy_pass()
    assert (report.uploaded, report.failed, proxy.faults.cuts_done) == (4, 0, 3)
    blocks = await local_blocks(runtime)
    await assert_has(bucket_at(s3_server, bucket, "home"), blocks)  # whole: SHA-256 checked

    await runtime.files.upload(who, "/late.bin", body(os.urandom(80_000)))
    proxy.cut_next(1000)  # down for good, mid-body every time
    with pytest.raises(BucketUnavailable):
        await runtime.backup.copy_pass()
    assert pending(await runtime.backup.status()).blocks == 1
    remote = bucket_at(s3_server, bucket, "home")
    late = next(b for b in await local_blocks(runtime) if b not in blocks)
    assert await remote.stat(block_name(late)) is None, "no torn object was left"
    proxy.faults.cut = 0
    assert (await runtime.backup.copy_pass()).uploaded == 1
    await assert_has(remote, await local_blocks(runtime))


def queued(data: Path, target: str) -> set[bytes]:
    conn = sqlite3.connect(f"file:{data / 'meta.db'}?mode=ro", uri=True)
    try:
        return {bytes(r[0]) for r in conn.execute(
            "SELECT block_id FROM backup_queue WHERE target = ?", (target,))}
    finally:
        conn.close()


def wait(check: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_sigkill_while_replicating_loses_nothing_and_resends_only_the_unrecorded(
        s3_server: S3Server, proxy: S3FaultProxy, tmp_path: Path) -> None:
    first, second = s3_server.create_bucket(), s3_server.create_bucket()
    env = {**backup_env(proxy.url, first, SELFDRIVE_BACKUP_PARALLEL_UPLOADS="2"),
           **replica_env(s3_server.url, second)}
    data = tmp_path / "data"
    server = Server(data_dir=data, env=env)
    server.start()
    _, token = server.add_user("alice")
    proxy.faults.put_delay_s = 0.1  # the primary is slow: the kill lands mid-pass
    files = 16
    with server.client(token) as c:
        for n in range(files):
            assert c.put("/files/content", params={"path": f"/f{n}.bin"},
                         content=os.urandom(20_000)).status_code == 201
    wait(lambda: 0 < len(queued(data, "primary")) <= files - 4)  # a few recorded as sent
    server.kill()
    left = queued(data, "primary")
    sent_before = {path for path in proxy.faults.puts if "/blocks/" in path}

    proxy.faults.put_delay_s = 0
    server.start()
    try:
        wait(lambda: not queued(data, "primary") and not queued(data, "replica"))
    finally:
        server.stop()
    blocks = _local_ids(data)
    assert len(blocks) == files and left
    names = {block_name(b): b for b in blocks}
    puts = {names[path.rsplit("/home/", 1)[1]]: n for path, n in proxy.faults.puts.items()
            if "/blocks/" in path}
    assert set(puts) == blocks, "every block reached the primary"
    twice = {b for b, n in puts.items() if n > 1}
    assert all(n <= 2 for n in puts.values())
    # sent again only if its acknowledgement was not yet recorded at the kill
    assert twice <= left, "a block recorded as sent was sent again"
    assert len(sent_before) < files, "the kill came mid-pass"
    _assert_in_both(s3_server, first, second, data, blocks)


def _local_ids(data: Path) -> set[bytes]:
    async def go() -> set[bytes]:
        return {b.id async for b in LocalBlockStore(data / "blocks").scan()}
    return asyncio.run(go())


def _assert_in_both(server: S3Server, first: str, second: str, data: Path,
                    blocks: set[bytes]) -> None:
    async def go() -> None:
        local = LocalBlockStore(data / "blocks")
        for bucket, prefix in ((first, "home"), (second, "far")):
            source = [Source(prefix, bucket_at(server, bucket, prefix))]
            for block_id in blocks:
                found = await fetch_block(source, block_id)
                assert found is not None and found[0] == await local.get(block_id)
    asyncio.run(go())
