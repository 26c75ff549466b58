"""Block transfer for delta sync: which blocks are missing, send and fetch one.

Privacy rule (DESIGN.md, "Dedup"): a block counts as present for a user only
if that user can already read a file holding it, or has sent its content
themselves.  So asking about a hash never tells anyone what another user
stores, and a commit can never borrow a block its author does not have.
"""

from __future__ import annotations

from collections.abc import Sequence

from selfdrive.core.chunking import MAX_SIZE
from selfdrive.core.clock import Clock
from selfdrive.core.errors import BadRequest, BlockNotFound, PayloadTooLarge
from selfdrive.services.auth import Principal
from selfdrive.store.content import BlockRef, ContentStore
from selfdrive.store.meta import tree
from selfdrive.store.meta.db import Database

MAX_HASHES_PER_CALL = 10_000


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

    async def get(self, who: Principal, block_id: bytes) -> bytes:
        async with self.db.read() as conn:
            known = await tree.blocks_known_to(conn, who.user_id, [block_id])
        if block_id not in known:
            # The same answer whether the block exists for someone else or not at all.
            raise BlockNotFound(f"you have no block {block_id.hex()}")
        return await self.content.read_block(block_id)
