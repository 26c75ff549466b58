"""`MemoryBlockStore`: the reference block store, kept in a dict.

Used by tests and as the executable statement of the BlockStore contract.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from selfdrive.core.errors import BlockNotFound
from selfdrive.store.blockstore import StoredBlock


class MemoryBlockStore:
    def __init__(self) -> None:
        self._blocks: dict[bytes, tuple[bytes, float]] = {}

    async def put(self, block_id: bytes, sealed: bytes | bytearray) -> None:
        old = self._blocks.get(block_id)
        self._blocks[block_id] = (old[0] if old else bytes(sealed), time.time())

    async def touch(self, block_id: bytes) -> int | None:
        if block_id not in self._blocks:
            return None
        data = self._blocks[block_id][0]
        self._blocks[block_id] = (data, time.time())
        return len(data)

    async def get(self, block_id: bytes) -> bytes:
        try:
            return self._blocks[block_id][0]
        except KeyError:
            raise BlockNotFound(f"block {block_id.hex()} is not stored") from None

    async def exists(self, block_id: bytes) -> bool:
        return block_id in self._blocks

    async def delete(self, block_id: bytes) -> None:
        self._blocks.pop(block_id, None)

    async def collect(self, block_id: bytes, idle_since: float) -> bool:
        found = self._blocks.get(block_id)
        if found is not None and found[1] >= idle_since:
            return False
        self._blocks.pop(block_id, None)
        return True

    async def remove_leftovers(self, idle_since: float) -> int:
        return 0  # a dict write is never half done

    async def scan(self) -> AsyncIterator[StoredBlock]:
        for block_id, (data, mtime) in list(self._blocks.items()):
            yield StoredBlock(id=block_id, stored_size=len(data), mtime=mtime)

    async def close(self) -> None:
        return None
