"""Maintenance throughput: garbage collection and fsck.

    python benchmarks/maintenance.py [--files 200] [--mib-per-file 4]

Uploads files through the service layer into a fresh data dir, purges half of
them from the trash, moves a fake clock past the grace period, and times the
GC run that frees their blocks, a second run with nothing to free (the cost of
the mark and orphan sweep over a store of that size), and an fsck of what is
left (every block read and verified; the page cache is warm).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from selfdrive.config import load
from selfdrive.core.clock import FakeClock, SystemClock
from selfdrive.services.auth import Principal
from selfdrive.services.runtime import open_runtime


async def body(size: int) -> AsyncIterator[bytes]:
    left = size
    while left:
        piece = os.urandom(min(left, 1 << 20))
        left -= len(piece)
        yield piece


async def run(files: int, mib: int, work: Path) -> None:
    config, secrets = load(None, data_dir=work / "data", env={"HOME": str(work)})
    clock = FakeClock(start_ms=SystemClock().now_ms())
    rt = await open_runtime(config, secrets, clock=clock)
    try:
        user = await rt.auth.create_user("bench", "bench-password", quota_bytes=10**15)
        who = Principal(user.id, user.name, False, None, None)
        keep = files // 2
        for i in range(files):
            await rt.files.upload(who, f"/f{i}.bin", body(mib << 20))
        for i in range(keep, files):
            await rt.files.delete(who, f"/f{i}.bin")
        await rt.trash.purge(who, None)
        await rt.maintenance.gc()  # starts the grace clock
        clock.advance(2 * 3600)
        start = time.perf_counter()
        report = await rt.maintenance.gc()
        took = time.perf_counter() - start
        start = time.perf_counter()
        idle = await rt.maintenance.gc()
        idle_took = time.perf_counter() - start
        print(f"store: {files} files of {mib} MiB, half purged; {report.summary()}")
        print("| GC run | blocks | MB | seconds | blocks/s | MB/s |")
        print("|---|---:|---:|---:|---:|---:|")
        print(f"| freeing | {report.blocks_freed} | {report.bytes_freed / 1e6:.0f} | {took:.2f}"
              f" | {report.blocks_freed / took:.0f} | {report.bytes_freed / 1e6 / took:.0f} |")
        print(f"| nothing to free (mark + orphan sweep) | {idle.blocks_freed} | 0 |"
              f" {idle_took:.2f} | - | - |")
        start = time.perf_counter()
        fsck = await rt.fsck.check(repair=False)
        took = time.perf_counter() - start
        assert fsck.whole, fsck.summary()
        print(f"\nfsck: {fsck.summary()}")
    finally:
        await rt.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--mib-per-file", type=int, default=4)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        asyncio.run(run(args.files, args.mib_per_file, Path(tmp)))


if __name__ == "__main__":
    main()
