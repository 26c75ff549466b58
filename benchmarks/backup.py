"""Backup to S3: replication throughput, what users see meanwhile, restore time.

    python benchmarks/backup.py [--size-mib 2048] [--user-mib 1024] [--files 10000]
                                [--parallel 8] [--replica] [--keep]

Against moto's S3 server (``python -m moto.server``, in memory) on 127.0.0.1
and a fresh `selfdrive serve` (one process):

1. with backup off, SIZE_MIB of new random data (no dedup, incompressible)
   is uploaded as 64 MiB files, 4 at a time; the backup queue fills anyway
   (a trigger records every block), then USER_MIB more: the upload rate
   users see with no replication running (measured again at the end, on a
   restart with backup off, and averaged: the machine may be shared);
2. the server restarts with [backup] pointing at a bucket (and, with
   --replica, [backup.replica] at a second one on the same S3 server); the
   replication loop starts at once.  REPLICATION_ALONE_S later USER_MIB more
   is uploaded the same way: the upload rate users see while replication runs.
   Replication throughput is the stored bytes copied over the time from the
   restart until the queue (read from meta.db) is empty.  Peak RSS of the
   server is sampled every 50 ms: over the first REPLICATION_ALONE_S of the
   replication, before users upload (an upload's buffers stay in the heap
   afterwards), then over the rest;
3. a second server, with backup on, gets FILES files of 4 KiB (distinct)
   over 16 connections (its loop copies them meanwhile), `selfdrive backup
   now` copies what is left and a snapshot, and `selfdrive restore
   --from-backup` rebuilds a new data dir from the bucket (the old keys/
   folder copied over); its wall time and peak RSS are measured.

Prints a Markdown report (1 MB = 10^6 bytes).  moto keeps objects in memory
and is single-process Python: it, not selfdrive, is the ceiling of these
figures; a real S3 server or AWS answers many more requests at once.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from _server import MB, BenchError, RssSampler, Server, free_port, machine, work_dir

MIB = 1024 * 1024
FILE_MIB = 64
#: seconds of replication before users upload (peak RSS of replication alone)
REPLICATION_ALONE_S = 5.0
BUCKET, REPLICA = "bench-primary", "bench-replica"


@contextmanager
def moto(log: Path, nice: int = 0) -> Iterator[str]:
    """moto's S3 server on 127.0.0.1; with *nice*, at that CPU priority."""
    port = free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                                 "-p", str(port)], stdout=out, stderr=subprocess.STDOUT,
                                preexec_fn=(lambda: os.nice(nice)) if nice else None)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url + "/moto-api/", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise BenchError(f"moto's server did not start: {log}") from None
                time.sleep(0.1)
        for name in (BUCKET, REPLICA):
            httpx.put(f"{url}/{name}", timeout=10).raise_for_status()
        yield url
    finally:
        proc.kill()
        proc.wait()


def backup_config(url: str, replica: bool, parallel: int) -> str:
    text = (f'[backup]\nendpoint_url = "{url}"\nbucket = "{BUCKET}"\nregion = "us-east-1"\n'
            'access_key_id = "bench"\nsecret_access_key = "bench"\n'
            f"parallel_uploads = {parallel}\nmax_backoff_s = 5.0\n")
    if replica:
        text += (f'\n[backup.replica]\nendpoint_url = "{url}"\nbucket = "{REPLICA}"\n'
                 'region = "us-east-1"\naccess_key_id = "bench"\nsecret_access_key = "bench"\n')
    return text


async def upload(base: str, token: str, total_mib: int, tag: str,
                 parallel: int = 4) -> float:
    """Upload *total_mib* of random data as 64 MiB files, *parallel* at a
    time; returns MB/s."""

    async def body(mib: int) -> AsyncIterator[bytes]:
        for _ in range(mib):
            yield os.urandom(MIB)

    sizes = [FILE_MIB] * (total_mib // FILE_MIB) + ([total_mib % FILE_MIB]
                                                  if total_mib % FILE_MIB else [])
    gate = asyncio.Semaphore(parallel)
    async with httpx.AsyncClient(base_url=base, timeout=600,
                                 headers={"Authorization": f"Bearer {token}"}) as client:

        async def one(i: int, mib: int) -> None:
            async with gate:
                r = await client.put("/api/v1/files/content",
                                     params={"path": f"/{tag}/{i}.bin"}, content=body(mib))
                if r.status_code != 201:
                    raise BenchError(f"upload {tag}/{i}: HTTP {r.status_code} {r.text[:200]}")

        started = time.monotonic()
        await asyncio.gather(*(one(i, mib) for i, mib in enumerate(sizes)))
        took = time.monotonic() - started
    return total_mib * MIB / took / MB


def queued(data: Path) -> tuple[int, int]:
    """(rows, stored bytes) left in the backup queue, read from meta.db."""
    conn = sqlite3.connect(f"file:{data / 'meta.db'}?mode=ro", uri=True)
    try:
        rows, size = conn.execute(
            "SELECT count(*), coalesce(sum(stored_size), 0) FROM backup_queue").fetchone()
    finally:
        conn.close()
    return int(rows), int(size)


def selfdrive(*args: str, data: Path, config: Path) -> subprocess.CompletedProcess[str]:
    r = subprocess.run([sys.executable, "-m", "selfdrive", *args, "--config", str(config),
                        "--data", str(data)], capture_output=True, text=True)
    if r.returncode != 0:
        raise BenchError(f"selfdrive {' '.join(args)}: {r.stderr[-2000:]}")
    return r


def replication(work: Path, url: str, args: argparse.Namespace) -> list[str]:
    data, plain, backed = work / "data", work / "plain.toml", work / "backup.toml"
    plain.write_text("")
    backed.write_text(backup_config(url, args.replica, args.parallel))
    server = Server(data, plain, work / "server.log")
    try:
        server.wait_ready()
        token, base = server.token(), f"http://{server.host}:{server.port}"
        asyncio.run(upload(base, token, args.size_mib, "load"))
        alone = asyncio.run(upload(base, token, args.user_mib, "alone"))
    finally:
        server.stop()
    rows, size = queued(data)
    server = Server(data, backed, work / "server.log")
    try:
        server.wait_ready()
        started = time.monotonic()
        base = f"http://{server.host}:{server.port}"  # the device token of before still works
        with RssSampler(server.pid) as rss_alone:
            time.sleep(REPLICATION_ALONE_S)
        with RssSampler(server.pid) as rss:
            left_then = queued(data)[0]
            during = asyncio.run(upload(base, token, args.user_mib, "during"))
            user_done = time.monotonic() - started
            if queued(data)[0] == 0:
                print("warning: replication ended before the users' upload did",
                      file=sys.stderr)
            while queued(data)[0]:
                if server.proc.poll() is not None:
                    raise BenchError(f"the server died:\n{server.log_tail()}")
                time.sleep(0.2)
            took = time.monotonic() - started
        copied = (size + args.user_mib * MIB) * (2 if args.replica else 1)
    finally:
        server.stop()
    server = Server(data, plain, work / "server.log")
    try:
        server.wait_ready()
        base = f"http://{server.host}:{server.port}"
        again = asyncio.run(upload(base, token, args.user_mib, "again"))
    finally:
        server.stop()
    targets = "two buckets (primary and replica)" if args.replica else "one bucket"
    return [
        f"| replication of {args.size_mib} MiB of new blocks ({rows} queue rows) to {targets}"
        f" | {took:.1f} s, {copied / took / MB:.1f} MB/s of stored bytes sent |",
        f"| users' upload, {args.user_mib} MiB in 64 MiB files, 4 at a time, no replication"
        f" | {(alone + again) / 2:.1f} MB/s (before: {alone:.1f}, after: {again:.1f}) |",
        f"| the same while replication runs ({left_then} rows still queued when it began,"
        f" it ended {user_done:.0f} s into the replication) | {during:.1f} MB/s"
        f" ({during / ((alone + again) / 2) * 100:.0f}% of it) |",
        f"| peak RSS of the server, its first {REPLICATION_ALONE_S:.0f} s of replication alone"
        f" | {rss_alone.peak:.0f} MB (at its start: {rss_alone.before:.0f}) |",
        f"| peak RSS of the server, then users uploading while it replicates"
        f" | {rss.peak:.0f} MB |",
    ]


async def small_files(base: str, token: str, count: int) -> float:
    async with httpx.AsyncClient(base_url=base, timeout=60,
                                 limits=httpx.Limits(max_connections=16),
                                 headers={"Authorization": f"Bearer {token}"}) as client:
        gate = asyncio.Semaphore(16)

        async def one(i: int) -> None:
            async with gate:
                r = await client.put("/api/v1/files/content",
                                     params={"path": f"/small/{i // 1000}/{i}.txt"},
                                     content=os.urandom(4096))
                if r.status_code != 201:
                    raise BenchError(f"small file {i}: HTTP {r.status_code} {r.text[:200]}")

        started = time.monotonic()
        await asyncio.gather(*(one(i) for i in range(count)))
        return time.monotonic() - started


def restore(work: Path, url: str, args: argparse.Namespace) -> list[str]:
    data, config = work / "small" / "data", work / "small.toml"
    config.write_text(backup_config(url, args.replica, args.parallel).replace(
        'bucket = "bench-', 'prefix = "small"\nbucket = "bench-'))
    data.parent.mkdir()
    server = Server(data, config, work / "small.log")
    try:
        server.wait_ready()
        token, base = server.token(), f"http://{server.host}:{server.port}"
        took_up = asyncio.run(small_files(base, token, args.files))
    finally:
        server.stop()
    started = time.monotonic()
    selfdrive("backup", "now", data=data, config=config)
    took_now = time.monotonic() - started
    new = work / "restored" / "data"
    new.mkdir(parents=True)
    shutil.copytree(data / "keys", new / "keys")
    started = time.monotonic()
    out_file, err_file = work / "restore.out", work / "restore.err"
    with open(out_file, "wb") as out, open(err_file, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "selfdrive", "restore", "--from-backup",
                                 "--config", str(config), "--data", str(new)],
                                stdout=out, stderr=err)
        # wait4: this child's own peak RSS (ru_maxrss, KiB), not the largest child's
        _, status, usage = os.wait4(proc.pid, 0)
    took = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise BenchError(f"restore failed: {err_file.read_text()[-2000:]}")
    peak_mb = usage.ru_maxrss * 1024 / MB
    out_text = out_file.read_text()
    fsck = selfdrive("fsck", data=new, config=config)
    return [
        f"| {args.files} files of 4 KiB uploaded over 16 connections | {took_up:.1f} s |",
        f"| `selfdrive backup now` of them (blocks and a snapshot) | {took_now:.1f} s |",
        f"| `selfdrive restore --from-backup` of those {args.files} files | {took:.1f} s"
        f" ({args.files / took:.0f} files/s), peak RSS {peak_mb:.0f} MB |",
        f"| restore's report | {out_text.strip().splitlines()[-1][:200]} |",
        f"| fsck of the restored dir | {fsck.stdout.strip().splitlines()[-1][:120]} |",
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mib", type=int, default=2048, help="new data to replicate")
    ap.add_argument("--user-mib", type=int, default=1024,
                    help="what users upload, without and during replication")
    ap.add_argument("--files", type=int, default=10_000, help="files to restore (0: skip)")
    ap.add_argument("--parallel", type=int, default=8, help="[backup] parallel_uploads")
    ap.add_argument("--replica", action="store_true", help="a replica bucket too")
    ap.add_argument("--keep", action="store_true", help="keep the work dir")
    ap.add_argument("--moto-nice", type=int, default=0,
                    help="run moto at this nice level (19: it gets only CPU the server and"
                         " users leave, as a bucket on another machine takes none)")
    args = ap.parse_args()
    with work_dir("selfdrive-backup-", Path("/var/tmp"), args.keep) as work, \
            moto(work / "moto.log", args.moto_nice) as url:
        rows = replication(work, url, args)
        if args.files:
            rows += restore(work, url, args)
    print(f"# selfdrive backup figures\n\n{machine()}\n- S3 server: moto {_moto_version()}"
          f" on 127.0.0.1 (in memory, nice {args.moto_nice});"
          f" parallel_uploads = {args.parallel}\n")
    print("| figure | value |\n|---|---|")
    print("\n".join(rows))


def _moto_version() -> str:
    from importlib.metadata import version
    return version("moto")


if __name__ == "__main__":
    main()
