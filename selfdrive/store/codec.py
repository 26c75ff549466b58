"""The block file format: a versioned header, then AEAD ciphertext.

Layout (all integers big-endian)::

    offset  size  field
    0       4     magic  b"SDBK"
    4       1     format version       1
    5       1     compression id       0 = none, 1 = zstd
    6       1     cipher id            1 = AES-256-GCM, 2 = ChaCha20-Poly1305
    7       1     reserved             0
    8       4     key id               which key of the keyring sealed it
    12      12    nonce                random per block
    24      ...   ciphertext || 16-byte tag

The associated data of the AEAD is the 24-byte header followed by the 32-byte
block id, so a block file moved under another id, or a header edited to claim
other compression, fails authentication.  The plaintext is the block, zstd
compressed when that saves at least 3% (random data is stored raw; a
64 KiB sample from the middle of a big block decides whether to try).

On read (`open_block`) the tag is checked, the block decompressed (never to
more than MAX_BLOCK bytes), and its BLAKE3 compared with the id: a block that
passes is exactly what was stored.  Ids are never reused: a retired format,
compression or cipher id keeps its number forever.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from selfdrive.core.blockhash import block_id as hash_block
from selfdrive.core.chunking import MAX_SIZE
from selfdrive.core.errors import CorruptBlock

MAGIC = b"SDBK"
FORMAT_VERSION = 1
COMPRESSION_NONE = 0
COMPRESSION_ZSTD = 1
CIPHER_AES_256_GCM = 1
CIPHER_CHACHA20_POLY1305 = 2
CIPHER_NAMES = {"aes-256-gcm": CIPHER_AES_256_GCM, "chacha20-poly1305": CIPHER_CHACHA20_POLY1305}
HEADER = struct.Struct(">4sBBBBI12s")
HEADER_SIZE = HEADER.size
TAG_SIZE = 16
#: the largest plaintext block a reader accepts (the chunker's maximum)
MAX_BLOCK = MAX_SIZE
#: keep the compressed form only if it is at most this fraction of the raw size
COMPRESS_KEEP_RATIO = 0.97
#: size of the sample that decides whether a big block is worth compressing
SAMPLE_BYTES = 64 * 1024


@dataclass(frozen=True)
class Sealed:
    """A sealed block, ready for a BlockStore."""

    id: bytes
    size: int
    data: bytearray


class BlockCodec:
    """Seals and opens blocks with the keyring's keys.

    Thread-safe: `seal` and `open_block` are called from worker threads.
    """

    def __init__(
        self,
        keys: dict[int, bytes],
        current_key_id: int,
        cipher: int,
        *,
        compression_level: int = 3,
    ) -> None:
        if current_key_id not in keys:
            raise ValueError("the current key is not in the keyring")
        if cipher not in (CIPHER_AES_256_GCM, CIPHER_CHACHA20_POLY1305):
            raise ValueError(f"unknown cipher id {cipher}")
        self._keys = dict(keys)
        self._key_id = current_key_id
        self._cipher = cipher
        self._level = compression_level
        self._aeads: dict[tuple[int, int], AESGCM | ChaCha20Poly1305] = {}

    def _aead(self, cipher: int, key_id: int) -> AESGCM | ChaCha20Poly1305:
        aead = self._aeads.get((cipher, key_id))
        if aead is None:
            key = self._keys[key_id]
            aead = AESGCM(key) if cipher == CIPHER_AES_256_GCM else ChaCha20Poly1305(key)
            self._aeads[(cipher, key_id)] = aead
        return aead

    def seal(self, plain: bytes | memoryview, block_id: bytes | None = None) -> Sealed:
        """Compress (where it pays) and encrypt one plaintext block."""
        if block_id is None:
            block_id = hash_block(plain)
        body: bytes | memoryview = plain
        compression = COMPRESSION_NONE
        if plain and self._worth_compressing(plain):
            packed = zstandard.ZstdCompressor(level=self._level).compress(plain)
            if len(packed) <= len(plain) * COMPRESS_KEEP_RATIO:
                body, compression = packed, COMPRESSION_ZSTD
        nonce = os.urandom(12)
        out = bytearray(HEADER_SIZE + len(body) + TAG_SIZE)
        HEADER.pack_into(
            out, 0, MAGIC, FORMAT_VERSION, compression, self._cipher, 0, self._key_id, nonce
        )
        aad = bytes(out[:HEADER_SIZE]) + block_id
        # encrypt_into writes after the header: no copy of a megabyte to join them.
        self._aead(self._cipher, self._key_id).encrypt_into(
            nonce, body, aad, memoryview(out)[HEADER_SIZE:]
        )
        return Sealed(id=block_id, size=len(plain), data=out)

    @staticmethod
    def _worth_compressing(plain: bytes | memoryview) -> bool:
        """Try a sample first: random or already-compressed data (photos, video,
        archives) is most of what people store, and a full zstd pass over it
        costs as much as the encryption for nothing."""
        if len(plain) < 2 * SAMPLE_BYTES:
            return True
        middle = len(plain) // 2
        sample = plain[middle : middle + SAMPLE_BYTES]
        return len(zstandard.ZstdCompressor(level=1).compress(sample)) <= SAMPLE_BYTES * 0.9

    def open_block(self, block_id: bytes, sealed: bytes) -> bytes:
        """The verified plaintext of a sealed block, or CorruptBlock."""
        where = f"block {block_id.hex()}"
        if len(sealed) < HEADER_SIZE + TAG_SIZE:
            raise CorruptBlock(f"{where} is truncated", block=block_id.hex())
        magic, version, compression, cipher, _reserved, key_id, nonce = HEADER.unpack_from(sealed)
        if magic != MAGIC or version != FORMAT_VERSION:
            raise CorruptBlock(f"{where} has an unknown format", block=block_id.hex())
        if cipher not in (CIPHER_AES_256_GCM, CIPHER_CHACHA20_POLY1305):
            raise CorruptBlock(f"{where} names unknown cipher {cipher}", block=block_id.hex())
        if key_id not in self._keys:
            raise CorruptBlock(f"{where} needs key {key_id}, which is not loaded")
        header = sealed[:HEADER_SIZE]
        try:
            body = self._aead(cipher, key_id).decrypt(
                nonce, memoryview(sealed)[HEADER_SIZE:], header + block_id
            )
        except InvalidTag:
            raise CorruptBlock(f"{where} failed authentication", block=block_id.hex()) from None
        if compression == COMPRESSION_ZSTD:
            try:
                # A stream reader honours the limit even when the frame header
                # claims a size (decompress() would trust and allocate it).
                with zstandard.ZstdDecompressor().stream_reader(body) as reader:
                    plain = reader.read(MAX_BLOCK + 1)
            except zstandard.ZstdError:
                raise CorruptBlock(f"{where} does not decompress", block=block_id.hex()) from None
            if len(plain) > MAX_BLOCK:
                raise CorruptBlock(f"{where} is larger than a block may be", block=block_id.hex())
        elif compression == COMPRESSION_NONE:
            plain = body
        else:
            raise CorruptBlock(f"{where} names unknown compression {compression}")
        if hash_block(plain) != block_id:
            raise CorruptBlock(f"{where} does not match its hash", block=block_id.hex())
        return plain
