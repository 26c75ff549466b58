"""Blocks sent and fetched as zstd deltas against a base block (docs/api.md,
"Blocks"), against the real server.

The client side here is written from the documented wire protocol, not from
the server's code: a zstd frame made with the base block's plaintext as a
raw-content dictionary, named by the Selfdrive-Base-Block header.
"""

from __future__ import annotations

import random

import httpx
import pytest
import zstandard

from selfdrive.core.blockhash import block_id, content_hash
from selfdrive.core.chunking import MAX_SIZE
from tests.conftest import Server

BASE = "Selfdrive-Base-Block"
#: what docs/api.md tells a client to compress with
PARAMS = zstandard.ZstdCompressionParameters.from_level(1, window_log=23, hash_log=20)


def delta(plain: bytes, base: bytes) -> bytes:
    d = zstandard.ZstdCompressionDict(base, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
    return zstandard.ZstdCompressor(dict_data=d, compression_params=PARAMS).compress(plain)


def undelta(wire: bytes, base: bytes) -> bytes:
    d = zstandard.ZstdCompressionDict(base, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
    return zstandard.ZstdDecompressor(dict_data=d).decompress(wire, max_output_size=MAX_SIZE)


def put(api: httpx.Client, data: bytes) -> str:
    bid = block_id(data).hex()
    r = api.put(f"/blocks/{bid}", content=data)
    assert r.status_code == 201, r.text
    return bid


def put_delta(api: httpx.Client, bid: str, wire: bytes, base_id: str) -> httpx.Response:
    return api.put(f"/blocks/{bid}", content=wire,
                   headers={"Content-Encoding": "zstd", BASE: base_id})


def get_raw(api: httpx.Client, bid: str, **params: str) -> tuple[httpx.Headers, bytes]:
    """A GET /blocks answer as it travelled (no content decoding)."""
    with api.stream("GET", f"/blocks/{bid}", params=params,
                    headers={"Accept-Encoding": "zstd"}) as r:
        assert r.status_code == 200, r.read()
        return r.headers, b"".join(r.iter_raw())


@pytest.fixture(scope="module")
def block() -> bytes:
    """A 4 MiB block of random bytes, 100 bytes short of the limit."""
    return random.Random(11).randbytes(MAX_SIZE - 100)


def edits(block: bytes) -> dict[str, bytes]:
    flipped = bytearray(block)
    flipped[len(block) // 2] ^= 0x01
    at = 1_234_567
    return {
        "one byte changed": bytes(flipped),
        "100 bytes inserted": block[:at] + random.Random(3).randbytes(100) + block[at:],
    }


@pytest.mark.parametrize("edit", ["one byte changed", "100 bytes inserted"])
def test_a_small_edit_travels_in_a_few_hundred_bytes_each_way(
    api: httpx.Client, block: bytes, edit: str
) -> None:
    base_id = put(api, block)
    new = edits(block)[edit]
    assert len(new) <= MAX_SIZE
    new_id = block_id(new).hex()

    wire = delta(new, block)
    assert len(wire) < 1000, len(wire)
    r = put_delta(api, new_id, wire, base_id)
    assert r.status_code == 201, r.text
    assert r.json() == {"id": new_id, "size": len(new)}
    assert api.post("/blocks/missing", json={"hashes": [new_id]}).json()["missing"] == []

    headers, back = get_raw(api, new_id, base=base_id)
    assert headers["content-encoding"] == "zstd" and headers[BASE] == base_id
    assert headers["cache-control"] == "private, no-store"
    assert len(back) < 1000, len(back)
    assert undelta(back, block) == new

    # The block stored from the delta is the whole block: a file of it reads back.
    r = api.post("/files/commit", json={"path": "/d.bin", "blocks": [new_id], "size": len(new)})
    assert r.status_code == 201, r.text
    assert r.json()["content_hash"] == content_hash([bytes.fromhex(new_id)]).hex()
    assert api.get("/files/content", params={"path": "/d.bin"}).content == new


def test_a_delta_that_does_not_hash_to_its_id_is_refused(api: httpx.Client, block: bytes) -> None:
    base_id = put(api, block)
    new = edits(block)["one byte changed"]
    wrong = block_id(b"something else").hex()
    r = put_delta(api, wrong, delta(new, block), base_id)
    assert r.status_code == 400 and r.json()["error"]["code"] == "hash_mismatch"
    assert api.post("/blocks/missing", json={"hashes": [wrong]}).json()["missing"] == [wrong]


def test_a_delta_made_against_another_base_than_named_is_refused(
    api: httpx.Client, block: bytes
) -> None:
    put(api, block)
    other = random.Random(12).randbytes(MAX_SIZE - 100)
    other_id = put(api, other)
    new = edits(block)["one byte changed"]
    # Made against `block`, but the header names `other`.
    r = put_delta(api, block_id(new).hex(), delta(new, block), other_id)
    assert r.status_code == 400
    assert r.json()["error"]["code"] in ("hash_mismatch", "bad_request")


def test_a_base_the_caller_cannot_read_is_not_found_and_tells_nothing(
    server: Server, api: httpx.Client, block: bytes
) -> None:
    # Another user stores a block; it is not shared with us.
    _, token = server.add_user()
    with server.client(token) as other:
        theirs_id = put(other, block)
    never_id = block_id(b"no one ever stored this").hex()
    new = edits(block)["one byte changed"]
    new_id = block_id(new).hex()
    answers = []
    for base_id in (theirs_id, never_id):
        r = put_delta(api, new_id, delta(new, block), base_id)
        assert r.status_code == 404, r.text
        error = r.json()["error"]
        assert error["code"] == "block_not_found" and error["base_block"] == base_id
        answers.append({k: v.replace(base_id, "<id>") for k, v in error.items()})
    assert answers[0] == answers[1], "a stored block answers as one never stored"
    assert api.post("/blocks/missing", json={"hashes": [new_id]}).json()["missing"] == [new_id]

    # The client falls back to a plain PUT.
    assert put(api, new) == new_id
    # Asking for a delta against it is answered as without a base.
    headers, wire = get_raw(api, new_id, base=theirs_id)
    assert BASE not in headers and headers["cache-control"] == "private, no-store"
    if headers.get("content-encoding") == "zstd":
        wire = zstandard.ZstdDecompressor().decompress(wire, max_output_size=MAX_SIZE)
    assert wire == new


def test_a_base_shared_with_the_caller_may_be_used(
    server: Server, api: httpx.Client, block: bytes
) -> None:
    _, token = server.add_user()
    me = api.get("/me").json()["username"]
    with server.client(token) as other:
        base_id = put(other, block)
        r = other.post("/files/commit", json={"path": "/pub/b.bin", "blocks": [base_id],
                                              "size": len(block)})
        assert r.status_code == 201, r.text
        r = other.post("/shares", json={"path": "/pub", "user": me, "role": "viewer"})
        assert r.status_code == 201, r.text
    new = edits(block)["100 bytes inserted"]
    r = put_delta(api, block_id(new).hex(), delta(new, block), base_id)
    assert r.status_code == 201, r.text


def test_bombs_are_refused_with_413(api: httpx.Client, block: bytes) -> None:
    base_id = put(api, block)
    zeros = bytes(MAX_SIZE + 1)
    with_size = zstandard.ZstdCompressor().compress(zeros)
    streamed = zstandard.ZstdCompressor(write_content_size=False).compress(zeros)
    huge = zstandard.ZstdCompressor().compress(bytes(64 * 1024 * 1024))
    for wire in (with_size, streamed, huge):
        assert len(wire) < 64 * 1024
        for headers in ({"Content-Encoding": "zstd"}, {"Content-Encoding": "zstd", BASE: base_id}):
            r = api.put(f"/blocks/{block_id(zeros).hex()}", content=wire, headers=headers)
            assert r.status_code == 413, r.text
            assert r.json()["error"]["code"] == "payload_too_large"


def test_malformed_delta_requests(api: httpx.Client, block: bytes) -> None:
    base_id = put(api, block)
    new = edits(block)["one byte changed"]
    new_id = block_id(new).hex()
    cases: list[tuple[dict[str, str], bytes]] = [
        ({BASE: base_id}, new),  # a base but no zstd
        ({"Content-Encoding": "zstd", BASE: "not-hex"}, delta(new, block)),
        ({"Content-Encoding": "zstd", BASE: base_id.upper()}, delta(new, block)),
        ({"Content-Encoding": "zstd", BASE: base_id}, b"not zstd at all"),
        ({"Content-Encoding": "zstd", BASE: base_id}, delta(new, block)[:100]),  # cut short
    ]
    for headers, body in cases:
        r = api.put(f"/blocks/{new_id}", content=body, headers=headers)
        assert r.status_code == 400, (headers, r.text)
    assert api.get(f"/blocks/{new_id}", params={"base": "xyz"}).status_code == 400


def test_get_with_a_base_but_no_zstd_is_raw(api: httpx.Client, block: bytes) -> None:
    base_id = put(api, block)
    new = edits(block)["one byte changed"]
    new_id = put(api, new)
    with api.stream("GET", f"/blocks/{new_id}", params={"base": base_id},
                    headers={"Accept-Encoding": "identity"}) as r:
        assert r.status_code == 200
        assert "content-encoding" not in r.headers and BASE not in r.headers
        assert b"".join(r.iter_raw()) == new
    # Without a base, the long cache stays.
    headers, _ = get_raw(api, new_id)
    assert headers["cache-control"] == "private, max-age=31536000, immutable"
    assert BASE not in headers
