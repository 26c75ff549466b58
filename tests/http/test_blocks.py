"""The block API for delta sync: missing, send, fetch, blocklist, commit."""

from __future__ import annotations

import os
import random

import httpx
import zstandard

from selfdrive.core.blockhash import block_id, content_hash
from selfdrive.core.chunking import chunk_bytes
from tests.conftest import Server


def test_delta_sync_round_trip(api: httpx.Client) -> None:
    rng = random.Random(7)
    data = rng.randbytes(6 * 1024 * 1024)
    chunks = chunk_bytes(data)
    ids = [block_id(c).hex() for c in chunks]
    missing = api.post("/blocks/missing", json={"hashes": ids}).json()["missing"]
    assert missing == list(dict.fromkeys(ids))
    for chunk, bid in zip(chunks, ids, strict=True):
        r = api.put(f"/blocks/{bid}", content=chunk)
        assert r.status_code == 201, r.text
        assert r.json() == {"id": bid, "size": len(chunk)}
    assert api.post("/blocks/missing", json={"hashes": ids}).json()["missing"] == []
    r = api.post("/files/commit", json={"path": "/sync/file.bin", "blocks": ids,
                                        "size": len(data), "mtime": 1_700_000_000_000})
    assert r.status_code == 201, r.text
    entry = r.json()
    assert entry["content_hash"] == content_hash(bytes.fromhex(i) for i in ids).hex()
    assert entry["mtime"] == 1_700_000_000_000
    assert api.get("/files/content", params={"path": "/sync/file.bin"}).content == data
    listed = api.get("/files/blocklist", params={"path": "/sync/file.bin"}).json()
    assert [b["id"] for b in listed["blocks"]] == ids
    assert listed["rev"] == 1 and listed["size"] == len(data)

    # An upload of the same content through the plain API gives the same hash.
    plain = api.put("/files/content", params={"path": "/plain.bin"}, content=data).json()
    assert plain["content_hash"] == entry["content_hash"]

    # Edit the middle: only the changed blocks are missing.
    edited = data[:3_000_000] + b"INSERTED" + data[3_000_000:]
    new_chunks = chunk_bytes(edited)
    new_ids = [block_id(c).hex() for c in new_chunks]
    need = api.post("/blocks/missing", json={"hashes": new_ids}).json()["missing"]
    assert 1 <= len(need) <= 2
    for chunk, bid in zip(new_chunks, new_ids, strict=True):
        if bid in need:
            packed = zstandard.ZstdCompressor().compress(chunk)
            r = api.put(f"/blocks/{bid}", content=packed, headers={"Content-Encoding": "zstd"})
            assert r.status_code == 201, r.text
    r = api.post("/files/commit", json={"path": "/sync/file.bin", "blocks": new_ids,
                                        "size": len(edited), "base_rev": 1})
    assert r.status_code == 201 and r.json()["rev"] == 2
    assert api.get("/files/content", params={"path": "/sync/file.bin"}).content == edited

    # A stale base_rev loses, and nothing changes.
    r = api.post("/files/commit", json={"path": "/sync/file.bin", "blocks": ids,
                                        "size": len(data), "base_rev": 1})
    assert r.status_code == 409 and r.json()["error"]["current_rev"] == 2


def test_get_block_plain_and_zstd(api: httpx.Client) -> None:
    text = b"hello block " * 50_000
    bid = block_id(text).hex()
    api.put(f"/blocks/{bid}", content=text)
    r = api.get(f"/blocks/{bid}", headers={"Accept-Encoding": "identity"})
    assert r.status_code == 200 and r.content == text
    with api.stream("GET", f"/blocks/{bid}", headers={"Accept-Encoding": "zstd"}) as raw:
        assert raw.headers["content-encoding"] == "zstd"
        wire = b"".join(raw.iter_raw())
    assert len(wire) < len(text) // 10
    assert zstandard.ZstdDecompressor().decompress(wire, max_output_size=len(text)) == text


def test_commit_refuses_blocks_not_sent(api: httpx.Client) -> None:
    absent = block_id(b"never sent").hex()
    r = api.post("/files/commit", json={"path": "/x.bin", "blocks": [absent], "size": 10})
    assert r.status_code == 412
    body = r.json()["error"]
    assert body["code"] == "missing_blocks" and body["missing"] == [absent]
    assert api.get("/files/metadata", params={"path": "/x.bin"}).status_code == 404


def test_commit_checks_size(api: httpx.Client) -> None:
    data = os.urandom(1000)
    bid = block_id(data).hex()
    api.put(f"/blocks/{bid}", content=data)
    r = api.post("/files/commit", json={"path": "/s.bin", "blocks": [bid], "size": 999})
    assert r.status_code == 400
    r = api.post("/files/commit", json={"path": "/s.bin", "blocks": [bid], "size": 1000})
    assert r.status_code == 201


def test_block_must_match_its_id(api: httpx.Client) -> None:
    wrong = block_id(b"something else").hex()
    r = api.put(f"/blocks/{wrong}", content=b"this content")
    assert r.status_code == 400 and r.json()["error"]["code"] == "hash_mismatch"
    assert api.post("/blocks/missing", json={"hashes": [wrong]}).json()["missing"] == [wrong]
    assert api.put("/blocks/NOTHEX", content=b"x").status_code == 400
    r = api.put(f"/blocks/{wrong}", content=b"garbage", headers={"Content-Encoding": "zstd"})
    assert r.status_code == 400
    r = api.put(f"/blocks/{wrong}", content=b"x", headers={"Content-Encoding": "br"})
    assert r.status_code == 400
    r = api.put(f"/blocks/{wrong}", content=os.urandom(4 * 1024 * 1024 + 100_000))
    assert r.status_code == 413
    bomb = zstandard.ZstdCompressor().compress(b"\0" * (64 * 1024 * 1024))
    r = api.put(f"/blocks/{wrong}", content=bomb, headers={"Content-Encoding": "zstd"})
    assert r.status_code == 413
    r = api.post("/blocks/missing", json={"hashes": ["xyz"]})
    assert r.status_code == 400


def test_no_user_learns_what_another_stores(server: Server) -> None:
    _, alice = server.add_user()
    _, mallory = server.add_user()
    secret = os.urandom(200_000)  # under the chunker minimum: one block
    bid = block_id(secret).hex()
    with server.client(alice) as a, server.client(mallory) as m:
        a.put("/files/content", params={"path": "/secret.bin"}, content=secret)
        assert a.post("/blocks/missing", json={"hashes": [bid]}).json()["missing"] == []
        # Mallory knows the hash but not the content: the block is "missing" for her,
        assert m.post("/blocks/missing", json={"hashes": [bid]}).json()["missing"] == [bid]
        # she cannot fetch it,
        r = m.get(f"/blocks/{bid}")
        unknown = m.get(f"/blocks/{'0' * 64}")
        assert r.status_code == unknown.status_code == 404
        assert r.json()["error"]["code"] == unknown.json()["error"]["code"]
        # and she cannot commit a file made of it.
        r = m.post("/files/commit", json={"path": "/stolen.bin", "blocks": [bid],
                                          "size": len(secret)})
        assert r.status_code == 412
        # Once she sends the content herself, it is hers too (dedup stores it once).
        assert m.put(f"/blocks/{bid}", content=secret).status_code == 201
        r = m.post("/files/commit", json={"path": "/mine.bin", "blocks": [bid],
                                          "size": len(secret)})
        assert r.status_code == 201
        assert m.get("/files/content", params={"path": "/mine.bin"}).content == secret
