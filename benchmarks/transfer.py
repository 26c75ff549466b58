"""Single-stream upload and download throughput of a real selfdrive server, next to a plain copy.

    python benchmarks/transfer.py [--size 1GiB] [--data-dir DIR] [--keep]

Makes two source files (random bytes, and text that zstd shrinks to about 30%), times a
plain copy of each on the same disk (the ceiling), then starts `selfdrive serve` on a free
port and times one PUT and one GET of each, with the server's CPU time and memory.
Prints a Markdown report; 1 MB = 10^6 bytes.  Run it with the project's Python.
"""

from __future__ import annotations

import argparse
import array
import hashlib
import http.client
import itertools
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from urllib.parse import quote

from _server import (
    IO,
    MB,
    BenchError,
    RssSampler,
    Server,
    cpu_seconds,
    disk_usage,
    machine,
    send_body,
    status_mb,
)

from selfdrive.config import parse_size

PIECE = 16 << 20  # generation; every read and write of a transfer is IO = 1 MiB
SEED = 20240601
LETTERS = "etaoinshrdlcumwfgypbvkjxqz"
LETTER_FREQ = [12.0, 9, 8, 8, 7, 7, 6, 6, 6, 4, 4, 3, 3, 2.4, 2.2, 2, 2, 2, 1.9, 1.5, 1, 0.8, 0.2,
               0.2, 0.1, 0.1]


@dataclass
class Row:
    label: str
    mb_s: float
    server_cpu_s: float | None = None
    peak_rss_mb: float | None = None
    rss_growth_mb: float | None = None
    client_cpu_s: float | None = None


def random_pieces(size: int) -> Iterator[bytes]:
    for start in range(0, size, PIECE):
        yield os.urandom(min(PIECE, size - start))


def text_pieces(size: int) -> Iterator[bytes]:
    """Lines of words from a fixed, Zipf-weighted vocabulary of 4000 made-up words."""
    rng = random.Random(SEED)
    words: set[str] = set()
    while len(words) < 4000:
        length = max(1, min(14, round(rng.gauss(6.5, 2.5))))
        words.add("".join(rng.choices(LETTERS, LETTER_FREQ, k=length)))
    vocab = sorted(words)
    cum = list(itertools.accumulate(1 / (i + 1) for i in range(len(vocab))))
    # 65536 two-word phrases, picked by random 16-bit indices: fast enough in pure Python.
    table = [" ".join(rng.choices(vocab, cum_weights=cum, k=2)).encode()
             + (b"\n" if rng.random() < 0.16 else b" ") for _ in range(65536)]
    mean = sum(map(len, table)) / len(table)
    carry = b""
    for start in range(0, size, PIECE):
        need = min(PIECE, size - start)
        while len(carry) < need:
            idx = array.array("H", rng.randbytes(2 * int((need - len(carry)) / mean + 64)))
            carry += b"".join(map(table.__getitem__, idx))
        yield carry[:need]
        carry = carry[need:]


def write_pieces(path: Path, pieces: Iterator[bytes]) -> str:
    """Write *pieces* to *path* (fsynced); their SHA-256."""
    h = hashlib.sha256()
    with open(path, "wb") as f:
        for piece in pieces:
            f.write(piece)
            h.update(piece)
        f.flush()
        os.fsync(f.fileno())
    return h.hexdigest()


def copy_file(src: Path, dst: Path) -> None:
    buf = bytearray(IO)
    view = memoryview(buf)
    with open(src, "rb", buffering=0) as fin, open(dst, "wb") as fout:
        while n := fin.readinto(buf):
            fout.write(view[:n])  # as big as the buffer: goes straight to write(2)
        fout.flush()
        os.fsync(fout.fileno())


def upload(server: Server, token: str, src: Path, remote: str) -> None:
    """One PUT, the body streamed from the file, never held in memory."""
    conn = server.connect()
    conn.putrequest("PUT", "/api/v1/files/content?path=" + quote(remote))
    conn.putheader("Authorization", f"Bearer {token}")
    conn.putheader("Content-Type", "application/octet-stream")
    conn.putheader("Content-Length", str(src.stat().st_size))
    conn.endheaders()
    assert conn.sock is not None
    try:
        complete = send_body(conn.sock, src)
    except (BrokenPipeError, ConnectionResetError):
        complete = False
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    if resp.status not in (200, 201) or not complete:
        early = "" if complete else " (before the body was all sent)"
        raise BenchError(f"PUT {remote}: HTTP {resp.status}{early}: {body[:2000]!r}")


def download(server: Server, token: str, remote: str, size: int, sha256: str) -> None:
    """One GET, read in 1 MiB pieces, counted and hashed, then dropped."""
    conn = server.connect()
    conn.request("GET", "/api/v1/files/content?path=" + quote(remote),
                 headers={"Authorization": f"Bearer {token}"})
    resp = conn.getresponse()
    if resp.status != 200:
        raise BenchError(f"GET {remote}: HTTP {resp.status}: {resp.read()[:2000]!r}")
    buf = bytearray(IO)
    view = memoryview(buf)
    h, total = hashlib.sha256(), 0
    while n := resp.readinto(buf):
        h.update(view[:n])
        total += n
    conn.close()
    if total != size:
        raise BenchError(f"GET {remote}: {total} bytes, expected {size}")
    if h.hexdigest() != sha256:
        raise BenchError(f"GET {remote}: SHA-256 {h.hexdigest()} differs from the source's")


def timed(label: str, size: int, fn: Callable[[], None], pid: int | None = None) -> Row:
    """Run *fn*; with a server *pid*, also its CPU seconds and RSS (and our own CPU)."""
    if pid is None:
        t0 = time.perf_counter()
        fn()
        return Row(label, size / MB / (time.perf_counter() - t0))
    cpu0, mine0 = cpu_seconds(pid), time.process_time()
    with RssSampler(pid) as rss:
        t0 = time.perf_counter()
        fn()
        wall = time.perf_counter() - t0
    return Row(label, size / MB / wall, cpu_seconds(pid) - cpu0, rss.peak,
               rss.peak - rss.before, time.process_time() - mine0)


def table(rows: list[Row], ceilings: dict[str, float]) -> str:
    def num(x: float | None, fmt: str = ".1f") -> str:
        return "-" if x is None else format(x, fmt)

    out = ["| transfer | MB/s | x ceiling | server CPU s | peak RSS MB | RSS growth MB"
           " | client CPU s |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        ratio = r.mb_s / ceilings[r.label.split()[0]]
        out.append(f"| {r.label} | {r.mb_s:.0f} | {ratio:.2f} | {num(r.server_cpu_s, '.2f')}"
                   f" | {num(r.peak_rss_mb, '.0f')} | {num(r.rss_growth_mb, '.0f')}"
                   f" | {num(r.client_cpu_s, '.2f')} |")
    return "\n".join(out)


def run(size: int, work: Path) -> None:
    src, data = work / "src", work / "data"
    src.mkdir()
    sources: dict[str, tuple[Path, str]] = {}
    for kind, pieces in (("random", random_pieces), ("text", text_pieces)):
        t0 = time.perf_counter()
        sources[kind] = (src / f"{kind}.bin", write_pieces(src / f"{kind}.bin", pieces(size)))
        print(f"made {kind}.bin ({size / MB:.0f} MB) in {time.perf_counter() - t0:.1f} s",
              file=sys.stderr)
    rows: list[Row] = []
    ceilings: dict[str, float] = {}
    for kind, (path, _) in sources.items():
        rows.append(timed(f"{kind} copy ceiling", size, partial(copy_file, path, work / "copy")))
        ceilings[kind] = rows[-1].mb_s
        (work / "copy").unlink()
    config = work / "selfdrive.toml"  # quota and file size limits out of the way
    config.write_text(f"[limits]\ndefault_quota_bytes = {10**15}\n"
                      f"max_file_bytes = {max(size, 10 * 1024**3)}\n")
    server = Server(data, config, work / "server.log")
    try:
        server.wait_ready()
        token = server.token()
        stored: dict[str, int] = {}
        for kind, (path, digest) in sources.items():
            remote = f"/bench/{kind}.bin"
            used0 = disk_usage(data / "blocks")[0]
            put = partial(upload, server, token, path, remote)
            rows.append(timed(f"{kind} upload", size, put, server.pid))
            stored[kind] = disk_usage(data / "blocks")[0] - used0
            get = partial(download, server, token, remote, size, digest)
            rows.append(timed(f"{kind} download", size, get, server.pid))
        hwm = status_mb(server.pid, "VmHWM")
    except (OSError, http.client.HTTPException) as exc:  # e.g. the server died mid-transfer
        raise BenchError(f"{exc!r}; the server's log ends with:\n{server.log_tail()}") from exc
    finally:
        code = server.stop()
    rows = [r for kind in sources for r in rows if r.label.startswith(kind + " ")]
    used, apparent = disk_usage(data / "blocks")
    print(f"## selfdrive single-stream transfer, {size / MB:.0f} MB files\n\n{machine()}\n")
    print(table(rows, ceilings) + "\n")
    print(f"- blocks folder after both uploads: {used / MB:.0f} MB on disk"
          f" ({apparent / MB:.0f} MB apparent) for {2 * size / MB:.0f} MB uploaded")
    for kind, n in stored.items():
        print(f"  - {kind}.bin: {n / MB:.0f} MB on disk ({n / size:.1%} of the source)")
    print(f"- server VmHWM at the end: {hwm:.0f} MB; server exit code after SIGTERM: {code}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="1GiB", help="bytes per file, e.g. 256MiB (default 1GiB)")
    ap.add_argument("--data-dir", type=Path, default=None,
                    help="parent of the work dir (sources, copies, server data), on the disk"
                    " to measure (default /var/tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the work dir")
    args = ap.parse_args()
    size = parse_size(args.size)
    parent = args.data_dir or Path("/var/tmp")
    parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="selfdrive-bench-", dir=parent))
    try:
        run(size, work)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
