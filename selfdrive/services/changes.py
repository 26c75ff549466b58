"""The change feed: what changed for a user since a cursor, and a doorbell
(long poll) that rings as soon as something did.

The journal (`changes`) holds one row per user who can see a change, with the
path as that user sees it, written in the transaction that makes the change.
A cursor is the seq of the last change a device has seen.  Journal rows older
than the retention are pruned; a cursor below what was pruned gets
CursorExpired (410) and the device relists.

Waiters cost nothing while idle: after each write transaction the database
calls `_after_commit`, which reads the rows that transaction journaled (a
primary-key range, usually one or two rows) and wakes exactly the users they
belong to.  The newest seq of each user is kept in memory, so a wait that
starts behind answers without a query.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import aiosqlite

from selfdrive.core.clock import Clock
from selfdrive.core.errors import BadRequest, CursorExpired
from selfdrive.services.auth import Principal
from selfdrive.store.meta import changes as q
from selfdrive.store.meta.changes import Change
from selfdrive.store.meta.db import Database

log = logging.getLogger("selfdrive.changes")

MAX_PAGE = 2000
#: waiters woken per turn of the event loop
RING_BATCH = 256


@dataclass(frozen=True)
class FeedSettings:
    #: the longest wait a client may ask for (seconds)
    max_wait_s: float = 120.0
    #: waiters held at once; past it a wait answers at once with a backoff
    max_waiters: int = 20_000
    #: how long to tell a client to back off when the server is full (seconds)
    overload_backoff_s: int = 30
    #: how long to tell a client to back off when the server is stopping (a
    #: restart or an upgrade takes a few seconds)
    stopping_backoff_s: int = 5
    #: journal rows older than this are pruned by maintenance (ms)
    retention_ms: int = 30 * 24 * 3600 * 1000


@dataclass(frozen=True)
class Page:
    changes: list[Change]
    cursor: int
    has_more: bool


@dataclass(frozen=True)
class Rung:
    """The answer to a wait: did something change, and how long to back off."""

    changes: bool
    backoff_s: int = 0


class ChangeFeed:
    def __init__(self, db: Database, clock: Clock, settings: FeedSettings) -> None:
        self.db = db
        self.clock = clock
        self.settings = settings
        self._waiters: dict[int, set[asyncio.Future[bool]]] = {}
        self._count = 0
        #: newest seq journaled for a user, for users seen since start
        self._latest: dict[int, int] = {}
        #: newest seq the commit hook has looked at
        self._seen = 0
        self._floor = 0
        self._ringing: set[asyncio.Future[None]] = set()
        self._calm = asyncio.Event()
        self._calm.set()
        #: set once the server is stopping: every wait answers at once
        self._stopping = False

    async def start(self) -> None:
        """Read where the journal stands, then follow every commit."""
        async with self.db.read() as conn:
            self._seen = await q.latest_seq(conn)
            self._floor = await q.floor(conn)
        self.db.after_commit = self._after_commit

    @property
    def waiting(self) -> int:
        return self._count

    # -- reading the feed ----------------------------------------------------------------------

    async def latest(self, who: Principal) -> int:
        """A cursor that stands at now: changes after it are news."""
        async with self.db.read() as conn:
            return await q.latest_seq(conn)

    async def list(self, who: Principal, cursor: int, limit: int) -> Page:
        if not 1 <= limit <= MAX_PAGE:
            raise BadRequest(f"limit must be between 1 and {MAX_PAGE}")
        async with self.db.read() as conn:
            floor = await q.floor(conn)
            if cursor < floor:
                raise _expired(cursor, floor)
            rows = await q.page(conn, who.user_id, cursor, limit + 1)
            top = await q.latest_seq(conn) if len(rows) <= limit else 0
        has_more = len(rows) > limit
        rows = rows[:limit]
        # Past the last row of mine comes nothing of mine up to the newest seq,
        # so the cursor may jump there and the next call starts later.
        new_cursor = rows[-1].seq if has_more else max(top, cursor)
        return Page(rows, new_cursor, has_more)

    # -- waiting ---------------------------------------------------------------------------------

    async def wait(self, who: Principal, cursor: int, timeout_s: float) -> Rung:
        """Ring as soon as a change for *who* passes *cursor*, or after *timeout_s*."""
        if not 0 < timeout_s <= self.settings.max_wait_s:
            raise BadRequest(f"timeout must be between 1 and {self.settings.max_wait_s:.0f} s")
        if cursor < self._floor or await self._newest_for(who.user_id) > cursor:
            return Rung(True)
        if self._stopping:
            return Rung(False, self.settings.stopping_backoff_s)
        if self._count >= self.settings.max_waiters:
            return Rung(False, self.settings.overload_backoff_s)
        loop = asyncio.get_running_loop()
        bell: asyncio.Future[bool] = loop.create_future()
        waiters = self._waiters.setdefault(who.user_id, set())
        waiters.add(bell)
        self._count += 1
        # A plain timer, not wait_for: ten thousand waiters make it count.
        timer = loop.call_later(timeout_s, _answer, bell, False)
        try:
            # Checked again now that the bell is hung: a commit in between
            # updated _latest before it could ring us.
            if self._latest.get(who.user_id, 0) > cursor:
                return Rung(True)
            rang = await bell
            if not rang and self._stopping:
                return Rung(False, self.settings.stopping_backoff_s)
            return Rung(rang)
        finally:
            timer.cancel()
            self._count -= 1
            waiters.discard(bell)
            if not waiters and self._waiters.get(who.user_id) is waiters:
                del self._waiters[who.user_id]

    def stop(self) -> None:
        """The server is stopping: answer every waiter now, and every wait from
        now on at once, with nothing new and a short backoff, so that long
        polls do not hold the shutdown and clients come back after it."""
        self._stopping = True
        for bells in list(self._waiters.values()):
            for bell in list(bells):
                _answer(bell, False)

    def ring(self, user_id: int) -> None:
        """Wake every waiter of *user_id* (a change, or a notification).

        Many waiters are woken in batches from a task that yields between
        them, so the request that made the change, and every other one, is
        answered meanwhile instead of after all of them.
        """
        bells = list(self._waiters.get(user_id, ()))
        if len(bells) <= RING_BATCH:
            for bell in bells:
                _answer(bell, True)
            return
        task = asyncio.ensure_future(_ring_in_batches(bells))
        self._ringing.add(task)
        self._calm.clear()
        task.add_done_callback(self._rung)

    def _rung(self, task: asyncio.Future[None]) -> None:
        self._ringing.discard(task)
        if not self._ringing:
            self._calm.set()

    async def settled(self) -> None:
        """Return once no big wake-up is in progress (at once, usually)."""
        if self._ringing:
            await self._calm.wait()

    async def _newest_for(self, user_id: int) -> int:
        if user_id not in self._latest:
            async with self.db.read() as conn:
                found = await q.latest_for(conn, user_id)
            # The commit hook may have stored a newer one meanwhile.
            self._latest[user_id] = max(self._latest.get(user_id, 0), found)
        return self._latest[user_id]

    async def _after_commit(self, conn: aiosqlite.Connection) -> None:
        rows = await q.since(conn, self._seen)
        for seq, user_id in rows:
            self._seen = max(self._seen, seq)
            self._latest[user_id] = max(self._latest.get(user_id, 0), seq)
            self.ring(user_id)

    # -- pruning -----------------------------------------------------------------------------------

    async def prune(self) -> int:
        """Forget journal rows past the retention (maintenance calls this)."""
        before = self.clock.now_ms() - self.settings.retention_ms
        async with self.db.write() as conn:
            removed = await q.prune(conn, before)
            self._floor = await q.floor(conn)
        return removed


def _answer(bell: asyncio.Future[bool], rang: bool) -> None:
    if not bell.done():
        bell.set_result(rang)


async def _ring_in_batches(bells: list[asyncio.Future[bool]]) -> None:
    for start in range(0, len(bells), RING_BATCH):
        for bell in bells[start : start + RING_BATCH]:
            _answer(bell, True)
        await asyncio.sleep(0)


def _expired(cursor: int, floor: int) -> CursorExpired:
    return CursorExpired(
        f"cursor {cursor} is older than the journal keeps (it starts after {floor});"
        " list the folders again and start from /changes/latest",
        floor=floor,
    )
