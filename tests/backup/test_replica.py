"""Cross-region replication: a second bucket ([backup.replica]) gets every
block and snapshot, with its own progress, and takes over when the primary
is down (copying, verify, restore), against a real S3 server (moto) with a
fault-injecting proxy in front of the bucket that must fail."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

import pytest

from selfdrive.core.clock import SystemClock
from selfdrive.core.errors import StorageError
from selfdrive.services.backup_read import SNAPSHOTS, Source
from selfdrive.services.restore import restore
from selfdrive.services.runtime import Runtime
from selfdrive.store.keys import Keyring, load_keyring
from selfdrive.store.local import LocalBlockStore
from selfdrive.store.meta.db import migrate
from selfdrive.store.s3 import S3Bucket, S3Target, block_name
from tests.backup.conftest import (
    OpenRuntime,
    alice,
    body,
    pending,
    primary,
    replica_env,
)
from tests.backup.s3proxy import S3FaultProxy
from tests.backup.test_replication import local_blocks, wait_for
from tests.conftest import S3Server
from tests.store.test_db import build_by_hand

pytestmark = pytest.mark.anyio


def bucket_at(server: S3Server, bucket: str, prefix: str) -> S3Bucket:
    return S3Bucket(S3Target(bucket=bucket, endpoint_url=server.url, prefix=prefix,
                             access_key_id="test", secret_access_key="test"))


async def assert_has(remote: S3Bucket, blocks: dict[bytes, bytes]) -> None:
    for block_id, sealed in blocks.items():
        assert await remote.get(block_name(block_id)) == sealed


async def snapshot_ids(remote: S3Bucket) -> list[str]:
    return sorted([i.name.removeprefix(SNAPSHOTS) async for i in remote.listing(SNAPSHOTS)])


async def test_every_block_and_snapshot_goes_to_both_buckets(
        open_rt: OpenRuntime, s3_server: S3Server) -> None:
    first, second = s3_server.create_bucket(), s3_server.create_bucket()
    runtime = await open_rt(s3_server.url, first, **replica_env(s3_server.url, second))
    who = await alice(runtime)
    for n in range(3):
        await runtime.files.upload(who, f"/f{n}.bin", body(os.urandom(40_000)))
    await runtime.backup.bind()  # what the first pass does first
    status = await runtime.backup.status()
    assert [(t.name, t.pending.blocks) for t in status.targets] == [
        ("primary", 3), ("replica", 3)]
    report = await runtime.backup.copy_pass()
    assert report.uploaded_to == {"primary": 3, "replica": 3} and not report.unavailable
    snap = await runtime.backup.snapshot()
    assert snap.targets == ["primary", "replica"] and not snap.errors
    blocks = await local_blocks(runtime)
    for remote in (bucket_at(s3_server, first, "home"), bucket_at(s3_server, second, "far")):
        await assert_has(remote, blocks)
        assert await snapshot_ids(remote) == [snap.id]
    status = await runtime.backup.status()
    assert all(t.pending.blocks == 0 and t.state and t.state.snapshot_id == snap.id
               for t in status.targets)


async def test_a_primary_that_is_down_does_not_hold_the_replica_back(
        open_rt: OpenRuntime, s3_server: S3Server, proxy: S3FaultProxy) -> None:
    first, second = s3_server.create_bucket(), s3_server.create_bucket()
    proxy.faults.down = True
    runtime = await open_rt(proxy.url, first, **replica_env(s3_server.url, second))
    who = await alice(runtime)
    loop = asyncio.ensure_future(runtime.backup.run_forever())
    try:
        await runtime.files.upload(who, "/a.bin", body(os.urandom(60_000)))
        await runtime.files.upload(who, "/b.bin", body(os.urandom(60_000)))

        async def replica_done() -> bool:
            s = await runtime.backup.status()
            return (pending(s, "replica").blocks == 0 and s.state.snapshot_id is not None
                    and primary(s).last_error is not None)
        await wait_for(replica_done)
        status = await runtime.backup.status()
        assert pending(status).blocks == 2, "acknowledged by the replica only: still queued"
        assert primary(status, "replica").snapshot_id == status.state.snapshot_id
        assert primary(status).snapshot_id is None
        assert not runtime.backup.healthy
        blocks = await local_blocks(runtime)
        await assert_has(bucket_at(s3_server, second, "far"), blocks)

        proxy.faults.down = False
        await runtime.files.upload(who, "/c.bin", body(os.urandom(60_000)))

        async def both_done() -> bool:
            s = await runtime.backup.status()
            return all(t.pending.blocks == 0 for t in s.targets) and runtime.backup.healthy
        await wait_for(both_done)
        blocks = await local_blocks(runtime)
        await assert_has(bucket_at(s3_server, first, "home"), blocks)
        await assert_has(bucket_at(s3_server, second, "far"), blocks)
        assert set(proxy.faults.puts.values()) == {1}, "each block went to the primary once"
        assert primary(await runtime.backup.status()).last_error is None
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)


async def test_verify_checks_sizes_and_checksums_in_each_bucket(
        open_rt: OpenRuntime, s3_server: S3Server, proxy: S3FaultProxy) -> None:
    first, second = s3_server.create_bucket(), s3_server.create_bucket()
    runtime = await open_rt(proxy.url, first, **replica_env(s3_server.url, second))
    who = await alice(runtime)
    await runtime.files.upload(who, "/a.bin", body(os.urandom(50_000)))
    await runtime.files.upload(who, "/b.bin", body(os.urandom(50_000)))
    await runtime.backup.snapshot()
    report = await runtime.backup.verify()
    assert report.whole
    assert [(c.name, c.checked, c.checksummed) for c in report.targets] == [
        ("primary", 2, 2), ("replica", 2, 2)]
    damaged, lost = sorted(await local_blocks(runtime))
    sealed = (await local_blocks(runtime))[damaged]
    far = bucket_at(s3_server, second, "far")
    # same size, other bytes, and a SHA-256 recorded that fits them: only a
    # comparison with our own copy can tell
    await far.put(block_name(damaged), bytes(b ^ 0xFF for b in sealed))
    await far.delete(block_name(lost))
    report = await runtime.backup.verify()
    [near, replica] = report.targets
    assert near.whole
    assert sorted((b.block_id, b.problem) for b in replica.bad) == sorted(
        [(damaged, "SHA-256 differs"), (lost, "missing")])
    status = await runtime.backup.status()
    assert (pending(status).blocks, pending(status, "replica").blocks) == (0, 2)
    assert (await runtime.backup.copy_pass()).uploaded_to == {"replica": 2}
    assert (await runtime.backup.verify(download=True)).whole

    proxy.faults.down = True  # verify still checks the replica, and says the primary failed
    report = await runtime.backup.verify()
    assert not report.whole
    assert report.targets[0].error is not None and report.targets[1].whole


async def test_restore_fetches_from_the_replica_what_the_primary_lacks(
        open_rt: OpenRuntime, s3_server: S3Server, proxy: S3FaultProxy,
        tmp_path: Path) -> None:
    first, second = s3_server.create_bucket(), s3_server.create_bucket()
    runtime = await open_rt(s3_server.url, first, **replica_env(s3_server.url, second))
    who = await alice(runtime)
    await runtime.files.upload(who, "/a.bin", body(os.urandom(70_000)))
    await runtime.files.upload(who, "/b.bin", body(os.urandom(70_000)))
    snap = await runtime.backup.snapshot()
    blocks = await local_blocks(runtime)
    lost = sorted(blocks)[0]
    await bucket_at(s3_server, first, "home").delete(block_name(lost))
    keyring = load_keyring(tmp_path / "data" / "keys", None)
    near = runtime.backup.sources()

    report = await restore(near, keyring, tmp_path / "one", SystemClock(), parallel=2)
    assert (report.snapshot_id, report.source) == (snap.id, "primary")
    assert report.fetched_from == {"primary": 1, "replica": 1}
    restored = LocalBlockStore(tmp_path / "one" / "blocks")
    assert {b: await restored.get(b) for b in blocks} == blocks

    # the primary down: the snapshot and every block come from the replica
    proxy.faults.down = True
    downed = [Source("primary", bucket_at_proxy(proxy, first)), near[1]]
    report = await restore(downed, keyring, tmp_path / "two", SystemClock(), parallel=2)
    assert (report.source, report.fetched_from) == ("replica", {"replica": 2})
    conn = sqlite3.connect(tmp_path / "two" / "meta.db")
    queued = conn.execute("SELECT target, count(*) FROM backup_queue GROUP BY target").fetchall()
    conn.close()
    # the snapshot's copy was taken before its blocks were sent: as far as it
    # knows, the primary may lack them, so they stay queued for it (not for
    # the replica, which got that snapshot only after every one of them)
    assert queued == [("primary", 2)]

    # both down: a clear error, and no database left behind
    with pytest.raises(StorageError, match="no backup bucket answered"):
        await restore(downed[:1], keyring, tmp_path / "three", SystemClock())
    assert not (tmp_path / "three" / "meta.db").exists()

    # a snapshot that does not open (another key): nothing half-restored stays
    other = Keyring({k: bytes(32) for k in keyring.keys}, keyring.current_id)
    with pytest.raises(StorageError, match="does not open"):
        await restore(near, other, tmp_path / "four", SystemClock())
    assert sorted(p.name for p in (tmp_path / "four").iterdir()) == ["blocks", "staging"]


def bucket_at_proxy(proxy: S3FaultProxy, bucket: str) -> S3Bucket:
    return S3Bucket(S3Target(bucket=bucket, endpoint_url=proxy.url, prefix="home",
                             access_key_id="test", secret_access_key="test",
                             retry_timeout_s=2, max_retries=1))


async def test_the_replica_queue_follows_the_config(
        open_rt: OpenRuntime, s3_server: S3Server) -> None:
    first, second, third = (s3_server.create_bucket() for _ in range(3))
    runtime = await open_rt(s3_server.url, first)
    who = await alice(runtime)
    await runtime.files.upload(who, "/a.bin", body(os.urandom(30_000)))
    await runtime.backup.copy_pass()
    await runtime.close()

    # a replica added later gets every block there already was, from the first pass on
    runtime = await open_rt(s3_server.url, first, **replica_env(s3_server.url, second))
    status = await runtime.backup.status()
    assert [(t.name, t.state is not None) for t in status.targets] == [
        ("primary", True), ("replica", False)], "a look binds nothing"
    assert (await runtime.backup.copy_pass()).uploaded_to == {"replica": 1}
    await runtime.close()

    # pointed at another bucket: that one gets everything again
    runtime = await open_rt(s3_server.url, first, **replica_env(s3_server.url, third))
    assert (await runtime.backup.copy_pass()).uploaded_to == {"replica": 1}
    await assert_has(bucket_at(s3_server, third, "far"), await local_blocks(runtime))
    await runtime.close()

    # taken out of the config: a look keeps its queue (a command run with
    # another config must not drop it), the next pass drops it
    runtime = await open_rt(s3_server.url, first)
    assert [t.name for t in (await runtime.backup.status()).targets] == ["primary"]
    assert await target_rows(runtime) == ["primary", "replica"]
    await runtime.backup.copy_pass()
    assert await target_rows(runtime) == ["primary"]
    await runtime.files.upload(who, "/b.bin", body(os.urandom(30_000)))
    async with runtime.db.read() as conn, conn.execute(
            "SELECT DISTINCT target FROM backup_queue") as cur:
        assert [r[0] for r in await cur.fetchall()] == ["primary"]


async def target_rows(runtime: Runtime) -> list[str]:
    async with runtime.db.read() as conn, conn.execute(
            "SELECT name FROM backup_targets ORDER BY name") as cur:
        return [str(r[0]) for r in await cur.fetchall()]


def test_migration_0013_keeps_the_queue_and_state_of_0012(tmp_path: Path) -> None:
    path = tmp_path / "meta.db"
    build_by_hand(path, 12)
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO blocks (id, size, stored_size, created_at) VALUES (?, 10, 20, 5)",
                 (b"\x01" * 32,))
    conn.execute("UPDATE backup_state SET snapshot_id = 's1', snapshot_at = 7,"
                 " last_error = 'boom', last_success_at = 6")
    conn.commit()
    conn.close()
    migrate(path)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT block_id, target, stored_size, queued_at FROM"
                            " backup_queue").fetchall() == [(b"\x01" * 32, "primary", 20, 5)]
        assert conn.execute("SELECT name, location, snapshot_id, last_error, last_success_at"
                            " FROM backup_targets").fetchall() == [
            ("primary", "", "s1", "boom", 6)]
        conn.execute("INSERT INTO blocks (id, size, stored_size, created_at)"
                     " VALUES (?, 1, 2, 9)", (b"\x02" * 32,))
        assert conn.execute("SELECT count(*) FROM backup_queue").fetchone() == (2,)
    finally:
        conn.close()


async def test_a_bound_primary_is_adopted_not_copied_again(
        open_rt: OpenRuntime, s3_server: S3Server) -> None:
    """After the upgrade to 0013 the primary's queue is bound to the bucket
    configured, without queueing again what 0012 copied there."""
    bucket = s3_server.create_bucket()
    runtime = await open_rt(s3_server.url, bucket)
    who = await alice(runtime)
    await runtime.files.upload(who, "/a.bin", body(os.urandom(30_000)))
    await runtime.backup.copy_pass()
    async with runtime.db.write() as conn:  # as migration 0013 leaves it
        await conn.execute("UPDATE backup_targets SET location = ''")
    assert (await runtime.backup.copy_pass()).uploaded == 0, "nothing was queued again"
    status = await runtime.backup.status()
    assert pending(status).blocks == 0
    assert primary(status).location == runtime.backup.targets[0].bucket.target.location
