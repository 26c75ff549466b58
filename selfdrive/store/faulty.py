"""`FaultyBlockStore`: wraps a block store and injects faults, for tests.

Faults are rules: an operation name (``put``, ``get``, ``exists``,
``touch``, ``delete``), how many calls to let through first, and what happens then
(raise StorageError, or for ``get`` return the stored bytes with one byte
flipped).  Nothing is mocked: every call that is not faulted reaches the real
backend underneath.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from selfdrive.core.errors import StorageError
from selfdrive.store.blockstore import BlockStore, StoredBlock


@dataclass
class Fault:
    op: str
    after: int = 0
    times: int = 1
    corrupt: bool = False
    seen: int = 0

    def fires(self) -> bool:
        self.seen += 1
        return self.after < self.seen <= self.after + self.times


class FaultyBlockStore:
    def __init__(self, inner: BlockStore) -> None:
        self.inner = inner
        self.faults: list[Fault] = []

    def inject(self, op: str, *, after: int = 0, times: int = 1, corrupt: bool = False) -> Fault:
        fault = Fault(op=op, after=after, times=times, corrupt=corrupt)
        self.faults.append(fault)
        return fault

    def _check(self, op: str) -> Fault | None:
        for fault in self.faults:
            if fault.op == op and fault.fires():
                if not fault.corrupt:
                    raise StorageError(f"injected fault in {op}")
                return fault
        return None

    async def put(self, block_id: bytes, sealed: bytes | bytearray) -> None:
        self._check("put")
        await self.inner.put(block_id, sealed)

    async def get(self, block_id: bytes) -> bytes:
        fault = self._check("get")
        data = await self.inner.get(block_id)
        if fault is not None and data:
            flipped = bytearray(data)
            flipped[len(flipped) // 2] ^= 0x01
            return bytes(flipped)
        return data

    async def exists(self, block_id: bytes) -> bool:
        self._check("exists")
        return await self.inner.exists(block_id)

    async def touch(self, block_id: bytes) -> int | None:
        self._check("touch")
        return await self.inner.touch(block_id)

    async def delete(self, block_id: bytes) -> None:
        self._check("delete")
        await self.inner.delete(block_id)

    async def collect(self, block_id: bytes, idle_since: float) -> bool:
        self._check("collect")
        return await self.inner.collect(block_id, idle_since)

    async def remove_leftovers(self, idle_since: float) -> int:
        return await self.inner.remove_leftovers(idle_since)

    async def scan(self) -> AsyncIterator[StoredBlock]:
        async for entry in self.inner.scan():
            yield entry

    async def close(self) -> None:
        await self.inner.close()
