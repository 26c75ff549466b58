"""The server's CPU for one file sent by a simple PUT and by tus PATCHes, side by side.

    python benchmarks/tus_cpu.py [--size 512MiB] [--rounds 3] [--patch-mib 64,8]

Starts `selfdrive serve` (benchmarks/_server.py), then, in each round and in an order
that rotates from round to round, uploads a file of fresh random bytes (nothing
deduplicates) once by `PUT /api/v1/files/content` and once per PATCH size as a tus upload
(benchmarks/transfer.py's clients: one connection, each body streamed from the file),
timing each with the server's CPU seconds from /proc/PID/stat.  Prints the medians per
GiB, the difference to the PUT, what one PATCH costs besides its bytes (from the rows of
two PATCH sizes) and, for scale, the CPU of a HEAD of an upload (any request's floor).  Run it
with the project's Python; set PYTHONPATH to a checkout to measure that version of the
server (and run it from outside the checkout, so that `-m selfdrive` finds that one).
"""

from __future__ import annotations

import argparse
import base64
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from _server import MB, BenchError, Server, cpu_seconds, machine, work_dir
from transfer import UPLOADS, random_pieces, upload, upload_tus, write_pieces

from selfdrive.config import parse_size

GIB = 1 << 30
SMALL_REQUESTS = 200


def server_cpu(server: Server, fn: Callable[[], None]) -> tuple[float, float]:
    """(server CPU seconds, wall seconds) of *fn*."""
    cpu0, t0 = cpu_seconds(server.pid), time.perf_counter()
    fn()
    return cpu_seconds(server.pid) - cpu0, time.perf_counter() - t0


def head_cpu_ms(server: Server, token: str) -> float:
    """Server CPU ms per HEAD of an upload: the floor of any authenticated request."""
    conn = server.connect()
    headers = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
    meta = "path " + base64.b64encode(b"/small.bin").decode()
    conn.request("POST", UPLOADS, headers=headers | {"Upload-Length": "1",
                                                     "Upload-Metadata": meta})
    resp = conn.getresponse()
    resp.read()
    url = resp.getheader("Location")
    if resp.status != 201 or not url:
        raise BenchError(f"POST {UPLOADS}: HTTP {resp.status}")

    def heads() -> None:
        for _ in range(SMALL_REQUESTS):
            conn.request("HEAD", url, headers=headers)
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                raise BenchError(f"HEAD {url}: HTTP {resp.status}")

    cpu, _ = server_cpu(server, heads)
    conn.close()
    return cpu / SMALL_REQUESTS * 1000


def run(size: int, rounds: int, patch_sizes: list[int], work: Path) -> None:
    config = work / "selfdrive.toml"
    config.write_text(f"[limits]\ndefault_quota_bytes = {10**15}\n"
                      f"max_file_bytes = {max(size, 10 * GIB)}\n")
    server = Server(work / "data", config, work / "server.log")
    src = work / "source.bin"
    modes = ["PUT"] + [f"tus {n >> 20} MiB PATCHes" for n in patch_sizes]
    cpu: dict[str, list[float]] = {m: [] for m in modes}
    wall: dict[str, list[float]] = {m: [] for m in modes}
    try:
        server.wait_ready()
        token = server.token()
        write_pieces(src, random_pieces(16 << 20))  # the server's pools start here, untimed
        upload(server, token, src, "/warm-up.bin")
        n = 0
        for r in range(rounds):
            for mode in modes[r % len(modes):] + modes[: r % len(modes)]:
                n += 1
                write_pieces(src, random_pieces(size))
                if mode == "PUT":
                    fn = partial(upload, server, token, src, f"/put-{n}.bin")
                else:
                    patch = patch_sizes[modes.index(mode) - 1]
                    fn = partial(upload_tus, server, token, src, f"/tus-{n}.bin", patch)
                c, w = server_cpu(server, fn)
                cpu[mode].append(c)
                wall[mode].append(w)
                print(f"round {r + 1}: {mode}: {c:.2f} CPU-s, {size / MB / w:.0f} MB/s",
                      file=sys.stderr)
        head_ms = head_cpu_ms(server, token)
    finally:
        server.stop()
    put = statistics.median(cpu["PUT"]) * GIB / size
    print(f"## Server CPU, PUT beside tus PATCHes, {size / MB:.0f} MB files, {rounds} rounds"
          f"\n\n{machine()}\n")
    print("| upload | server CPU-s per GiB (median) | each round | vs PUT | median MB/s |")
    print("|---|---:|---|---:|---:|")
    for m in modes:
        per_gib = statistics.median(cpu[m]) * GIB / size
        rates = statistics.median(size / MB / w for w in wall[m])
        each = ", ".join(f"{c * GIB / size:.2f}" for c in cpu[m])
        print(f"| {m} | {per_gib:.2f} | {each} | {per_gib - put:+.2f} | {rates:.0f} |")
    print()
    if len(patch_sizes) > 1:  # what one PATCH costs besides its bytes
        big, small = max(patch_sizes), min(patch_sizes)
        extra = (statistics.median(cpu[modes[patch_sizes.index(small) + 1]])
                 - statistics.median(cpu[modes[patch_sizes.index(big) + 1]]))
        count = -(-size // small) - -(-size // big)
        print(f"- per PATCH, from the difference of the {small >> 20} and {big >> 20} MiB rows:"
              f" {extra / count * 1000:.1f} ms of server CPU")
    print(f"- a HEAD of an upload: {head_ms:.2f} ms of server CPU per request"
          f" ({SMALL_REQUESTS} in a row)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="512MiB", help="bytes per upload (default 512MiB)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--patch-mib", default="64,8", help="PATCH sizes in MiB (default 64,8)")
    ap.add_argument("--data-dir", type=Path, default=None,
                    help="parent of the work dir (default /var/tmp)")
    args = ap.parse_args()
    patch_sizes = [int(x) << 20 for x in args.patch_mib.split(",")]
    try:
        with work_dir("selfdrive-tus-cpu-", args.data_dir or Path("/var/tmp"), False) as work:
            run(parse_size(args.size), args.rounds, patch_sizes, work)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
