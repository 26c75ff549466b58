"""The replication queue and loop against a real S3 server (moto), with a
fault-injecting proxy where the server must misbehave."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from selfdrive.core.clock import FakeClock
from selfdrive.core.errors import StorageError
from selfdrive.services.backup import (
    MAX_YIELD_S,
    USERS_QUIET_S,
    WHILE_USERS_UPLOAD,
    BackupService,
    Gate,
)
from selfdrive.services.backup_read import SNAPSHOTS
from selfdrive.services.backup_targets import BackupSettings
from selfdrive.services.runtime import Runtime
from selfdrive.store.s3 import S3Bucket, S3Target, block_name
from tests.backup.conftest import OpenRuntime, alice, body, pending, primary
from tests.backup.s3proxy import S3FaultProxy
from tests.conftest import S3Server

pytestmark = pytest.mark.anyio


def bucket_of(server: S3Server, bucket: str) -> S3Bucket:
    return S3Bucket(S3Target(bucket=bucket, endpoint_url=server.url, prefix="home",
                             access_key_id="test", secret_access_key="test"))


async def local_blocks(runtime: Runtime) -> dict[bytes, bytes]:
    return {b.id: await runtime.blockstore.get(b.id) async for b in runtime.blockstore.scan()}


async def assert_bucket_has(server: S3Server, bucket: str, blocks: dict[bytes, bytes]) -> None:
    remote = bucket_of(server, bucket)
    for block_id, sealed in blocks.items():
        assert await remote.get(block_name(block_id)) == sealed


async def wait_for(check: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.1)
    raise AssertionError("timed out")


async def test_new_blocks_are_queued_and_a_pass_copies_them(
        open_rt: OpenRuntime, s3_server: S3Server, bucket: str) -> None:
    runtime = await open_rt(s3_server.url, bucket)
    who = await alice(runtime)
    await runtime.files.upload(who, "/a.bin", body(os.urandom(300_000)))
    await runtime.files.upload(who, "/b.txt", body(b"hello " * 1000))
    await runtime.files.upload(who, "/same.txt", body(b"hello " * 1000))  # dedup: one block
    status = await runtime.backup.status()
    assert status.configured and pending(status).blocks == 2
    assert pending(status).bytes == sum(len(b) for b in (await local_blocks(runtime)).values())
    report = await runtime.backup.copy_pass()
    assert (report.uploaded, report.failed) == (2, 0)
    assert pending(await runtime.backup.status()).blocks == 0
    await assert_bucket_has(s3_server, bucket, await local_blocks(runtime))


async def test_the_queue_survives_a_restart(
        open_rt: OpenRuntime, s3_server: S3Server, bucket: str) -> None:
    first = await open_rt(s3_server.url, bucket)
    who = await alice(first)
    await first.files.upload(who, "/a.bin", body(os.urandom(200_000)))
    blocks = await local_blocks(first)
    await first.close()  # stopped before any copy
    again = await open_rt(s3_server.url, bucket)
    assert pending(await again.backup.status()).blocks == len(blocks) == 1
    await again.backup.copy_pass()
    assert pending(await again.backup.status()).blocks == 0
    await assert_bucket_has(s3_server, bucket, blocks)


async def test_a_bucket_down_at_start_catches_up_when_it_is_back(
        open_rt: OpenRuntime, s3_server: S3Server, bucket: str, proxy: S3FaultProxy) -> None:
    proxy.faults.down = True
    runtime = await open_rt(proxy.url, bucket)
    who = await alice(runtime)
    loop = asyncio.ensure_future(runtime.backup.run_forever())
    try:
        started = time.monotonic()
        await runtime.files.upload(who, "/a.bin", body(os.urandom(100_000)))
        assert time.monotonic() - started < 2, "an upload never waits for the bucket"

        async def failed() -> bool:
            return primary(await runtime.backup.status()).last_error is not None
        await wait_for(failed)
        assert pending(await runtime.backup.status()).blocks == 1
        assert not runtime.backup.healthy
        proxy.faults.down = False

        async def drained() -> bool:
            s = await runtime.backup.status()
            return pending(s).blocks == 0 and s.state.snapshot_id is not None
        await wait_for(drained)
        status = await runtime.backup.status()
        assert primary(status).last_error is None
        await assert_bucket_has(s3_server, bucket, await local_blocks(runtime))
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)


async def test_slowdown_and_server_errors_are_retried_and_nothing_is_lost(
        open_rt: OpenRuntime, s3_server: S3Server, bucket: str, proxy: S3FaultProxy) -> None:
    runtime = await open_rt(proxy.url, bucket, SELFDRIVE_BACKUP_PARALLEL_UPLOADS="2")
    who = await alice(runtime)
    for n in range(4):
        await runtime.files.upload(who, f"/f{n}.bin", body(os.urandom(50_000)))
    proxy.fail_next(3, 503, "SlowDown")
    proxy.fail_next(2, 500, "InternalError")
    report = await runtime.backup.copy_pass()
    assert (report.uploaded, report.failed) == (4, 0)
    assert proxy.faults.answered == {503: 3, 500: 2}, "each fault was met, and retried"
    assert not proxy.faults.pending
    await assert_bucket_has(s3_server, bucket, await local_blocks(runtime))


async def test_a_bucket_that_keeps_failing_leaves_the_queue_whole(
        open_rt: OpenRuntime, s3_server: S3Server, bucket: str, proxy: S3FaultProxy) -> None:
    runtime = await open_rt(proxy.url, bucket)
    who = await alice(runtime)
    await runtime.files.upload(who, "/a.bin", body(os.urandom(10_000)))
    proxy.fail_next(100, 503, "SlowDown")
    with pytest.raises(StorageError, match="SlowDown"):
        await runtime.backup.copy_pass()
    assert pending(await runtime.backup.status()).blocks == 1
    proxy.faults.pending.clear()
    assert (await runtime.backup.copy_pass()).uploaded == 1


async def test_snapshots_are_kept_by_retention_and_verify_finds_a_lost_block(
        open_rt: OpenRuntime, s3_server: S3Server, bucket: str) -> None:
    runtime = await open_rt(s3_server.url, bucket, SELFDRIVE_BACKUP_KEEP_SNAPSHOTS="2")
    who = await alice(runtime)
    await runtime.files.upload(who, "/a.bin", body(os.urandom(100_000)))
    taken = []
    for _ in range(3):
        taken.append((await runtime.backup.snapshot()).id)
        await asyncio.sleep(0.002)  # ids are to the millisecond
    assert pending(await runtime.backup.status()).blocks == 0, "a snapshot copies its blocks"
    assert [s.id for s in await runtime.backup.snapshots()] == taken[1:]
    [check] = (await runtime.backup.verify()).targets
    assert (check.snapshot_id, check.checked, check.checksummed, check.bad) == (
        taken[-1], 1, 1, [])
    [lost] = list(await local_blocks(runtime))
    await bucket_of(s3_server, bucket).delete(block_name(lost))  # a write the bucket lost
    [check] = (await runtime.backup.verify()).targets
    assert [(b.block_id, b.problem) for b in check.bad] == [(lost, "missing")]
    assert pending(await runtime.backup.status()).blocks == 1, "queued to be sent again"
    await runtime.backup.copy_pass()
    assert (await runtime.backup.verify()).whole


async def test_snapshots_in_the_bucket_are_ciphertext(
        open_rt: OpenRuntime, s3_server: S3Server, bucket: str) -> None:
    runtime = await open_rt(s3_server.url, bucket)
    who = await alice(runtime)
    secret = b"a very recognisable plaintext " * 100
    await runtime.files.upload(who, "/secret-name.txt", body(secret))
    snap = await runtime.backup.snapshot()
    remote = bucket_of(s3_server, bucket)
    stored = [await remote.get(SNAPSHOTS + snap.id)]
    stored += [await remote.get(block_name(b)) for b in await local_blocks(runtime)]
    for data in stored:
        assert b"recognisable" not in data and b"secret-name" not in data
        assert b"alice" not in data and b"SQLite format" not in data


async def test_copying_yields_to_users_uploading(
        open_rt: OpenRuntime, s3_server: S3Server, bucket: str, tmp_path: Path) -> None:
    runtime = await open_rt(s3_server.url, bucket)
    assert runtime.backup.parallel_now() == 8
    await runtime.files.upload(await alice(runtime), "/a.bin", body(b"x" * 1000))
    assert runtime.backup.parallel_now() == WHILE_USERS_UPLOAD, "wired to the content store"

    received, clock = [0], FakeClock()
    backup = BackupService(runtime.db, runtime.blockstore, [], bytes(32), clock,
                           BackupSettings(parallel_uploads=8), tmp_path / "work",
                           users_activity=lambda: received[0])
    assert backup.parallel_now() == 8
    received[0] += 1
    assert backup.parallel_now() == WHILE_USERS_UPLOAD == 0
    clock.advance(USERS_QUIET_S - 0.1)
    assert backup.parallel_now() == 0
    clock.advance(0.2)
    assert backup.parallel_now() == 8
    # Users who never stop uploading do not starve the backup: after
    # MAX_YIELD_S of waiting, one block at a time; a quiet moment resets it.
    waited = 0.0
    while waited < MAX_YIELD_S:
        received[0] += 1
        assert backup.parallel_now() == 0
        clock.advance(1.0)
        waited += 1.0
    received[0] += 1
    assert backup.parallel_now() == 1
    clock.advance(USERS_QUIET_S + 0.1)
    assert backup.parallel_now() == 8
    received[0] += 1
    assert backup.parallel_now() == 0

    limit, peak = [3], [0]
    gate = Gate(lambda: limit[0])

    async def hold() -> None:
        async with gate:
            peak[0] = max(peak[0], gate.active)
            await asyncio.sleep(0.02)

    await asyncio.gather(*(hold() for _ in range(12)))
    assert peak[0] == 3 and gate.active == 0
    limit[0], peak[0] = 1, 0
    await asyncio.gather(*(hold() for _ in range(4)))
    assert peak[0] == 1
