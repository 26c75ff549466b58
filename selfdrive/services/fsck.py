"""`selfdrive fsck`: is every block readable, and every revision's block list sound?

Two passes, both in bounded batches, both safe beside a running server (they
only read, through the read-only connections, each batch in its own short
snapshot):

1. *Blocks*: every block row, and every id a revision lists without a row, is
   read through `ContentStore.read_block`, which fetches the sealed block and
   checks its AEAD tag, decompresses it and compares its BLAKE3 with the id.
   A few reads run at once (`CONCURRENCY`).  A block that is not there is
   *missing*; one that fails a check (or cannot be read) is *corrupt*.
2. *Revisions*: each revision's block list must start at 0 and be contiguous
   (block i starts where block i-1 ends, sizes from the block rows), add up to
   the revision's size, hash to its content hash, and name only blocks that
   have a row.

Then every revision that lists a bad block, or whose list is unsound, is a
`Problem`, named by owner, path ("(in trash) ..." for trashed files) and rev.
With ``repair``, those revisions are marked ``broken`` (short write
transactions; nothing is deleted): the API shows the flag in
``list_revisions``.  The store is *whole* when no block is missing or corrupt
and no block list is unsound; a broken revision stays a problem after it is
marked, so a store is never called whole while it cannot serve every file.

A block in the cold tier (services/coldtier.py) has no local file by
design: it is counted as *tiered*, not missing.  With ``remote``, each
tiered block's copies are checked by HEAD, and one that no bucket holds is
missing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from selfdrive.core.blockhash import content_hash
from selfdrive.core.errors import BlockNotFound, CorruptBlock, StorageError
from selfdrive.services.coldtier import ColdTier
from selfdrive.store.content import ContentStore
from selfdrive.store.meta import coldtier as coldq
from selfdrive.store.meta import fsck as q
from selfdrive.store.meta import tree
from selfdrive.store.meta.db import Database

#: block reads in flight at once
CONCURRENCY = 4
#: block ids per query of the block pass
BLOCK_BATCH = 500
#: revisions per query of the revision pass (their block lists come with them)
REVISION_BATCH = 200
#: revisions marked broken per write transaction
REPAIR_BATCH = 200
#: what `_check_block` says of a block in the cold tier
TIERED = -1


@dataclass(frozen=True)
class BadBlock:
    id: bytes
    #: "missing" or "corrupt"
    kind: str
    reason: str

    def describe(self) -> str:
        return f"block {self.id.hex()} {self.kind} ({self.reason})"


@dataclass(frozen=True)
class Problem:
    """A revision that cannot be served whole, or a bad block that no revision lists."""

    bad_blocks: tuple[BadBlock, ...] = ()
    #: what is wrong with the revision's block list itself
    faults: tuple[str, ...] = ()
    place: q.RevisionPlace | None = None

    @property
    def where(self) -> str:
        if self.place is None:
            return "no file"
        p = self.place
        return f"{p.owner}: {'(in trash) ' if p.in_trash else ''}{p.path} rev {p.rev}"

    @property
    def already_broken(self) -> bool:
        return self.place is not None and self.place.broken

    def describe(self) -> str:
        what = [b.describe() for b in self.bad_blocks] + list(self.faults)
        if self.place is None:
            return f"{'; '.join(what)}; no revision lists it"
        note = " [already marked broken]" if self.already_broken else ""
        return f"{self.where}: {'; '.join(what)}{note}"


@dataclass
class FsckReport:
    blocks_checked: int = 0
    #: plaintext bytes read and verified
    bytes_checked: int = 0
    missing: int = 0
    corrupt: int = 0
    #: blocks in the cold tier (only in the buckets); with --remote, checked there
    tiered: int = 0
    remote_checked: bool = False
    revisions_checked: int = 0
    #: revisions that list a bad block or have an unsound block list
    broken_revisions: int = 0
    #: of those, how many were marked broken before this run
    already_marked: int = 0
    #: revisions marked broken by this run (--repair)
    marked: list[Problem] = field(default_factory=list)
    #: revisions marked broken earlier that now check whole
    marked_but_whole: int = 0
    problems: list[Problem] = field(default_factory=list)
    #: how long the checks took (not the repair)
    seconds: float = 0.0

    @property
    def whole(self) -> bool:
        return not self.problems

    @property
    def mb_per_s(self) -> float:
        return self.bytes_checked / 1e6 / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        verdict = "the store is whole" if self.whole else "the store is NOT whole"
        broken = f"{self.broken_revisions} broken"
        if self.already_marked:
            broken += f" ({self.already_marked} already marked broken)"
        return (
            f"{verdict}: checked {self.blocks_checked} blocks"
            f" ({self.bytes_checked / 1e6:.1f} MB in {self.seconds:.1f} s,"
            f" {self.mb_per_s:.1f} MB/s), {self.missing} missing, {self.corrupt} corrupt,"
            f" {self.tiered} in the cold tier"
            f"{' (checked in the buckets)' if self.remote_checked else ''};"
            f" {self.revisions_checked} revisions checked, {broken}"
        )


class FsckService:
    def __init__(self, db: Database, content: ContentStore, cold: ColdTier | None = None) -> None:
        self.db = db
        self.content = content
        self.cold = cold

    async def check(self, *, repair: bool = False, remote: bool = False) -> FsckReport:
        """Check the whole store; with *repair*, mark the broken revisions;
        with *remote*, check that the buckets hold every tiered block."""
        report = FsckReport()
        started = time.monotonic()
        bad: dict[bytes, BadBlock] = {}
        tiered: list[bytes] = []
        await self._check_blocks(report, bad, tiered)
        if remote and self.cold is not None and self.cold.sources:
            report.remote_checked = True
            for start in range(0, len(tiered), BLOCK_BATCH):
                lost = await self.cold.missing_remotely(tiered[start:start + BLOCK_BATCH])
                for block_id, why in lost.items():
                    bad[block_id] = BadBlock(block_id, "missing", why)
                    report.missing += 1
        faults: dict[int, list[str]] = {}
        broken_before: set[int] = set()
        await self._check_revisions(report, faults, broken_before)
        report.seconds = time.monotonic() - started
        report.problems = await self._problems(bad, faults)
        revision_problems = [p for p in report.problems if p.place is not None]
        report.broken_revisions = len(revision_problems)
        report.already_marked = sum(p.already_broken for p in revision_problems)
        named = {p.place.revision_id for p in revision_problems if p.place is not None}
        report.marked_but_whole = len(broken_before - named)
        if repair:
            report.marked = await self._repair(revision_problems)
        return report

    # -- pass 1: blocks --------------------------------------------------------------

    async def _block_ids(self) -> AsyncIterator[tuple[bytes, int | None]]:
        """Every block row (id, size), then every listed id without a row (id, None)."""
        after = b""
        while True:
            async with self.db.read() as conn:
                rows = await q.block_rows(conn, after, BLOCK_BATCH)
            for block_id, size in rows:
                yield block_id, size
            if len(rows) < BLOCK_BATCH:
                break
            after = rows[-1][0]
        after = b""
        while True:
            async with self.db.read() as conn:
                ids = await q.rowless_blocks(conn, after, BLOCK_BATCH)
            for block_id in ids:
                yield block_id, None
            if len(ids) < BLOCK_BATCH:
                break
            after = ids[-1]

    async def _check_blocks(self, report: FsckReport, bad: dict[bytes, BadBlock],
                            tiered: list[bytes]) -> None:
        queue: asyncio.Queue[tuple[bytes, int | None] | None] = asyncio.Queue(4 * CONCURRENCY)

        async def feed() -> None:
            async for item in self._block_ids():
                await queue.put(item)
            for _ in range(CONCURRENCY):
                await queue.put(None)

        async def work() -> None:
            while (item := await queue.get()) is not None:
                found = await self._check_block(*item)
                if found is None:
                    continue  # collected while we ran: not part of the store any more
                report.blocks_checked += 1
                if found == TIERED:
                    report.tiered += 1
                    tiered.append(item[0])
                    continue
                if isinstance(found, BadBlock):
                    bad[found.id] = found
                    if found.kind == "missing":
                        report.missing += 1
                    else:
                        report.corrupt += 1
                else:
                    report.bytes_checked += found

        async with asyncio.TaskGroup() as tg:
            tg.create_task(feed())
            for _ in range(CONCURRENCY):
                tg.create_task(work())

    async def _check_block(self, block_id: bytes, size: int | None) -> BadBlock | int | None:
        """The block's size if it reads whole, a BadBlock if not, None if it was
        garbage-collected while fsck ran, `TIERED` if it is in the cold tier."""
        for attempt in (1, 2):
            try:
                plain = await self.content.read_block(block_id, local_only=True)
            except BlockNotFound:
                # The collector deletes the row first, then the file: if the
                # row and every reference are gone now, the block was collected.
                async with self.db.read() as conn:
                    if not await q.still_wanted(conn, [block_id]):
                        return None
                    row = (await coldq.rows(conn, [block_id])).get(block_id)
                if row is not None and row.state in (coldq.MOVING, coldq.COLD):
                    return TIERED
                if attempt == 1:
                    continue  # once more: a collect that put the file back just now
                return BadBlock(block_id, "missing", "no block file")
            except CorruptBlock as exc:
                return BadBlock(block_id, "corrupt", _reason(exc.message, block_id))
            except StorageError as exc:
                return BadBlock(block_id, "corrupt", f"unreadable: {exc.message}")
            if size is not None and len(plain) != size:
                return BadBlock(
                    block_id, "corrupt", f"holds {len(plain)} bytes but its row says {size}"
                )
            return len(plain)
        raise AssertionError("unreachable")

    # -- pass 2: revisions -------------------------------------------------------------

    async def _check_revisions(
        self, report: FsckReport, faults: dict[int, list[str]], broken_before: set[int]
    ) -> None:
        after = 0
        while True:
            async with self.db.read() as conn:
                revs = await q.revisions_after(conn, after, REVISION_BATCH)
                lists = await q.block_lists(conn, revs[0].id, revs[-1].id) if revs else {}
            for r in revs:
                report.revisions_checked += 1
                found = block_list_faults(r, lists.get(r.id, []))
                if found:
                    faults[r.id] = found
                if r.broken:
                    broken_before.add(r.id)
            if len(revs) < REVISION_BATCH:
                return
            after = revs[-1].id

    # -- naming what is affected ----------------------------------------------------------

    async def _problems(
        self, bad: dict[bytes, BadBlock], faults: dict[int, list[str]]
    ) -> list[Problem]:
        by_revision: dict[int, list[BadBlock]] = {}
        async with self.db.read() as conn:
            holders = await q.revisions_holding(conn, sorted(bad))
        held: set[bytes] = set()
        for revision_id, block_id in holders:
            by_revision.setdefault(revision_id, []).append(bad[block_id])
            held.add(block_id)
        wanted = sorted(set(by_revision) | set(faults))
        problems: list[Problem] = []
        for start in range(0, len(wanted), REPAIR_BATCH):
            async with self.db.read() as conn:
                found = await q.places(conn, wanted[start : start + REPAIR_BATCH])
            for revision_id in wanted[start : start + REPAIR_BATCH]:
                place = found.get(revision_id)
                if place is None:
                    continue  # deleted since it was checked
                blocks = sorted(by_revision.get(revision_id, []), key=lambda b: b.id)
                problems.append(Problem(tuple(blocks), tuple(faults.get(revision_id, [])), place))
        problems.sort(key=_order)
        # A bad block no revision lists (a pinned upload's, or garbage) still
        # makes the store not whole: a commit of sent blocks may list it later.
        problems += [Problem((b,)) for bid, b in sorted(bad.items()) if bid not in held]
        return problems

    # -- --repair -------------------------------------------------------------------------

    async def _repair(self, problems: Sequence[Problem]) -> list[Problem]:
        todo = [p for p in problems if p.place is not None and not p.place.broken]
        for start in range(0, len(todo), REPAIR_BATCH):
            batch = todo[start : start + REPAIR_BATCH]
            async with self.db.write() as conn:
                await tree.set_broken(conn, [p.place.revision_id for p in batch if p.place])
        return todo


def block_list_faults(revision: q.RevisionRow, blocks: Sequence[q.ListedBlock]) -> list[str]:
    """What is wrong with a revision's block list (nothing, for a sound one)."""
    faults: list[str] = []
    total = 0
    sizes_known = offsets_sound = True
    for i, b in enumerate(blocks):
        if b.seq != i:
            faults.append(f"entry {i} of its block list has sequence number {b.seq}")
            return faults  # the list is not in order: the rest would only repeat it
        if b.size is None:
            faults.append(f"block {b.block_id.hex()} has no block row")
            sizes_known = False
            continue
        if sizes_known and offsets_sound and b.offset != total:
            faults.append(f"block {i} starts at byte {b.offset}, not {total}")
            offsets_sound = False  # every later offset would be reported too
        total += b.size
    if sizes_known and total != revision.size:
        faults.append(f"its blocks add up to {total} bytes, not its size {revision.size}")
    if content_hash(b.block_id for b in blocks) != revision.content_hash:
        faults.append("its content hash does not match its block list")
    return faults


def _order(p: Problem) -> tuple[str, bool, str, int]:
    place = p.place
    return (place.owner, place.in_trash, place.path, place.rev) if place else ("", False, "", 0)


def _reason(message: str, block_id: bytes) -> str:
    """The codec's message without the block id it starts with."""
    return message.removeprefix(f"block {block_id.hex()} ")
