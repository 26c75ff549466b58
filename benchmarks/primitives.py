"""Throughput of the building blocks of the upload path, one core each.

    python benchmarks/primitives.py [--mib 256]

Measures FastCDC chunking, BLAKE3 and SHA-256 (the block id candidates),
zstd at levels 1 and 3 on random and text-like data, AES-256-GCM and
ChaCha20-Poly1305, all on 1 MiB pieces, in one run so the ratios compare.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import time
from collections.abc import Callable

import blake3
import zstandard
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from selfdrive.core.chunking import chunk_stream

PIECE = 1 << 20


def text_like(size: int) -> bytes:
    rng = random.Random(1)
    words = [rng.randbytes(rng.randint(2, 6)).hex() for _ in range(4000)]
    out = bytearray()
    while len(out) < size:
        out += (" ".join(rng.choices(words, k=2000)) + "\n").encode()
    return bytes(out[:size])


def rate(fn: Callable[[memoryview], object], data: bytes) -> float:
    view = memoryview(data)
    start = time.perf_counter()
    for i in range(0, len(data), PIECE):
        fn(view[i : i + PIECE])
    return len(data) / (time.perf_counter() - start) / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mib", type=int, default=256)
    size = ap.parse_args().mib * PIECE
    rnd, txt = os.urandom(size), text_like(size)
    aes, chacha, nonce = AESGCM(os.urandom(32)), ChaCha20Poly1305(os.urandom(32)), os.urandom(12)
    rows: list[tuple[str, float]] = []

    start = time.perf_counter()
    n = sum(1 for _ in chunk_stream(rnd[i : i + PIECE] for i in range(0, size, PIECE)))
    rows.append((f"FastCDC chunking, streamed ({n} chunks)",
                 size / (time.perf_counter() - start) / 1e6))
    rows.append(("BLAKE3", rate(lambda b: blake3.blake3(b).digest(), rnd)))
    rows.append(("SHA-256", rate(lambda b: hashlib.sha256(b).digest(), rnd)))
    for level in (1, 3):
        z = zstandard.ZstdCompressor(level=level)
        rows.append((f"zstd {level}, random", rate(z.compress, rnd)))
        ratio = len(z.compress(txt[: 8 * PIECE])) / (8 * PIECE)
        rows.append((f"zstd {level}, text (ratio {ratio:.2f})", rate(z.compress, txt)))
    rows.append(("AES-256-GCM", rate(lambda b: aes.encrypt(nonce, b, None), rnd)))
    rows.append(("ChaCha20-Poly1305", rate(lambda b: chacha.encrypt(nonce, b, None), rnd)))
    print("| primitive (1 MiB pieces, one core) | MB/s |\n|---|---:|")
    for name, mbs in rows:
        print(f"| {name} | {mbs:.0f} |")


if __name__ == "__main__":
    main()
