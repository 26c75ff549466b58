"""Block and file hashes.

A block id is the 256-bit BLAKE3 hash of the block's plaintext, written as 64
lowercase hex digits on the wire and in file names.  BLAKE3 was measured
against SHA-256 on the dev machine (docs/benchmarks.md): about twice as fast
with SHA extensions, and far faster on CPUs without them (Raspberry Pi 4).
A file's *content hash* is the BLAKE3 of its block ids, concatenated in order
(Dropbox's content_hash idea, over content-defined blocks).  Because the cut
points depend only on the content, equal content gives an equal content hash,
and a client can compute it while chunking a local file, and the server can
record it for a commit of blocks without reading them back.  It is the ETag.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import blake3

HASH_NAME = "blake3"
HASH_BYTES = 32
_HEX_ID = re.compile(r"\A[0-9a-f]{64}\Z")


def block_id(data: bytes | bytearray | memoryview) -> bytes:
    """The id (32 raw bytes) of a plaintext block."""
    return blake3.blake3(data).digest()


def is_hex_id(text: str) -> bool:
    return bool(_HEX_ID.match(text))


def content_hash(block_ids: Iterable[bytes]) -> bytes:
    """The content hash of a file made of these blocks, in order."""
    h = blake3.blake3()
    for bid in block_ids:
        h.update(bid)
    return h.digest()
