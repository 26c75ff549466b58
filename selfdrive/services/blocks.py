"""Block transfer for delta sync: which blocks are missing, send and fetch one.

Privacy rule (DESIGN.md, "Dedup"): a block counts as present for a user only
if that user can already read a file holding it, or has sent its content
themselves.  So asking about a hash never tells anyone what another user
stores, and a commit can never borrow a block its author does not have.

The same rule guards a *base* block (a delta's dictionary, blockwire.py):
only one the caller may read, and an unreadable base answers exactly as an
unknown one.  Sending a delta still proves the sender has the content: they
read the base, and the result must hash to its id.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Literal

from selfdrive.core.chunking import MAX_SIZE
from selfdrive.core.clock import Clock
from selfdrive.core.errors import BadRequest, BlockNotFound, CorruptBlock, PayloadTooLarge
from selfdrive.services import blockwire
from selfdrive.services.auth import Principal
from selfdrive.store.content import BlockRef, ContentStore
from selfdrive.store.meta import tree
from selfdrive.store.meta.db import Database

log = logging.getLogger("selfdrive.blocks")

MAX_HASHES_PER_CALL = 10_000
#: a zstd-compressed block can only be smaller than this if it is a bomb
MAX_WIRE = MAX_SIZE + 64 * 1024

Encoding = Literal["identity", "zstd"]


@dataclass(frozen=True)
class Packed:
    """A block as it is sent: its bytes, their encoding, and the base block
    whose plaintext is the zstd dictionary (None: plain zstd or raw)."""

    data: bytes
    encoding: Encoding
    base_id: bytes | None = None


class BlockService:
    def __init__(self, db: Database, content: ContentStore, clock: Clock) -> None:
        self.db = db
        self.content = content
        self.clock = clock

    async def missing(self, who: Principal, ids: Sequence[bytes]) -> list[bytes]:
        """The ids among *ids* (in their order, once each) that the caller must send."""
        if len(ids) > MAX_HASHES_PER_CALL:
            raise BadRequest(f"ask about at most {MAX_HASHES_PER_CALL} blocks per call")
        unique = list(dict.fromkeys(ids))
        async with self.db.read() as conn:
            known = await tree.blocks_known_to(conn, who.user_id, unique)
        return [b for b in unique if b not in known]

    async def put(self, who: Principal, block_id: bytes, plain: bytes) -> BlockRef:
        """Store one block sent whole; it must hash to *block_id*."""
        if len(plain) > MAX_SIZE:
            raise PayloadTooLarge(f"a block may be at most {MAX_SIZE} bytes")
        ref = await self.content.store_block(plain, expected_id=block_id)
        now = self.clock.now_ms()
        async with self.db.write() as conn:
            await tree.insert_blocks(conn, [ref], now)
            await tree.record_uploaded_block(conn, who.user_id, block_id, now)
        return ref

    async def receive(
        self, who: Principal, block_id: bytes, body: AsyncIterator[bytes], *,
        encoding: Encoding, base_id: bytes | None = None,
    ) -> BlockRef:
        """Store one block as it came over the wire: raw, zstd, or (with
        *base_id*) a zstd delta against that base block.

        The base is checked before the body is read: BlockNotFound with
        ``base_block`` if the caller may not read it (the client then sends
        the block without a base).
        """
        if base_id is not None and encoding != "zstd":
            raise BadRequest("a block sent against a base block must be zstd")
        base = None if base_id is None else await self._base(who, base_id)
        wire = bytearray()
        async for piece in body:
            wire += piece
            if len(wire) > MAX_WIRE:
                raise PayloadTooLarge(f"a block may be at most {MAX_SIZE} bytes")
        plain = bytes(wire)
        if encoding == "zstd":
            plain = await self.content.cpu(blockwire.unpack, plain, base, MAX_SIZE)
        return await self.put(who, block_id, plain)

    async def get(self, who: Principal, block_id: bytes) -> bytes:
        async with self.db.read() as conn:
            known = await tree.blocks_known_to(conn, who.user_id, [block_id])
        if block_id not in known:
            # The same answer whether the block exists for someone else or not at all.
            raise BlockNotFound(f"you have no block {block_id.hex()}")
        return await self.content.read_block(block_id)

    async def send(
        self, who: Principal, block_id: bytes, *, zstd: bool, base_id: bytes | None = None
    ) -> Packed:
        """One block as it goes over the wire: a delta against *base_id* when
        the caller may read that base and the delta is smaller, else zstd when
        *zstd* and that is smaller, else raw."""
        plain = await self.get(who, block_id)
        if not zstd:
            return Packed(plain, "identity")
        base = None if base_id is None else await self._readable_base(who, base_id)
        if base is not None:
            delta = await self.content.cpu(blockwire.pack, plain, base)
            if len(delta) < len(plain):
                return Packed(delta, "zstd", base_id)
        packed = await self.content.cpu(blockwire.pack, plain, None)
        return Packed(packed, "zstd") if len(packed) < len(plain) else Packed(plain, "identity")

    async def _base(self, who: Principal, base_id: bytes) -> bytes:
        try:
            return await self.get(who, base_id)
        except BlockNotFound:
            raise BlockNotFound(
                f"you have no block {base_id.hex()} to use as the base; send the block"
                " without one", base_block=base_id.hex(),
            ) from None

    async def _readable_base(self, who: Principal, base_id: bytes) -> bytes | None:
        """The base's plaintext, or None if the caller may not read it (or it
        is damaged: the block then goes without a delta)."""
        try:
            return await self.get(who, base_id)
        except BlockNotFound:
            return None
        except CorruptBlock:
            log.warning("base block %s is corrupt; sending without a delta", base_id.hex())
            return None
