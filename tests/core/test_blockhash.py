"""selfdrive.core.blockhash: block ids and content hashes are BLAKE3."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from selfdrive.core.blockhash import HASH_BYTES, block_id, content_hash, is_hex_id

# Official BLAKE3 test vectors (BLAKE3-team/BLAKE3 test_vectors.json, and "abc").
BLAKE3_EMPTY = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
BLAKE3_ONE_ZERO_BYTE = "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213"
BLAKE3_ABC = "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"


@pytest.mark.parametrize(
    ("data", "expected"),
    [(b"", BLAKE3_EMPTY), (b"\x00", BLAKE3_ONE_ZERO_BYTE), (b"abc", BLAKE3_ABC)],
)
def test_block_id_is_blake3(data: bytes, expected: str) -> None:
    bid = block_id(data)
    assert isinstance(bid, bytes)
    assert len(bid) == HASH_BYTES == 32
    assert bid.hex() == expected


@given(st.binary(max_size=4096))
def test_block_id_accepts_any_buffer_type(data: bytes) -> None:
    bid = block_id(data)
    assert len(bid) == 32
    assert block_id(bytearray(data)) == bid
    assert block_id(memoryview(data)) == bid


@given(st.binary(max_size=256), st.binary(max_size=256))
def test_different_blocks_have_different_ids(a: bytes, b: bytes) -> None:
    assert (block_id(a) == block_id(b)) == (a == b)


def test_content_hash_is_blake3_of_the_concatenated_ids() -> None:
    ids = [block_id(b"one"), block_id(b"two"), block_id(b"three")]
    assert content_hash(ids) == block_id(b"".join(ids))
    assert len(content_hash(ids)) == 32


def test_content_hash_of_no_blocks_is_blake3_of_nothing() -> None:
    assert content_hash([]).hex() == BLAKE3_EMPTY


def test_content_hash_depends_on_order_and_count() -> None:
    a, b = block_id(b"a"), block_id(b"b")
    assert content_hash([a, b]) != content_hash([b, a])
    assert content_hash([a]) != content_hash([a, a])
    assert content_hash([a]) != a  # a one-block file's hash is not its block id


def test_content_hash_accepts_any_iterable() -> None:
    ids = [block_id(bytes([i])) for i in range(5)]
    assert content_hash(iter(ids)) == content_hash(ids)
    assert content_hash(i for i in ids) == content_hash(tuple(ids))


@given(st.lists(st.binary(min_size=32, max_size=32), max_size=20))
def test_content_hash_matches_a_single_blake3_pass(ids: list[bytes]) -> None:
    assert content_hash(ids) == block_id(b"".join(ids))


def test_is_hex_id_accepts_64_lowercase_hex_digits() -> None:
    assert is_hex_id(block_id(b"x").hex())
    assert is_hex_id("0" * 64)
    assert is_hex_id("0123456789abcdef" * 4)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "0" * 63,
        "0" * 65,
        "A" * 64,  # uppercase is not the canonical spelling
        "0123456789ABCDEF" * 4,
        "g" + "0" * 63,
        "0" * 64 + "\n",
        "\n" + "0" * 64,
        " " + "0" * 63,
        "0" * 32 + " " + "0" * 31,
        "\u0660" * 64,  # ARABIC-INDIC DIGIT ZERO is a digit, but not hex
        "\uff10" * 64,  # FULLWIDTH DIGIT ZERO
    ],
)
def test_is_hex_id_refuses(text: str) -> None:
    assert not is_hex_id(text)


@given(st.binary(min_size=32, max_size=32))
def test_every_id_round_trips_through_hex(raw: bytes) -> None:
    assert is_hex_id(raw.hex())
    assert not is_hex_id(raw.hex().upper()) or raw.hex() == raw.hex().upper()
    assert not is_hex_id(os.urandom(31).hex())
