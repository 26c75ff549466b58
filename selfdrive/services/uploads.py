"""Resumable uploads: a file sent in pieces, over hours if need be, that
survives dropped connections and server restarts (the rules of tus 1.0,
without the HTTP; selfdrive/http/tus.py speaks the protocol).

How the bytes are kept (docs/storage.md, "Resumable uploads"):

- Each piece (a PATCH) is chunked as it arrives, continuing the chunking of
  the pieces before it; whole blocks go to the block store at once and are
  recorded as the upload's *parts* (and pinned against garbage collection)
  about every second, so a PATCH that dies keeps what it had made durable.
- The bytes after the last block boundary, less than one block, are the
  *tail*.  When a piece ends short of the upload's end, the tail is written
  encrypted to staging (`Staging`) and its length committed; the next piece
  starts by chunking it again.  No byte is stored twice, apart from tails.
- The offset a client is told is exactly what is durable: the parts, then
  the staged tail.
- When the last byte arrives the tail becomes the last block, and one
  transaction makes the parts the file's newest revision and marks the upload
  done (the same write ordering as a simple upload).  If the file changed
  since ``base_rev`` meanwhile, the upload is committed as a conflict copy
  beside it, so neither side is lost.

One PATCH at a time per upload: a second gets UploadBusy (423) at once; the
database's compare-and-set on the parts' end keeps two server processes from
interleaving bytes too.  Terminating an upload cancels its PATCH in progress.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import aiosqlite
import anyio

from selfdrive.core import paths
from selfdrive.core.blockhash import content_hash
from selfdrive.core.clock import Clock
from selfdrive.core.conflicts import conflict_name
from selfdrive.core.errors import (
    AlreadyExists,
    BadRequest,
    ChecksumMismatch,
    IncompleteBody,
    NotAFile,
    NotFound,
    OffsetMismatch,
    PayloadTooLarge,
    QuotaExceeded,
    RevisionConflict,
    TooManyUploads,
    UploadBusy,
)
from selfdrive.services.auth import Principal
from selfdrive.services.files import FileService, InTransaction
from selfdrive.store.content import PIN_MIN_S, BlockRef, ContentStore
from selfdrive.store.meta import gc as gcq
from selfdrive.store.meta import uploads as uq
from selfdrive.store.meta import users as usersq
from selfdrive.store.meta.db import Database
from selfdrive.store.meta.uploads import ResumableRow
from selfdrive.store.staging import Staging

log = logging.getLogger("selfdrive.uploads")

#: Upload-Checksum algorithms, by their tus names
CHECKSUMS: dict[str, Callable[[], hashlib._Hash]] = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha512": hashlib.sha512,
}
#: a PATCH whose client sent nothing for this long gives way to a new one
TAKEOVER_IDLE_S = 3.0
#: how many times a completion tries another conflict-copy name
CONFLICT_ATTEMPTS = 20


@dataclass(frozen=True)
class UploadLimits:
    #: an unfinished upload is removed this long after its last PATCH
    expiry_ms: int
    #: unfinished resumable uploads per user
    max_open: int = 20
    #: staged tail bytes per user; past it a PATCH keeps only whole blocks
    max_staging_bytes: int = 256 * 1024 * 1024


@dataclass(frozen=True)
class Checksum:
    algorithm: str
    digest: bytes

    @classmethod
    def parse(cls, header: str) -> Checksum:
        """From an Upload-Checksum header: ``<algorithm> <base64 digest>``."""
        algorithm, _, encoded = header.strip().partition(" ")
        if algorithm not in CHECKSUMS:
            raise BadRequest(
                f"checksum algorithm {algorithm!r} is not supported; use one of"
                f" {', '.join(CHECKSUMS)}", supported=list(CHECKSUMS),
            )
        try:
            digest = base64.b64decode(encoded.strip(), validate=True)
        except ValueError:
            raise BadRequest("the Upload-Checksum digest is not valid base64") from None
        if len(digest) != CHECKSUMS[algorithm]().digest_size:
            raise BadRequest(f"a {algorithm} digest is {CHECKSUMS[algorithm]().digest_size} bytes")
        return cls(algorithm, digest)


@dataclass(frozen=True)
class Upload:
    """What a client may know of an upload."""

    token: str
    path: str
    length: int
    offset: int
    created_at: int
    expires_at: int
    metadata: str
    #: once done: where the file landed (a conflict copy's name if it came to that)
    done_path: str | None = None
    done_rev: int | None = None

    @property
    def done(self) -> bool:
        return self.done_rev is not None

    @property
    def conflict(self) -> bool:
        return self.done_path is not None and self.done_path != self.path

    @classmethod
    def of(cls, row: ResumableRow) -> Upload:
        return cls(
            token=row.token, path=row.path, length=row.length,
            offset=row.length if row.done else row.offset, created_at=row.created_at,
            expires_at=row.expires_at, metadata=row.metadata, done_path=row.done_path,
            done_rev=row.done_rev,
        )


@dataclass
class _Active:
    """A PATCH in progress: its worker task, which a termination may cancel,
    and the read of its body, which a vanished client interrupts."""

    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    finished: anyio.Event = field(default_factory=anyio.Event)
    reading: anyio.CancelScope | None = None
    stopped: bool = False
    #: time.monotonic() of the last bytes read
    last_read: float = field(default_factory=time.monotonic)

    def stop_reading(self) -> None:
        """The client is gone: end the body here, and keep what arrived."""
        self.stopped = True
        if self.reading is not None:
            self.reading.cancel()


class UploadService:
    def __init__(
        self, db: Database, files: FileService, content: ContentStore, staging: Staging,
        clock: Clock, limits: UploadLimits,
    ) -> None:
        self.db = db
        self.files = files
        self.content = content
        self.staging = staging
        self.clock = clock
        self.limits = limits
        self._active: dict[str, _Active] = {}
        self._workers: set[asyncio.Future[Upload]] = set()

    # -- creation and status -----------------------------------------------------------------

    async def create(
        self, who: Principal, path: str, length: int, *, base_rev: int | None = None,
        mtime: int | None = None, metadata: str = "", executable: bool = False,
        link_id: int | None = None,
    ) -> Upload:
        """A new, empty upload of *length* bytes for *path* (its revision
        *executable* or not), the user's own or, with *link_id*, a file drop's.

        Everything that can be known now is checked now: the path, the size
        against the limit and the quota, what is in the way, base_rev, and the
        unfinished uploads of its pool (the user's own, or the drop's: a
        visitor's never block the owner's).
        """
        parts = paths.split_path(path)
        if not parts:
            raise NotAFile("/ is a folder, not a file")
        if length < 0:
            raise BadRequest("Upload-Length must not be negative")
        now = self.clock.now_ms()
        async with self.db.write() as conn:
            place = await self.files.place(conn, who, parts, write=True)
            existing = await self.files.check_target(conn, place, base_rev)
            owner = place.owner  # an upload into a share counts toward its owner's quota
            room = owner.quota_bytes - owner.used_bytes + (existing.size if existing else 0)
            self.files.check_size(length, room)
            user = await usersq.user_by_id(conn, who.user_id)
            if user is None:
                raise NotFound("your account no longer exists")
            count, reserved, _staged = await uq.open_totals(conn, user.id, link_id)
            if count >= self.limits.max_open:
                raise TooManyUploads(
                    f"you have {count} unfinished uploads, the most allowed; finish or"
                    " cancel one first", limit=self.limits.max_open,
                )
            if reserved + length > user.quota_bytes:
                raise QuotaExceeded(
                    f"your unfinished uploads already reserve {reserved} bytes of your"
                    f" {user.quota_bytes}-byte quota; finish or cancel some first",
                    available_bytes=max(user.quota_bytes - reserved, 0),
                )
            token = secrets.token_urlsafe(18)
            await uq.create(
                conn, token=token, user_id=user.id, path=paths.join_parts(parts),
                device_id=who.device_id, length=length, base_rev=base_rev, mtime=mtime,
                metadata=metadata, now=now, expires_at=now + self.limits.expiry_ms,
                executable=executable, link_id=link_id,
            )
            row = await uq.by_token(conn, token)
        assert row is not None
        return Upload.of(row)

    async def _row(self, conn: aiosqlite.Connection, who: Principal, token: str) -> ResumableRow:
        row = await uq.by_token(conn, token)
        # Someone else's upload is as unknown as one that never was.
        if row is None or row.user_id != who.user_id:
            raise NotFound("no such upload (it may have expired or been cancelled)")
        return row

    async def status(self, who: Principal, token: str) -> Upload:
        async with self.db.read() as conn:
            return Upload.of(await self._row(conn, who, token))

    # -- writing -------------------------------------------------------------------------------

    async def patch(
        self, who: Principal, token: str, offset: int, body: AsyncIterator[bytes], *,
        content_length: int | None = None, checksum: Checksum | None = None,
        in_transaction: InTransaction | None = None,
    ) -> Upload:
        """Append *body* at *offset*; return the upload as it now stands.

        *in_transaction* runs in the transaction that commits the finished
        file (a file drop checks there that its link still stands).

        If the body breaks off (IncompleteBody from the stream), what arrived
        is kept and the upload stands at what is durable, unless a checksum
        was given: then the piece is discarded whole, as on a mismatch
        (ChecksumMismatch).
        """
        async with self.db.read() as conn:
            row = await self._row(conn, who, token)
        stale = self._active.get(token)
        if stale is not None:
            if time.monotonic() - stale.last_read < TAKEOVER_IDLE_S:
                raise UploadBusy("another request is sending bytes to this upload; try again")
            # Its client has sent nothing for a while: a connection that died
            # without a word (a phone that changed networks).  End it where it
            # is, save what it got, and let this one go on from there.
            stale.stop_reading()
            await stale.finished.wait()
            if token in self._active:
                raise UploadBusy("another request is sending bytes to this upload; try again")
        active = self._active[token] = _Active()
        # The work runs in its own task: when the client vanishes, the server
        # cancels the request's task, but what arrived must still be saved.
        worker = asyncio.ensure_future(
            self._run(active, who, row, offset, body, content_length, checksum, in_transaction)
        )
        self._workers.add(worker)
        worker.add_done_callback(_forget)
        worker.add_done_callback(self._workers.discard)
        try:
            return await asyncio.shield(worker)
        except asyncio.CancelledError:
            active.stop_reading()
            raise

    async def _run(
        self, active: _Active, who: Principal, row: ResumableRow, offset: int,
        body: AsyncIterator[bytes], content_length: int | None, checksum: Checksum | None,
        in_transaction: InTransaction | None,
    ) -> Upload:
        try:
            with active.scope:
                return await self._patch(
                    active, who, row, offset, body, content_length, checksum, in_transaction
                )
            raise NotFound("the upload was cancelled while this request was sending it")
        finally:
            del self._active[row.token]
            active.finished.set()

    async def close(self) -> None:
        """Server shutdown: end every PATCH's body where it is, and save it."""
        for active in self._active.values():
            active.stop_reading()
        await asyncio.gather(*self._workers, return_exceptions=True)

    async def _patch(
        self, active: _Active, who: Principal, row: ResumableRow, offset: int,
        body: AsyncIterator[bytes], content_length: int | None, checksum: Checksum | None,
        in_transaction: InTransaction | None,
    ) -> Upload:
        # Re-read under the busy mark: the row may have moved since the lookup.
        async with self.db.read() as conn:
            row = await self._row(conn, who, row.token)
        if row.done:
            if offset == row.length and not content_length:
                return Upload.of(row)  # a client repeating the last PATCH
            raise OffsetMismatch(
                "this upload is complete", offset=row.length, path=row.done_path,
            )
        if offset != row.offset:
            raise OffsetMismatch(
                f"the upload stands at byte {row.offset}, not {offset}", offset=row.offset
            )
        remaining = row.length - offset
        if content_length is not None and content_length > remaining:
            raise PayloadTooLarge(
                f"this PATCH sends {content_length} bytes but only {remaining} remain",
                remaining_bytes=remaining,
            )
        if offset == row.length:  # a finished upload whose commit failed: try again
            return await self._complete(who, row, [], row.parts_end, in_transaction)
        prefix = b""
        if row.tail_len:
            staged = await self.staging.read(row.token, row.staged_gen, row.staged_len)
            prefix = staged[row.parts_end - row.staged_at :]

        hasher = CHECKSUMS[checksum.algorithm]() if checksum else None
        received = 0
        interrupted = False

        async def pieces() -> AsyncIterator[bytes]:
            nonlocal received, interrupted
            stream = body.__aiter__()
            try:
                while not active.stopped:
                    with anyio.CancelScope() as reading:
                        active.reading = reading
                        try:
                            piece = await stream.__anext__()
                        except StopAsyncIteration:
                            break
                        finally:
                            active.reading = None
                    if reading.cancelled_caught:
                        break
                    active.last_read = time.monotonic()
                    received += len(piece)
                    if received > remaining:
                        raise PayloadTooLarge(
                            f"the body holds more than the {remaining} bytes that remain",
                            remaining_bytes=remaining,
                        )
                    if hasher is not None:
                        hasher.update(piece)
                    yield piece
            except IncompleteBody:
                interrupted = True
            if active.stopped or (content_length is not None and received < content_length):
                interrupted = True

        # Progress: whole blocks become parts as they turn durable, about once a
        # second (without a checksum; with one, nothing counts until it is
        # verified, so they are only pinned).  The first checkpoint waits a
        # second too: a PATCH shorter than that records its blocks once, with
        # its tail, in _save (one write transaction per PATCH, not two), and
        # the GC grace period protects its young blocks meanwhile, as it does
        # a simple upload's.
        parts_end = row.parts_end
        recorded = 0

        async def checkpoint(refs: list[BlockRef]) -> None:
            nonlocal parts_end, recorded
            now = self.clock.now_ms()
            async with self.db.write() as conn:
                if hasher is None:
                    new_end = await uq.add_parts(
                        conn, row.upload_id, _triples(refs), old_parts_end=parts_end, now=now
                    )
                    if new_end is None:
                        raise UploadBusy("another request wrote to this upload meanwhile")
                    parts_end = new_end
                    recorded += len(refs)
                else:
                    await gcq.pin_blocks(conn, row.upload_id, _triples(refs), now)
                await uq.extend(conn, row.upload_id, now + self.limits.expiry_ms)

        ingested = await self.content.ingest(
            pieces(), pin=checkpoint, pin_after_s=PIN_MIN_S, prefix=prefix, final=False,
        )
        if checksum is not None and hasher is not None:
            if interrupted:
                raise IncompleteBody("the body broke off; with a checksum nothing of it is kept")
            if hasher.digest() != checksum.digest:
                raise ChecksumMismatch(
                    f"the body does not match its {checksum.algorithm} checksum;"
                    " its bytes were discarded",
                )
        fresh = ingested.blocks[recorded:]
        if not interrupted and offset + received == row.length:
            if ingested.tail:
                fresh.append(await self.content.store_block(ingested.tail))
            return await self._complete(who, row, fresh, parts_end, in_transaction)
        return await self._save(row, fresh, parts_end, ingested.tail, len(prefix))

    async def _save(
        self, row: ResumableRow, fresh: list[BlockRef], parts_end: int, tail: bytes,
        prefix_len: int,
    ) -> Upload:
        """Make an unfinished upload's progress durable: blocks, then the tail."""
        now = self.clock.now_ms()
        cut = bool(fresh) or parts_end != row.parts_end
        new_end = parts_end + sum(r.size for r in fresh)
        async with self.db.read() as conn:
            _, _, staged = await uq.open_totals(conn, row.user_id, row.link_id)
        if staged - row.staged_len + len(tail) > self.limits.max_staging_bytes:
            log.info("upload %s: staging is full for its pool (the user's or a drop's);"
                     " keeping whole blocks only", row.token)
            tail = b""
        if not tail:
            at, length, gen = new_end, 0, row.staged_gen
        elif not cut and row.tail_len:
            # Nothing was cut since the tail was staged: add the new bytes to it.
            at, length, gen = row.staged_at, row.staged_len + len(tail) - prefix_len, row.staged_gen
            await self.staging.append(row.token, gen, row.staged_len, tail[prefix_len:])
        else:
            at, length, gen = new_end, len(tail), row.staged_gen + 1
            await self.staging.append(row.token, gen, 0, tail)
        async with self.db.write() as conn:
            if fresh and await uq.add_parts(
                conn, row.upload_id, _triples(fresh), old_parts_end=parts_end, now=now
            ) is None:
                raise UploadBusy("another request wrote to this upload meanwhile")
            await uq.set_staged(conn, row.upload_id, at=at, length=length, gen=gen)
            await uq.extend(conn, row.upload_id, now + self.limits.expiry_ms)
            saved = await uq.by_token(conn, row.token)
        if saved is None:
            raise NotFound("the upload was cancelled meanwhile")
        if gen != row.staged_gen or not length:
            await self.staging.remove(row.token, except_gen=gen if length else None)
        return Upload.of(saved)

    async def _complete(
        self, who: Principal, row: ResumableRow, fresh: list[BlockRef], parts_end: int,
        in_transaction: InTransaction | None = None,
    ) -> Upload:
        """The last byte is durable: commit the revision (or a conflict copy)."""
        async with self.db.read() as conn:
            recorded = await uq.parts(conn, row.upload_id)
        refs = [BlockRef(bid, size, 0, new=False) for bid, size in recorded] + fresh
        total = sum(r.size for r in refs)
        if total != row.length:
            raise OffsetMismatch(
                f"the upload holds {total} bytes, not {row.length}; resume it",
                offset=parts_end,
            )
        digest = content_hash(r.id for r in refs)
        expires = self.clock.now_ms() + self.limits.expiry_ms

        async def mark_done(conn: aiosqlite.Connection, path: str, rev: int) -> None:
            if in_transaction is not None:
                await in_transaction(conn, path, rev)
            await uq.mark_done(conn, row.upload_id, path, rev, expires)

        parts = paths.split_path(row.path)
        folder, name = parts[:-1], parts[-1]
        base_rev = row.base_rev
        try:
            for attempt in range(CONFLICT_ATTEMPTS + 1):
                try:
                    await self.files.commit(
                        who, parts, refs, row.length, digest, base_rev, row.mtime,
                        in_transaction=mark_done, executable=row.executable,
                    )
                    break
                except (RevisionConflict, NotAFile, AlreadyExists):
                    if attempt == CONFLICT_ATTEMPTS:
                        raise
                    # The file changed (or a folder took its place) since the
                    # upload began: keep both, the upload as a conflict copy.
                    copy = conflict_name(name, device=who.device_name,
                                         when_ms=self.clock.now_ms(), attempt=attempt + 1)
                    parts, base_rev = [*folder, copy], 0
        except BaseException:
            # Keep what arrived: the client may fix the cause (free some
            # quota...) and PATCH again with no bytes at the final offset.
            if fresh:
                with anyio.CancelScope(shield=True):
                    await self._record(row, fresh, parts_end)
            raise
        async with self.db.read() as conn:
            done = await uq.by_token(conn, row.token)
        await self.staging.remove(row.token)
        assert done is not None
        return Upload.of(done)

    async def _record(self, row: ResumableRow, fresh: list[BlockRef], parts_end: int) -> None:
        now = self.clock.now_ms()
        async with self.db.write() as conn:
            end = await uq.add_parts(
                conn, row.upload_id, _triples(fresh), old_parts_end=parts_end, now=now
            )
            if end is not None:
                await uq.set_staged(conn, row.upload_id, at=end, length=0, gen=row.staged_gen)

    # -- ending --------------------------------------------------------------------------------

    async def terminate(self, who: Principal, token: str) -> None:
        """Cancel an upload: stop its PATCH in progress, forget it, free its space."""
        async with self.db.read() as conn:
            row = await self._row(conn, who, token)
        active = self._active.get(token)
        if active is not None:
            active.scope.cancel()
            await active.finished.wait()
        async with self.db.write() as conn:
            await uq.delete(conn, row.upload_id)
        await self.staging.remove(token)


def _forget(task: asyncio.Future[Upload]) -> None:
    """A worker whose request went away: its outcome is in the database; an
    error is not left unretrieved."""
    if not task.cancelled():
        task.exception()


def _triples(refs: list[BlockRef]) -> list[tuple[bytes, int, int]]:
    return [(r.id, r.size, r.stored_size) for r in refs]
