"""The block store Protocol: dumb storage of sealed blocks by id.

A *sealed block* is the bytes of a block file (selfdrive.store.codec): header
plus ciphertext.  A block store never sees plaintext and never interprets what
it stores; the id is the 32-byte BLAKE3 of the block's plaintext.

Backends: `LocalBlockStore` (a sharded directory), `MemoryBlockStore` (tests,
and the reference behaviour), `FaultyBlockStore` (wraps another and injects
faults).  All pass tests/store/test_blockstore_conformance.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

import msgspec


class StoredBlock(msgspec.Struct, frozen=True):
    id: bytes
    stored_size: int
    #: when the block was last written, seconds since the epoch (for grace periods)
    mtime: float


class BlockStore(Protocol):
    """Where sealed blocks live.

    Contract, for every backend:

    - `put` is durable on return: after it returns, a crash or power cut does
      not lose the block.  It is idempotent: putting an id that is already
      stored succeeds and may keep either copy (content is fixed by the id).
      A failed `put` leaves no partial block visible to `get` or `scan`.
    - `get` returns exactly what was put, or raises `BlockNotFound` (permanent:
      the block is not there) or `StorageError` (the backend failed; may pass).
    - `touch` on a stored block makes its `mtime` now.
    - `delete` is idempotent: deleting a missing block succeeds.
    - `collect` deletes only a block idle for the given time (see its docstring).
    - `scan` yields every stored block once, in no particular order; blocks put
      or deleted during a scan may or may not appear.
    """

    async def put(self, block_id: bytes, sealed: bytes | bytearray) -> None: ...

    async def get(self, block_id: bytes) -> bytes: ...

    async def exists(self, block_id: bytes) -> bool: ...

    async def touch(self, block_id: bytes) -> int | None:
        """Refresh a stored block's mtime and return its stored size; None if absent.

        Dedup calls this instead of `put` for a block that is already there,
        so a grace-period sweep that is about to remove it sees it as new.
        """
        ...

    async def delete(self, block_id: bytes) -> None: ...

    async def collect(self, block_id: bytes, idle_since: float) -> bool:
        """Delete the block unless it was put or touched at or after
        *idle_since* (seconds since the epoch); True if it is gone (or was not
        there).

        This is the garbage collector's delete: a dedup that touches the block
        at the same moment either sees it gone (and writes it again) or keeps
        it alive, never a block that vanishes after it was counted on.
        """
        ...

    def scan(self) -> AsyncIterator[StoredBlock]: ...

    async def remove_leftovers(self, idle_since: float) -> int:
        """Remove what interrupted writes left (temp files), if untouched since
        *idle_since*; return how many.  Never touches a stored block."""
        ...

    async def close(self) -> None: ...
