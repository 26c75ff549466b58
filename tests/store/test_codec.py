"""selfdrive.store.codec: the sealed block format (header + AEAD ciphertext)."""

from __future__ import annotations

import os
import random
import struct

import pytest
import zstandard
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from selfdrive.core.blockhash import block_id
from selfdrive.core.errors import CorruptBlock
from selfdrive.store.codec import (
    CIPHER_AES_256_GCM,
    CIPHER_CHACHA20_POLY1305,
    COMPRESSION_NONE,
    COMPRESSION_ZSTD,
    MAX_BLOCK,
    BlockCodec,
)

KEY1 = os.urandom(32)
KEY2 = os.urandom(32)
CIPHERS = [CIPHER_AES_256_GCM, CIPHER_CHACHA20_POLY1305]
# The documented layout: a 24-byte header (magic 4, version 1, compression 1, cipher 1,
# reserved 1, key id 4, nonce 12), then ciphertext || 16-byte tag.
HEADER_SIZE = 24
TAG_SIZE = 16

WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "selfdrive", "block"]
TEXT = b" ".join(w.encode() for w in random.Random(1).choices(WORDS, k=40_000))
RANDOM_1M = random.Random(2).randbytes(1024 * 1024)

text_blocks = st.lists(st.sampled_from(WORDS), max_size=3000).map(lambda ws: " ".join(ws).encode())
random_blocks = st.builds(
    lambda seed, n: random.Random(seed).randbytes(n),
    st.integers(0, 2**32 - 1),
    st.integers(0, 300 * 1024),
)
any_blocks = st.one_of(st.binary(max_size=2048), text_blocks, random_blocks)


def codec(
    cipher: int = CIPHER_AES_256_GCM, keys: dict[int, bytes] | None = None, current: int = 1
) -> BlockCodec:
    return BlockCodec(keys=keys or {1: KEY1}, current_key_id=current, cipher=cipher)


def header(sealed: bytes | bytearray) -> tuple[bytes, int, int, int, int, int, bytes]:
    return struct.unpack(">4sBBBBI12s", bytes(sealed[:HEADER_SIZE]))


def seal_by_hand(
    plain_body: bytes,
    bid: bytes,
    *,
    compression: int,
    version: int = 1,
    cipher: int = CIPHER_AES_256_GCM,
    key_id: int = 1,
    key: bytes = KEY1,
) -> bytes:
    """A block built from the documented format alone, properly authenticated."""
    nonce = os.urandom(12)
    head = struct.pack(">4sBBBBI12s", b"SDBK", version, compression, cipher, 0, key_id, nonce)
    aead = AESGCM(key) if cipher == CIPHER_AES_256_GCM else ChaCha20Poly1305(key)
    return head + aead.encrypt(nonce, plain_body, head + bid)


# --- round trips -----------------------------------------------------------------------


@pytest.mark.parametrize("cipher", CIPHERS)
@settings(max_examples=60, deadline=None)
@given(plain=any_blocks)
def test_round_trip(cipher: int, plain: bytes) -> None:
    c = codec(cipher)
    sealed = c.seal(plain)
    assert sealed.id == block_id(plain)
    assert sealed.size == len(plain)
    assert c.open_block(sealed.id, bytes(sealed.data)) == plain


@pytest.mark.parametrize("cipher", CIPHERS)
def test_empty_block_round_trips(cipher: int) -> None:
    c = codec(cipher)
    sealed = c.seal(b"")
    assert len(sealed.data) == HEADER_SIZE + TAG_SIZE
    assert header(sealed.data)[2] == COMPRESSION_NONE
    assert c.open_block(block_id(b""), bytes(sealed.data)) == b""


@pytest.mark.parametrize("cipher", CIPHERS)
@pytest.mark.parametrize("plain", [TEXT, RANDOM_1M, random.Random(3).randbytes(MAX_BLOCK)],
                         ids=["text", "random-1MiB", "random-max"])
def test_big_blocks_round_trip(cipher: int, plain: bytes) -> None:
    c = codec(cipher)
    sealed = c.seal(plain)
    assert c.open_block(sealed.id, bytes(sealed.data)) == plain


def test_seal_uses_a_fresh_nonce_every_time() -> None:
    c = codec()
    a, b = c.seal(TEXT).data, c.seal(TEXT).data
    assert a != b
    assert header(a)[6] != header(b)[6]
    assert c.open_block(block_id(TEXT), bytes(a)) == c.open_block(block_id(TEXT), bytes(b))


# --- the header --------------------------------------------------------------------------


@pytest.mark.parametrize("cipher", CIPHERS)
@pytest.mark.parametrize(
    ("plain", "compression"),
    [
        (TEXT, COMPRESSION_ZSTD),
        (TEXT[:5000], COMPRESSION_ZSTD),
        (RANDOM_1M, COMPRESSION_NONE),  # big: the sample says "do not try"
        (RANDOM_1M[:5000], COMPRESSION_NONE),  # small: tried, did not pay
        (b"x", COMPRESSION_NONE),
    ],
    ids=["text", "short-text", "random", "short-random", "one-byte"],
)
def test_header_fields(cipher: int, plain: bytes, compression: int) -> None:
    sealed = codec(cipher, {7: KEY1}, 7).seal(plain).data
    magic, version, comp, cipher_id, reserved, key_id, _nonce = header(sealed)
    assert magic == b"SDBK"
    assert version == 1
    assert comp == compression
    assert cipher_id == cipher
    assert reserved == 0
    assert key_id == 7
    if compression == COMPRESSION_ZSTD:
        assert len(sealed) < len(plain)
    else:
        assert len(sealed) == HEADER_SIZE + len(plain) + TAG_SIZE


@pytest.mark.parametrize("cipher", CIPHERS)
@pytest.mark.parametrize("plain", [TEXT, RANDOM_1M[:70_000], b""], ids=["text", "random", "empty"])
def test_format_matches_its_documentation(cipher: int, plain: bytes) -> None:
    """Decode a sealed block with nothing but the documented layout."""
    sealed = bytes(codec(cipher).seal(plain).data)
    head, nonce = sealed[:HEADER_SIZE], sealed[12:HEADER_SIZE]
    aead = AESGCM(KEY1) if cipher == CIPHER_AES_256_GCM else ChaCha20Poly1305(KEY1)
    body = aead.decrypt(nonce, sealed[HEADER_SIZE:], head + block_id(plain))
    if header(sealed)[2] == COMPRESSION_ZSTD:
        body = zstandard.ZstdDecompressor().decompress(body)
    assert body == plain


@pytest.mark.parametrize("cipher", CIPHERS)
def test_hand_made_block_opens(cipher: int) -> None:
    plain = TEXT[:10_000]
    bid = block_id(plain)
    packed = zstandard.ZstdCompressor().compress(plain)
    raw_block = seal_by_hand(plain, bid, compression=COMPRESSION_NONE, cipher=cipher)
    zstd_block = seal_by_hand(packed, bid, compression=COMPRESSION_ZSTD, cipher=cipher)
    assert codec().open_block(bid, raw_block) == plain
    assert codec().open_block(bid, zstd_block) == plain


# --- tampering -------------------------------------------------------------------------


@pytest.mark.parametrize("cipher", CIPHERS)
@settings(max_examples=150, deadline=None)
@given(plain=st.one_of(st.binary(max_size=300), text_blocks), data=st.data())
def test_flipping_any_bit_is_detected(cipher: int, plain: bytes, data: st.DataObject) -> None:
    c = codec(cipher)
    sealed = bytearray(c.seal(plain).data)
    index = data.draw(st.integers(0, len(sealed) - 1), label="index")
    bit = data.draw(st.integers(0, 7), label="bit")
    sealed[index] ^= 1 << bit
    with pytest.raises(CorruptBlock):
        c.open_block(block_id(plain), bytes(sealed))


@pytest.mark.parametrize("cipher", CIPHERS)
@pytest.mark.parametrize(
    "plain", [b"", b"hello, world", TEXT[:400]], ids=["empty", "short", "text"]
)
def test_flipping_each_bit_of_a_small_block_is_detected(cipher: int, plain: bytes) -> None:
    """Exhaustive over every bit of the header, the ciphertext and the tag."""
    c = codec(cipher)
    sealed = bytes(c.seal(plain).data)
    bid = block_id(plain)
    for index in range(len(sealed)):
        for bit in range(8):
            bad = bytearray(sealed)
            bad[index] ^= 1 << bit
            with pytest.raises(CorruptBlock):
                c.open_block(bid, bytes(bad))


@pytest.mark.parametrize("cipher", CIPHERS)
@settings(max_examples=40, deadline=None)
@given(plain=any_blocks, other=st.binary(min_size=32, max_size=32))
def test_opening_under_another_id_fails(cipher: int, plain: bytes, other: bytes) -> None:
    c = codec(cipher)
    sealed = bytes(c.seal(plain).data)
    assume(other != block_id(plain))
    with pytest.raises(CorruptBlock):
        c.open_block(other, sealed)
    with pytest.raises(CorruptBlock):
        c.open_block(block_id(plain + b"\x00"), sealed)


@pytest.mark.parametrize("cipher", CIPHERS)
@settings(max_examples=60, deadline=None)
@given(plain=st.one_of(st.binary(max_size=300), text_blocks), data=st.data())
def test_truncated_block_is_corrupt(cipher: int, plain: bytes, data: st.DataObject) -> None:
    c = codec(cipher)
    sealed = bytes(c.seal(plain).data)
    keep = data.draw(st.integers(0, len(sealed) - 1), label="keep")
    with pytest.raises(CorruptBlock):
        c.open_block(block_id(plain), sealed[:keep])


def test_extended_block_is_corrupt() -> None:
    c = codec()
    sealed = bytes(c.seal(TEXT).data)
    with pytest.raises(CorruptBlock):
        c.open_block(block_id(TEXT), sealed + b"\x00")


def test_block_sealed_under_a_wrong_id_fails_the_hash_check() -> None:
    c = codec()
    wrong = block_id(b"something else")
    sealed = bytes(c.seal(TEXT, wrong).data)  # authenticates fine under `wrong`...
    with pytest.raises(CorruptBlock):
        c.open_block(wrong, sealed)  # ...but the plaintext does not hash to it


@pytest.mark.parametrize(
    ("version", "compression", "cipher"),
    [(2, 0, CIPHER_AES_256_GCM), (0, 0, CIPHER_AES_256_GCM), (1, 2, CIPHER_AES_256_GCM),
     (1, 255, CIPHER_CHACHA20_POLY1305)],
)
def test_authenticated_block_with_unknown_ids_is_corrupt(
    version: int, compression: int, cipher: int
) -> None:
    bid = block_id(b"data")
    sealed = seal_by_hand(b"data", bid, compression=compression, version=version, cipher=cipher)
    with pytest.raises(CorruptBlock):
        codec().open_block(bid, sealed)


def test_authenticated_block_that_does_not_decompress_is_corrupt() -> None:
    bid = block_id(b"not zstd at all")
    sealed = seal_by_hand(b"not zstd at all", bid, compression=COMPRESSION_ZSTD)
    with pytest.raises(CorruptBlock):
        codec().open_block(bid, sealed)


def test_block_decompressing_past_max_block_without_size_is_corrupt() -> None:
    plain = bytes(MAX_BLOCK + 1)
    packed = zstandard.ZstdCompressor(write_content_size=False).compress(plain)
    bid = block_id(plain)
    with pytest.raises(CorruptBlock):
        codec().open_block(bid, seal_by_hand(packed, bid, compression=COMPRESSION_ZSTD))


def test_block_decompressing_past_max_block_with_size_is_corrupt() -> None:
    plain = bytes(MAX_BLOCK + 1)
    packed = zstandard.ZstdCompressor(write_content_size=True).compress(plain)
    bid = block_id(plain)
    with pytest.raises(CorruptBlock):
        codec().open_block(bid, seal_by_hand(packed, bid, compression=COMPRESSION_ZSTD))


# --- keys and ciphers ------------------------------------------------------------------


@pytest.mark.parametrize("cipher", CIPHERS)
def test_old_key_still_opens_after_rotation(cipher: int) -> None:
    old = codec(cipher, {1: KEY1}, 1)
    new = codec(cipher, {1: KEY1, 2: KEY2}, 2)
    sealed_old = bytes(old.seal(TEXT).data)
    assert new.open_block(block_id(TEXT), sealed_old) == TEXT
    sealed_new = bytes(new.seal(TEXT).data)
    assert header(sealed_new)[5] == 2
    assert new.open_block(block_id(TEXT), sealed_new) == TEXT
    with pytest.raises(CorruptBlock):
        old.open_block(block_id(TEXT), sealed_new)  # key 2 is not loaded there


def test_wrong_key_bytes_fail() -> None:
    sealed = bytes(codec(keys={1: KEY1}).seal(TEXT).data)
    with pytest.raises(CorruptBlock):
        codec(keys={1: KEY2}).open_block(block_id(TEXT), sealed)


def test_cipher_is_read_from_the_header() -> None:
    aes, chacha = codec(CIPHER_AES_256_GCM), codec(CIPHER_CHACHA20_POLY1305)
    assert chacha.open_block(block_id(TEXT), bytes(aes.seal(TEXT).data)) == TEXT
    assert aes.open_block(block_id(TEXT), bytes(chacha.seal(TEXT).data)) == TEXT


def test_constructor_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError):
        BlockCodec(keys={1: KEY1}, current_key_id=2, cipher=CIPHER_AES_256_GCM)
    with pytest.raises(ValueError):
        BlockCodec(keys={1: KEY1}, current_key_id=1, cipher=3)


# --- confidentiality -------------------------------------------------------------------


@pytest.mark.parametrize("cipher", CIPHERS)
def test_plaintext_does_not_appear_in_sealed_bytes(cipher: int) -> None:
    c = codec(cipher)
    sentence = b"The secret recipe is in the third drawer of the blue cupboard."
    text = sentence * 50
    sealed = bytes(c.seal(text).data)
    assert header(sealed)[2] == COMPRESSION_ZSTD
    assert sentence not in sealed
    assert sentence[:16] not in sealed
    # stored without compression, only the cipher hides it
    raw = RANDOM_1M[:50_000]
    sealed_raw = bytes(c.seal(raw).data)
    assert header(sealed_raw)[2] == COMPRESSION_NONE
    for start in range(0, len(raw) - 32, 4096):
        assert raw[start : start + 32] not in sealed_raw
