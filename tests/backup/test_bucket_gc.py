"""Garbage collection in the backup buckets (docs/backup.md): a block the
local collector deleted leaves both buckets only after bucket_gc_grace_days,
and never while a snapshot kept in a bucket may reference it; against moto's
real S3 server, with a clock the test moves."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from selfdrive.config import load
from selfdrive.core.clock import FakeClock
from selfdrive.services.runtime import Runtime, open_runtime
from selfdrive.store.s3 import S3Bucket, block_name
from tests.backup.conftest import alice, backup_env, body, replica_env
from tests.backup.test_replica import bucket_at
from tests.conftest import S3Server

pytestmark = pytest.mark.anyio

DAY_S = 24 * 3600.0


async def has(bucket: S3Bucket, block_id: bytes) -> bool:
    return await bucket.stat(block_name(block_id)) is not None


async def test_bucket_gc_waits_for_the_grace_period_and_the_kept_snapshots(
        tmp_path: Path, s3_server: S3Server) -> None:
    first, second = s3_server.create_bucket(), s3_server.create_bucket()
    env = {"HOME": str(tmp_path), **backup_env(s3_server.url, first),
           **replica_env(s3_server.url, second),
           "SELFDRIVE_BACKUP_KEEP_SNAPSHOTS": "1", "SELFDRIVE_BACKUP_BUCKET_GC_GRACE_DAYS": "30"}
    config, secrets = load(None, data_dir=tmp_path / "data", env=env)
    clock = FakeClock(int(time.time() * 1000))
    runtime: Runtime = await open_runtime(config, secrets, clock=clock)
    try:
        who = await alice(runtime)
        await runtime.files.upload(who, "/keep.bin", body(os.urandom(50_000)))
        await runtime.files.upload(who, "/gone.bin", body(os.urandom(60_000)))
        await runtime.files.upload(who, "/later.bin", body(os.urandom(70_000)))
        ids = {p: [e.id for e in (await runtime.files.open(who, p)).extents]
               for p in ("/keep.bin", "/gone.bin", "/later.bin")}
        await runtime.backup.copy_pass()
        await runtime.backup.snapshot()  # references every block
        buckets = [bucket_at(s3_server, first, "home"), bucket_at(s3_server, second, "far")]

        async def in_buckets(path: str) -> list[bool]:
            return [await has(b, i) for b in buckets for i in ids[path]]

        # gone.bin: deleted, purged, collected locally
        await runtime.files.delete(who, "/gone.bin")
        await runtime.trash.purge(who, None)
        await runtime.maintenance.gc()  # marks
        clock.advance(2 * 3600)
        report = await runtime.maintenance.gc()  # sweeps: the row goes, then the file
        assert report.blocks_freed == len(ids["/gone.bin"])
        assert (await runtime.bucket_gc.run_once()).deleted == 0  # noticed now
        assert await runtime.bucket_gc.pending() == (len(ids["/gone.bin"]), report.bytes_freed)

        # past the grace period, the kept snapshot (older than the delete) still holds it
        clock.advance(31 * DAY_S)
        assert (await runtime.bucket_gc.run_once()).deleted == 0
        assert all(await in_buckets("/gone.bin"))

        # later.bin is collected now: its grace starts now
        await runtime.files.delete(who, "/later.bin")
        await runtime.trash.purge(who, None)
        await runtime.maintenance.gc()
        clock.advance(2 * 3600)
        await runtime.maintenance.gc()
        await runtime.bucket_gc.run_once()

        # a new snapshot replaces the old one (keep_snapshots = 1): gone.bin goes from
        # both buckets; later.bin, within its grace, and keep.bin stay
        clock.advance(60)
        await runtime.backup.snapshot()
        report_gc = await runtime.bucket_gc.run_once()
        assert report_gc.deleted == len(ids["/gone.bin"]) and not report_gc.errors
        assert not any(await in_buckets("/gone.bin"))
        assert all(await in_buckets("/later.bin")) and all(await in_buckets("/keep.bin"))
        assert (await runtime.bucket_gc.pending())[0] == len(ids["/later.bin"])

        # past later.bin's grace too: it goes; keep.bin, referenced, never does
        clock.advance(31 * DAY_S)
        await runtime.backup.snapshot()
        assert (await runtime.bucket_gc.run_once()).deleted == len(ids["/later.bin"])
        assert not any(await in_buckets("/later.bin"))
        assert all(await in_buckets("/keep.bin"))
        assert await runtime.bucket_gc.pending() == (0, 0)
    finally:
        await runtime.close()


async def test_a_block_stored_again_is_not_lost_from_the_bucket(
        tmp_path: Path, s3_server: S3Server, bucket: str) -> None:
    env = {"HOME": str(tmp_path), **backup_env(s3_server.url, bucket),
           "SELFDRIVE_BACKUP_KEEP_SNAPSHOTS": "1"}
    config, secrets = load(None, data_dir=tmp_path / "data", env=env)
    clock = FakeClock(int(time.time() * 1000))
    runtime = await open_runtime(config, secrets, clock=clock)
    try:
        who = await alice(runtime)
        content = os.urandom(40_000)
        await runtime.files.upload(who, "/a.bin", body(content))
        block_id = (await runtime.files.open(who, "/a.bin")).extents[0].id
        await runtime.backup.copy_pass()
        await runtime.files.delete(who, "/a.bin")
        await runtime.trash.purge(who, None)
        await runtime.maintenance.gc()
        clock.advance(2 * 3600)
        await runtime.maintenance.gc()
        await runtime.bucket_gc.run_once()
        # the same content comes back before the bucket's grace ends: no garbage any more
        await runtime.files.upload(who, "/b.bin", body(content))
        assert await runtime.bucket_gc.pending() == (0, 0)
        clock.advance(31 * DAY_S)
        await runtime.backup.snapshot()
        assert (await runtime.bucket_gc.run_once()).deleted == 0
        assert await has(bucket_at(s3_server, bucket, "home"), block_id)
    finally:
        await runtime.close()
