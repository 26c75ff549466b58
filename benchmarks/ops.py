"""What a running server costs and how it answers under a small crowd.

    python benchmarks/ops.py [--uploads 100] [--upload-mib 8] [--clients 50]
                             [--requests 40] [--keep]

On a fresh `selfdrive serve` (one process) on 127.0.0.1:

1. idle RSS: VmRSS after start and one sign-in, and again after 10 s idle;
2. RSS under UPLOADS parallel uploads of UPLOAD_MIB MiB each (PUT
   /api/v1/files/content, one connection each, bodies streamed from random
   bytes): peak VmRSS sampled every 50 ms, and the time they took;
3. small-file latency at CLIENTS concurrent clients: each client, on its own
   kept-alive connection, does REQUESTS rounds of "PUT a 4 KiB file, GET it
   back"; p50 / p99 / max of each request's latency, and requests/s.

The clients run in this process (asyncio + httpx) on the same machine, so
their CPU is in the latencies. Prints a Markdown report (1 MB = 10^6 bytes).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import AsyncIterator

import httpx
from _server import MB, RssSampler, Server, machine, status_mb, work_dir

MIB = 1024 * 1024


async def _uploads(base: str, token: str, count: int, size: int) -> float:
    limits = httpx.Limits(max_connections=count + 5)
    piece = os.urandom(MIB)

    async def body(i: int) -> AsyncIterator[bytes]:
        for k in range(size // MIB):
            yield piece[:-16] + i.to_bytes(8, "big") + k.to_bytes(8, "big")  # no dedup

    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=600,
                                 headers={"Authorization": f"Bearer {token}"}) as client:
        started = time.monotonic()
        answers = await asyncio.gather(*[
            client.put("/api/v1/files/content", params={"path": f"/load/{i}.bin"},
                       content=body(i)) for i in range(count)])
        took = time.monotonic() - started
    bad = [a.status_code for a in answers if a.status_code != 201]
    if bad:
        raise SystemExit(f"{len(bad)} uploads failed: {bad[:5]}")
    return took


async def _small_files(base: str, token: str, clients: int, rounds: int
                       ) -> tuple[list[float], float]:
    latencies: list[float] = []
    data = os.urandom(4096)

    async def one(c: int) -> None:
        async with httpx.AsyncClient(base_url=base, timeout=60,
                                     headers={"Authorization": f"Bearer {token}"}) as client:
            for r in range(rounds):
                path = f"/small/{c}/{r}.txt"
                t = time.monotonic()
                put = await client.put("/api/v1/files/content", params={"path": path},
                                       content=data + bytes([c % 256, r % 256]))
                latencies.append(time.monotonic() - t)
                t = time.monotonic()
                got = await client.get("/api/v1/files/content", params={"path": path})
                latencies.append(time.monotonic() - t)
                if put.status_code != 201 or got.status_code != 200:
                    raise SystemExit(f"client {c}: PUT {put.status_code}, GET {got.status_code}")

    started = time.monotonic()
    await asyncio.gather(*[one(c) for c in range(clients)])
    return latencies, time.monotonic() - started


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploads", type=int, default=100)
    parser.add_argument("--upload-mib", type=int, default=8)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    with work_dir("selfdrive-ops-", None, args.keep) as work:
        config = work / "selfdrive.toml"
        config.write_text("")
        server = Server(work / "data", config, work / "server.log")
        try:
            server.wait_ready()
            token = server.token()
            base = f"http://{server.host}:{server.port}"
            started_rss = status_mb(server.pid, "VmRSS")
            time.sleep(10)
            idle_rss = status_mb(server.pid, "VmRSS")
            with RssSampler(server.pid) as sampler:
                took = asyncio.run(_uploads(base, token, args.uploads, args.upload_mib * MIB))
            total = args.uploads * args.upload_mib * MIB
            latencies, wall = asyncio.run(_small_files(base, token, args.clients, args.requests))
        finally:
            server.stop()
    print(f"# selfdrive ops figures\n\n{machine()}\n")
    print("| figure | value |\n|---|---:|")
    print(f"| RSS after start and a sign-in | {started_rss:.0f} MB |")
    print(f"| RSS idle 10 s later | {idle_rss:.0f} MB |")
    print(f"| RSS peak, {args.uploads} parallel uploads of {args.upload_mib} MiB"
          f" | {sampler.peak:.0f} MB |")
    print(f"| those uploads: time, rate | {took:.1f} s, {total / took / MB:.0f} MB/s |")
    print(f"| {args.clients} clients x {args.requests} (PUT 4 KiB + GET): p50 latency"
          f" | {statistics.median(latencies) * 1000:.1f} ms |")
    print(f"| p99 latency | {_pct(latencies, 99) * 1000:.1f} ms |")
    print(f"| max latency | {max(latencies) * 1000:.1f} ms |")
    print(f"| requests/s | {len(latencies) / wall:.0f} |")


if __name__ == "__main__":
    main()
