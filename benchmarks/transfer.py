"""Single-stream upload and download throughput of a real selfdrive server, next to a plain copy.

    python benchmarks/transfer.py [--size 1GiB] [--data-dir DIR] [--keep]

Makes two source files (random bytes, and text that zstd shrinks to about 30%), times a
plain copy of each on the same disk (the ceiling), then starts `selfdrive serve` on a free
port and times one PUT and one GET of each, with the server's CPU time and memory.  Beside
the PUT of random bytes it times resumable (tus 1.0) uploads with 8 MiB and with 64 MiB
PATCHes, each of its own random file made the same way (identical content would be
deduplicated and write no blocks), each checked by a GET afterwards.

Write amplification of an upload: what the server wrote to the disk meanwhile
(/proc/PID/io write_bytes; wchar where that stays 0) over what the file's new blocks take
on disk.  Prints a Markdown report; 1 MB = 10^6 bytes.  Run it with the project's Python.
"""

from __future__ import annotations

import argparse
import array
import base64
import hashlib
import http.client
import itertools
import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from urllib.parse import quote, urlsplit

from _server import (
    IO,
    MB,
    BenchError,
    RssSampler,
    Server,
    cpu_seconds,
    disk_usage,
    io_counters,
    machine,
    send_body,
    status_mb,
    work_dir,
)

from selfdrive.config import parse_size

PIECE = 16 << 20  # generation; every read and write of a transfer is IO = 1 MiB
SEED = 20240601
LETTERS = "etaoinshrdlcumwfgypbvkjxqz"
LETTER_FREQ = [12.0, 9, 8, 8, 7, 7, 6, 6, 6, 4, 4, 3, 3, 2.4, 2.2, 2, 2, 2, 1.9, 1.5, 1, 0.8, 0.2,
               0.2, 0.1, 0.1]
TUS_VERSION = "1.0.0"
UPLOADS = "/api/v1/uploads"
PATCH_SIZES = (8 << 20, 64 << 20)


@dataclass
class Row:
    label: str
    mb_s: float
    server_cpu_s: float | None = None
    peak_rss_mb: float | None = None
    rss_growth_mb: float | None = None
    client_cpu_s: float | None = None
    #: uploads: bytes the server wrote meanwhile (as counted by `counter`) and the
    #: growth of the blocks folder on disk
    written: int | None = None
    stored: int | None = None
    counter: str = "write_bytes"

    @property
    def write_amp(self) -> float | None:
        if self.written is None or not self.stored:
            return None
        return self.written / self.stored


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


def send_request(
    conn: http.client.HTTPConnection, method: str, url: str, headers: dict[str, str],
    src: Path, offset: int, length: int,
) -> tuple[http.client.HTTPResponse, bytes, str]:
    """One request whose body is *length* bytes of *src* from *offset*, streamed, never held
    in memory; the response, its body, and " (before the body was all sent)" or ""."""
    conn.putrequest(method, url)
    for name, value in (headers | {"Content-Length": str(length)}).items():
        conn.putheader(name, value)
    conn.endheaders()
    assert conn.sock is not None
    try:
        complete = send_body(conn.sock, src, offset, length)
    except (BrokenPipeError, ConnectionResetError):
        complete = False
    resp = conn.getresponse()
    body = resp.read()
    return resp, body, "" if complete else " (before the body was all sent)"


def upload(server: Server, token: str, src: Path, remote: str) -> None:
    """One PUT, the body streamed from the file."""
    conn = server.connect()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream"}
    url = "/api/v1/files/content?path=" + quote(remote)
    resp, body, early = send_request(conn, "PUT", url, headers, src, 0, src.stat().st_size)
    conn.close()
    if resp.status not in (200, 201) or early:
        raise BenchError(f"PUT {remote}: HTTP {resp.status}{early}: {body[:2000]!r}")


def upload_tus(server: Server, token: str, src: Path, remote: str, patch_bytes: int) -> None:
    """A tus 1.0 upload: POST, then PATCHes of *patch_bytes* one after another on one
    connection, each body streamed from the file and each answer checked (204, and the
    Upload-Offset it should reach); the last PATCH commits the file."""
    size = src.stat().st_size
    headers = {"Authorization": f"Bearer {token}", "Tus-Resumable": TUS_VERSION}
    meta = "path " + base64.b64encode(remote.encode()).decode()
    conn = server.connect()
    try:
        conn.request("POST", UPLOADS, headers=headers | {
            "Upload-Length": str(size), "Upload-Metadata": meta})
        resp = conn.getresponse()
        body = resp.read()
        location = resp.getheader("Location")
        if resp.status != 201 or not location:
            raise BenchError(f"POST {UPLOADS} for {remote}: HTTP {resp.status}: {body[:2000]!r}")
        url = urlsplit(location).path  # relative, or absolute from a proxy
        headers["Content-Type"] = "application/offset+octet-stream"
        offset = 0
        while True:  # at least one PATCH: an empty upload is committed by one too
            n = min(patch_bytes, size - offset)
            resp, body, early = send_request(
                conn, "PATCH", url, headers | {"Upload-Offset": str(offset)}, src, offset, n)
            reached = resp.getheader("Upload-Offset")
            if resp.status != 204 or early or reached != str(offset + n):
                raise BenchError(f"PATCH {url} of {remote} at {offset} (+{n}): HTTP"
                                 f" {resp.status}, Upload-Offset {reached}{early}:"
                                 f" {body[:2000]!r}")
            offset += n
            if offset >= size:
                return
    finally:
        conn.close()


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


def timed_upload(label: str, size: int, fn: Callable[[], None], server: Server) -> Row:
    """timed(), plus the server's bytes written meanwhile and the growth of blocks/ on disk."""
    blocks = server.data_dir / "blocks"
    io0, used0 = io_counters(server.pid), disk_usage(blocks)[0]
    row = timed(label, size, fn, server.pid)
    io1, used1 = io_counters(server.pid), disk_usage(blocks)[0]
    row.stored = used1 - used0
    row.written = io1["write_bytes"] - io0["write_bytes"]
    if row.written == 0:  # a filesystem that does not count block I/O per process
        row.counter, row.written = "wchar", io1["wchar"] - io0["wchar"]
    return row


def table(rows: list[Row], ceilings: dict[str, float]) -> str:
    def num(x: float | None, fmt: str = ".1f") -> str:
        return "-" if x is None else format(x, fmt)

    out = ["| transfer | MB/s | x ceiling | server CPU s | peak RSS MB | RSS growth MB"
           " | write amp. | client CPU s |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        ratio = r.mb_s / ceilings[r.label.split()[0]]
        amp = num(r.write_amp, ".2f") + ("*" if r.write_amp and r.counter != "write_bytes"
                                         else "")
        out.append(f"| {r.label} | {r.mb_s:.0f} | {ratio:.2f} | {num(r.server_cpu_s, '.2f')}"
                   f" | {num(r.peak_rss_mb, '.0f')} | {num(r.rss_growth_mb, '.0f')}"
                   f" | {amp} | {num(r.client_cpu_s, '.2f')} |")
    return "\n".join(out)


def mib(n: int) -> str:
    return f"{n >> 20} MiB"


def make_source(path: Path, pieces: Iterator[bytes], size: int) -> tuple[Path, str]:
    t0 = time.perf_counter()
    digest = write_pieces(path, pieces)
    print(f"made {path.name} ({size / MB:.0f} MB) in {time.perf_counter() - t0:.1f} s",
          file=sys.stderr)
    return path, digest


def run(size: int, work: Path) -> None:
    src, data = work / "src", work / "data"
    src.mkdir()
    sources = {kind: make_source(src / f"{kind}.bin", pieces(size), size)
               for kind, pieces in (("random", random_pieces), ("text", text_pieces))}
    # The same generator, a file of its own per resumable upload: nothing deduplicates.
    tus_sources = {n: make_source(src / f"random-tus-{n >> 20}.bin", random_pieces(size), size)
                   for n in PATCH_SIZES}
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
        for kind, (path, digest) in sources.items():
            remote = f"/bench/{kind}.bin"
            put = partial(upload, server, token, path, remote)
            rows.append(timed_upload(f"{kind} upload", size, put, server))
            get = partial(download, server, token, remote, size, digest)
            rows.append(timed(f"{kind} download", size, get, server.pid))
            if kind != "random":
                continue
            for n, (tus_path, tus_digest) in tus_sources.items():
                remote = f"/bench/{tus_path.name}"
                tus = partial(upload_tus, server, token, tus_path, remote, n)
                rows.append(timed_upload(f"random tus {mib(n)} PATCHes", size, tus, server))
                download(server, token, remote, size, tus_digest)  # the check, not timed
        hwm = status_mb(server.pid, "VmHWM")
    except (OSError, http.client.HTTPException) as exc:  # e.g. the server died mid-transfer
        raise BenchError(f"{exc!r}; the server's log ends with:\n{server.log_tail()}") from exc
    finally:
        code = server.stop()
    rows = [r for kind in sources for r in rows if r.label.startswith(kind + " ")]
    uploads = [r for r in rows if r.stored is not None]
    used, apparent = disk_usage(data / "blocks")
    print(f"## selfdrive single-stream transfer, {size / MB:.0f} MB files\n\n{machine()}\n")
    print(table(rows, ceilings) + "\n")
    print(f"- blocks folder after all {len(uploads)} uploads: {used / MB:.0f} MB on disk"
          f" ({apparent / MB:.0f} MB apparent) for {len(uploads) * size / MB:.0f} MB uploaded")
    for r in uploads:
        assert r.stored is not None and r.written is not None
        print(f"  - {r.label}: {r.stored / MB:.0f} MB of new blocks on disk"
              f" ({r.stored / size:.1%} of the source); the server wrote"
              f" {r.written / MB:.0f} MB ({r.counter})")
    print("- transfers in the order listed, on one server; each upload has a source file of"
          " its own, the tus ones made like random.bin (identical content would deduplicate)"
          " and checked by an untimed GET (size and SHA-256)")
    print("- write amp.: the server's bytes written during the upload (/proc/PID/io"
          " write_bytes) over the growth of blocks/ on disk")
    if any(r.counter != "write_bytes" for r in uploads):
        print("  - \\*: write_bytes stayed 0 here (this filesystem does not count it per"
              " process); wchar instead, which counts write(2) calls, page cache or not")
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
    try:
        with work_dir("selfdrive-bench-", args.data_dir or Path("/var/tmp"), args.keep) as work:
            run(size, work)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
