"""Handlers of the block API for delta sync (zstd on the wire where asked)."""

from __future__ import annotations

from typing import Any

import zstandard
from starlette.responses import Response

from selfdrive.core.blockhash import is_hex_id
from selfdrive.core.chunking import MAX_SIZE
from selfdrive.core.errors import BadRequest, PayloadTooLarge
from selfdrive.http.endpoint import Call
from selfdrive.http.schemas import (
    BlockList,
    BlockOut,
    CommitRequest,
    ContentQuery,
    EntryOut,
    MissingRequest,
    MissingResult,
)

#: a zstd-compressed block can only be smaller than this if it is a bomb
_MAX_WIRE = MAX_SIZE + 64 * 1024


def _block_id(call: Call[Any, Any]) -> bytes:
    raw = call.request.path_params["block_id"]
    if not is_hex_id(raw):
        raise BadRequest("a block id is 64 lowercase hex digits")
    return bytes.fromhex(raw)


async def post_missing(call: Call[None, MissingRequest]) -> MissingResult:
    ids = [bytes.fromhex(h) for h in call.body.hashes]
    missing = await call.runtime.blocks.missing(call.who, ids)
    return MissingResult(missing=[b.hex() for b in missing])


async def put_block(call: Call[None, None]) -> BlockOut:
    block_id = _block_id(call)
    encoding = call.request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "zstd"):
        raise BadRequest("Content-Encoding may be zstd or identity")
    data = bytearray()
    async for piece in call.request.stream():
        data += piece
        if len(data) > _MAX_WIRE:
            raise PayloadTooLarge(f"a block may be at most {MAX_SIZE} bytes")
    plain = bytes(data)
    if encoding == "zstd":
        try:
            reader = zstandard.ZstdDecompressor().stream_reader(plain)
            plain = reader.read(MAX_SIZE + 1)
            if len(plain) > MAX_SIZE:
                raise PayloadTooLarge(f"a block may be at most {MAX_SIZE} bytes")
        except zstandard.ZstdError as exc:
            raise BadRequest(f"the body is not valid zstd: {exc}") from None
    ref = await call.runtime.blocks.put(call.who, block_id, plain)
    return BlockOut(id=ref.id.hex(), size=ref.size)


async def get_block(call: Call[None, None]) -> Response:
    block_id = _block_id(call)
    plain = await call.runtime.blocks.get(call.who, block_id)
    headers = {
        "ETag": f'"{block_id.hex()}"',
        "Cache-Control": "private, max-age=31536000, immutable",  # an id names one content
        "Vary": "Accept-Encoding",
    }
    accepts = call.request.headers.get("accept-encoding", "")
    if "zstd" in [a.split(";")[0].strip() for a in accepts.split(",")]:
        packed = zstandard.ZstdCompressor(level=1).compress(plain)
        if len(packed) < len(plain):
            headers["Content-Encoding"] = "zstd"
            plain = packed
    return Response(plain, media_type="application/octet-stream", headers=headers)


async def get_blocklist(call: Call[ContentQuery, None]) -> BlockList:
    opened = await call.runtime.files.open(call.who, call.query.path, call.query.rev)
    r = opened.revision
    return BlockList(
        path=opened.entry.path, rev=r.rev, size=r.size, content_hash=r.content_hash.hex(),
        blocks=[BlockOut(id=e.id.hex(), size=e.size) for e in opened.extents],
    )


async def post_commit(call: Call[None, CommitRequest]) -> EntryOut:
    b = call.body
    entry = await call.runtime.files.commit_blocks(
        call.who, b.path, [bytes.fromhex(h) for h in b.blocks], b.size,
        base_rev=b.base_rev, mtime=b.mtime,
    )
    return EntryOut.of(entry)
