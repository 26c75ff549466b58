"""The sealed snapshot format: a metadata database, compressed and encrypted,
as it is kept in the backup bucket (``snapshots/<id>``).

Layout (integers big-endian)::

    offset  size  field
    0       4     magic  b"SDSN"
    4       1     format version       1
    5       1     compression id       1 = zstd (per frame)
    6       1     cipher id            1 = AES-256-GCM
    7       1     reserved             0
    8       8     nonce prefix         random per snapshot
    16      ...   frames

Each frame is a 4-byte length then the AEAD ciphertext (with its 16-byte tag)
of up to `FRAME_BYTES` of the database, zstd-compressed on its own.  A frame's
nonce is the prefix followed by its 4-byte index; its associated data is the
16-byte header, the snapshot's id, the index and a final flag (1 on the last
frame only), so frames cannot be reordered, dropped, moved to another
snapshot, or the file cut short without `unseal_file` noticing.  The key is
derived from the keyring for this purpose alone (`keys.derived_key`).

Sealing and unsealing stream file to file, one frame in memory at a time.
Ids are never reused: a retired version, compression or cipher keeps its number.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import struct
from pathlib import Path

import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from selfdrive.core.errors import StorageError

MAGIC = b"SDSN"
VERSION = 1
COMPRESSION_ZSTD = 1
CIPHER_AES_256_GCM = 1
HEADER = struct.Struct(">4sBBBB8s")
LENGTH = struct.Struct(">I")
FRAME_BYTES = 4 * 1024 * 1024
TAG_BYTES = 16
#: no frame may claim more than this (a damaged length must not make us allocate GiBs)
MAX_SEALED_FRAME = FRAME_BYTES + FRAME_BYTES // 64 + 1024


def _ad(header: bytes, snapshot_id: str, index: int, final: bool) -> bytes:
    return header + snapshot_id.encode() + struct.pack(">IB", index, final)


def seal_file(source: Path, target: Path, key: bytes, snapshot_id: str) -> bytes:
    """Seal the file *source* into *target*; returns the SHA-256 of *target*."""
    aead = AESGCM(key)
    prefix = secrets.token_bytes(8)
    header = HEADER.pack(MAGIC, VERSION, COMPRESSION_ZSTD, CIPHER_AES_256_GCM, 0, prefix)
    compressor = zstandard.ZstdCompressor(level=3)
    digest = hashlib.sha256()
    with source.open("rb") as src, target.open("wb") as out:

        def emit(data: bytes) -> None:
            out.write(data)
            digest.update(data)

        emit(header)
        index = 0
        frame = src.read(FRAME_BYTES)
        while True:
            following = src.read(FRAME_BYTES)
            final = not following
            sealed = aead.encrypt(prefix + struct.pack(">I", index), compressor.compress(frame),
                                  _ad(header, snapshot_id, index, final))
            emit(LENGTH.pack(len(sealed)) + sealed)
            if final:
                break
            frame, index = following, index + 1
        out.flush()
        os.fsync(out.fileno())
    return digest.digest()


def unseal_file(source: Path, target: Path, key: bytes, snapshot_id: str) -> None:
    """Open a sealed snapshot into *target*; StorageError if it is damaged,
    cut short, of another snapshot, or sealed with another key."""
    aead = AESGCM(key)
    decompressor = zstandard.ZstdDecompressor()
    with source.open("rb") as src, target.open("wb") as out:
        header = src.read(HEADER.size)
        if len(header) != HEADER.size:
            raise StorageError(f"snapshot {snapshot_id} is too short to be one")
        magic, version, compression, cipher, _, prefix = HEADER.unpack(header)
        if magic != MAGIC or version != VERSION:
            raise StorageError(f"snapshot {snapshot_id}: not a snapshot of a version this"
                               " selfdrive knows")
        if compression != COMPRESSION_ZSTD or cipher != CIPHER_AES_256_GCM:
            raise StorageError(f"snapshot {snapshot_id}: unknown compression or cipher")
        index = 0
        while True:
            raw = src.read(LENGTH.size)
            if len(raw) != LENGTH.size:
                raise StorageError(f"snapshot {snapshot_id} is cut short")
            (length,) = LENGTH.unpack(raw)
            if not TAG_BYTES <= length <= MAX_SEALED_FRAME:
                raise StorageError(f"snapshot {snapshot_id} is damaged (frame {index})")
            sealed = src.read(length)
            final = not src.peek(1)  # at the end of the file
            nonce = prefix + struct.pack(">I", index)
            try:
                plain = aead.decrypt(nonce, sealed, _ad(header, snapshot_id, index, final))
            except InvalidTag:
                raise StorageError(
                    f"snapshot {snapshot_id} does not open (frame {index}): damaged, cut"
                    " short, or sealed with another key") from None
            out.write(decompressor.decompress(plain, max_output_size=FRAME_BYTES))
            if final:
                break
            index += 1
        out.flush()
        os.fsync(out.fileno())
