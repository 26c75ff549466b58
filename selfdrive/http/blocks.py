"""Handlers of the block API for delta sync (zstd on the wire where asked,
and deltas against a base block: services/blockwire.py, docs/api.md "Blocks")."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from selfdrive.core.blockhash import is_hex_id
from selfdrive.core.errors import BadRequest
from selfdrive.http.endpoint import Call
from selfdrive.http.schemas import (
    BlockList,
    BlockOut,
    BlockQuery,
    CommitRequest,
    ContentQuery,
    EntryOut,
    MissingRequest,
    MissingResult,
)
from selfdrive.services.blocks import Encoding

#: names the block whose plaintext is the zstd dictionary of a delta, both ways
BASE_HEADER = "Selfdrive-Base-Block"


def _block_id(call: Call[Any, Any]) -> bytes:
    raw = call.request.path_params["block_id"]
    if not is_hex_id(raw):
        raise BadRequest("a block id is 64 lowercase hex digits")
    return bytes.fromhex(raw)


def _base_id(call: Call[Any, Any]) -> bytes | None:
    raw = call.request.headers.get(BASE_HEADER)
    if raw is None:
        return None
    if not is_hex_id(raw.strip()):
        raise BadRequest(f"{BASE_HEADER} is a block id: 64 lowercase hex digits")
    return bytes.fromhex(raw.strip())


def _encoding(call: Call[Any, Any]) -> Encoding:
    encoding = call.request.headers.get("content-encoding", "identity").strip().lower()
    if encoding == "identity":
        return "identity"
    if encoding == "zstd":
        return "zstd"
    raise BadRequest("Content-Encoding may be zstd or identity")


def _accepts_zstd(call: Call[Any, Any]) -> bool:
    accepts = call.request.headers.get("accept-encoding", "")
    return "zstd" in [a.split(";")[0].strip().lower() for a in accepts.split(",")]


async def post_missing(call: Call[None, MissingRequest]) -> MissingResult:
    ids = [bytes.fromhex(h) for h in call.body.hashes]
    missing = await call.runtime.blocks.missing(call.who, ids)
    return MissingResult(missing=[b.hex() for b in missing])


async def put_block(call: Call[None, None]) -> BlockOut:
    ref = await call.runtime.blocks.receive(
        call.who, _block_id(call), call.request.stream(), encoding=_encoding(call),
        base_id=_base_id(call),
    )
    return BlockOut(id=ref.id.hex(), size=ref.size)


async def get_block(call: Call[BlockQuery, None]) -> Response:
    block_id = _block_id(call)
    base = call.query.base
    packed = await call.runtime.blocks.send(
        call.who, block_id, zstd=_accepts_zstd(call),
        base_id=None if base is None else bytes.fromhex(base),
    )
    headers = {
        "ETag": f'"{block_id.hex()}"',
        # An id names one content; but what a ?base= answer is depends on
        # whether the caller may read the base, which can change.
        "Cache-Control": "private, max-age=31536000, immutable" if base is None
        else "private, no-store",
        "Vary": "Accept-Encoding",
    }
    if packed.encoding == "zstd":
        headers["Content-Encoding"] = "zstd"
    if packed.base_id is not None:
        headers[BASE_HEADER] = packed.base_id.hex()
    return Response(packed.data, media_type="application/octet-stream", headers=headers)


async def get_blocklist(call: Call[ContentQuery, None]) -> BlockList:
    opened = await call.runtime.files.open(call.who, call.query.path, call.query.rev)
    r = opened.revision
    return BlockList(
        path=opened.entry.path, rev=r.rev, size=r.size, content_hash=r.content_hash.hex(),
        blocks=[BlockOut(id=e.id.hex(), size=e.size) for e in opened.extents],
        executable=r.executable,
    )


async def post_commit(call: Call[None, CommitRequest]) -> EntryOut:
    b = call.body
    entry = await call.runtime.files.commit_blocks(
        call.who, b.path, [bytes.fromhex(h) for h in b.blocks], b.size,
        base_rev=b.base_rev, mtime=b.mtime, executable=b.executable,
    )
    return EntryOut.of(entry)
