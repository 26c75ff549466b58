"""selfdrive.core.chunking: content-defined chunking, in one go and streamed.

Inputs are generated from a seed (hypothesis draws the seed and the size, not the
bytes), so examples of many MiB stay cheap.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfdrive.core.chunking import (
    FEED_BYTES,
    MAX_SIZE,
    MIN_SIZE,
    StreamChunker,
    chunk_bytes,
    chunk_stream,
)

MiB = 1024 * 1024

seeds = st.integers(min_value=0, max_value=2**32 - 1)
#: how the bytes look: incompressible, all zeros (no natural cut points), a short
#: repeated pattern (periodic hashes)
kinds = st.sampled_from(["random", "zeros", "pattern"])


def make_data(kind: str, seed: int, size: int) -> bytes:
    if kind == "zeros":
        return bytes(size)
    if kind == "pattern":
        unit = random.Random(seed).randbytes(97)
        return (unit * (size // len(unit) + 1))[:size]
    return random.Random(seed).randbytes(size)


def split_at(data: bytes, points: list[int]) -> Iterator[bytes]:
    prev = 0
    for p in sorted(points):
        yield data[prev:p]
        prev = p
    yield data[prev:]


def check_chunk_sizes(chunks: list[bytes]) -> None:
    for c in chunks[:-1]:
        assert MIN_SIZE <= len(c) <= MAX_SIZE
    if chunks:
        assert 0 < len(chunks[-1]) <= MAX_SIZE


# --- chunk_bytes -----------------------------------------------------------------------


def test_empty_input_gives_no_chunks() -> None:
    assert chunk_bytes(b"") == []
    assert list(chunk_stream([])) == []
    assert list(chunk_stream([b"", b""])) == []
    c = StreamChunker()
    assert c.feed(b"") == []
    assert c.finish() == []


@pytest.mark.parametrize("size", [1, 100, MIN_SIZE - 1, MIN_SIZE, MIN_SIZE + 1])
def test_input_up_to_min_size_is_one_chunk(size: int) -> None:
    data = make_data("random", size, size)
    assert chunk_bytes(data) == [data]


@settings(max_examples=40, deadline=None)
@given(kind=kinds, seed=seeds, size=st.integers(min_value=0, max_value=24 * MiB))
def test_chunks_concatenate_to_the_input_and_respect_the_bounds(
    kind: str, seed: int, size: int
) -> None:
    data = make_data(kind, seed, size)
    chunks = chunk_bytes(data)
    assert b"".join(chunks) == data
    check_chunk_sizes(chunks)


def test_big_random_input_is_cut_at_content_not_at_max_size() -> None:
    chunks = chunk_bytes(make_data("random", 7, 20 * MiB))
    sizes = [len(c) for c in chunks]
    assert len(chunks) >= 8
    assert max(sizes[:-1]) < MAX_SIZE  # natural cut points were found
    assert len(set(sizes)) == len(sizes)


def test_zeros_have_no_cut_points_so_chunks_are_max_size() -> None:
    chunks = chunk_bytes(bytes(2 * MAX_SIZE + 5))
    assert [len(c) for c in chunks] == [MAX_SIZE, MAX_SIZE, 5]


def test_accepts_bytearray_and_memoryview() -> None:
    data = make_data("random", 3, 6 * MiB)
    expected = chunk_bytes(data)
    assert chunk_bytes(bytearray(data)) == expected
    assert chunk_bytes(memoryview(data)) == expected
    assert all(type(c) is bytes for c in expected)


def test_cut_points_are_pinned() -> None:
    """Chunking parameters are part of the storage format (client and server must
    agree): these sizes only change if the format does."""
    data = random.Random(2024).randbytes(10 * MiB)
    assert [len(c) for c in chunk_bytes(data)] == [
        434946, 1193063, 1232410, 1613931, 1061221, 2373788, 303359, 622661, 1467458, 182923,
    ]


# --- streaming -------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    kind=kinds,
    seed=seeds,
    size=st.integers(min_value=0, max_value=24 * MiB),
    fractions=st.lists(st.floats(min_value=0, max_value=1), max_size=24),
)
def test_streaming_in_any_pieces_gives_the_same_chunks(
    kind: str, seed: int, size: int, fractions: list[float]
) -> None:
    data = make_data(kind, seed, size)
    points = [int(f * size) for f in fractions]
    assert list(chunk_stream(split_at(data, points))) == chunk_bytes(data)


@settings(max_examples=25, deadline=None)
@given(
    seed=seeds,
    points=st.lists(st.integers(min_value=0, max_value=20 * MiB), min_size=1, max_size=40),
)
def test_streaming_a_20_mib_buffer_feeds_and_finishes_consistently(
    seed: int, points: list[int]
) -> None:
    data = make_data("random", seed, 20 * MiB)
    chunker = StreamChunker()
    out: list[memoryview] = []
    fed = 0
    for piece in split_at(data, points):
        new = chunker.feed(piece)
        fed += len(piece)
        out += new
        # everything given out so far is a prefix of the input, and what is held
        # back is exactly the rest; the buffer never grows past FEED_BYTES
        assert sum(len(c) for c in out) + chunker.pending == fed
        assert chunker.pending < FEED_BYTES
    out += chunker.finish()
    assert chunker.pending == 0
    assert out == chunk_bytes(data)


def test_streaming_byte_pieces_straddling_feed_threshold() -> None:
    data = make_data("random", 11, FEED_BYTES + 3 * MiB)
    pieces = [data[: FEED_BYTES - 1], data[FEED_BYTES - 1 : FEED_BYTES], data[FEED_BYTES:]]
    assert list(chunk_stream(pieces)) == chunk_bytes(data)


def test_feed_holds_back_the_last_chunk_until_finish() -> None:
    data = make_data("random", 5, FEED_BYTES + MiB)
    chunker = StreamChunker()
    early = chunker.feed(data)
    assert early  # a full FEED_BYTES buffer gives out its finished chunks at once
    assert chunker.pending > 0  # the tail may still grow: it is not given out
    late = chunker.finish()
    assert late
    assert early + late == chunk_bytes(data)


# --- locality --------------------------------------------------------------------------


@settings(max_examples=6, deadline=None)
@given(
    seed=seeds,
    where=st.floats(min_value=0.25, max_value=0.75),
    inserted=st.binary(min_size=1, max_size=64),
)
def test_an_insertion_changes_at_most_three_chunks(
    seed: int, where: float, inserted: bytes
) -> None:
    data = make_data("random", seed, 20 * MiB)
    pos = int(len(data) * where)
    edited = data[:pos] + inserted + data[pos:]
    before, after = chunk_bytes(data), chunk_bytes(edited)
    assert b"".join(after) == edited
    assert len(set(after) - set(before)) <= 3
    assert len(set(before) - set(after)) <= 3
    # chunks that end well before the edit are untouched, in place
    keep = 0
    end = 0
    for c in before:
        end += len(c)
        if end >= pos - 64:
            break
        keep += 1
    assert after[:keep] == before[:keep]
    # and most of the file is still shared
    assert len(set(after) & set(before)) >= len(before) - 3
