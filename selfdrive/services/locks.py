"""WebDAV locks (RFC 4918 section 6): who may write where, for a while.

Locks live in this process's memory: a restart drops them, and clients
(Finder, Office, Windows) take them again when they next write, as they do
after a lock times out.  A lock is on a path in its owner's tree (so a
share's recipient and its owner meet the same lock), exclusive or shared,
on the resource alone (depth 0) or on a folder and all it holds (depth
infinity).  Whoever takes a lock gets its token; a write under a lock must
submit the token (WebDAV's If header), and only the user who took it may
use it.  Each user may hold at most MAX_PER_USER locks.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from selfdrive.core.clock import Clock
from selfdrive.core.errors import Locked, TooManyLocks

MAX_PER_USER = 1000
MAX_TIMEOUT_S = 3600
DEFAULT_TIMEOUT_S = 600

#: (owner id of the tree, the path's parts in that tree)
Where = tuple[int, tuple[str, ...]]


@dataclass
class Lock:
    token: str
    user_id: int
    where: Where
    #: the locked path as its taker sees it (the lock root in answers)
    path: str
    exclusive: bool
    infinite: bool
    #: the client's <D:owner> element, as sent (re-serialized XML), or b""
    owner: bytes
    timeout_s: int
    expires: float

    def covers(self, where: Where) -> bool:
        space, parts = where
        root = self.where[1]
        return space == self.where[0] and (
            parts == root or (self.infinite and parts[:len(root)] == root))


class LockManager:
    def __init__(self, clock: Clock, max_per_user: int = MAX_PER_USER) -> None:
        self.clock = clock
        self.max_per_user = max_per_user
        self._by_token: dict[str, Lock] = {}
        self._by_space: dict[int, dict[str, Lock]] = {}

    # -- looking ---------------------------------------------------------------------

    def get(self, token: str) -> Lock | None:
        lock = self._by_token.get(token)
        if lock is not None and lock.expires <= self.clock.monotonic():
            self._drop(lock)
            return None
        return lock

    def covering(self, where: Where) -> list[Lock]:
        """The locks on *where* itself or on a folder above it with depth infinity."""
        return [lock for lock in self._live(where[0]) if lock.covers(where)]

    def within(self, where: Where) -> list[Lock]:
        """The locks on *where* or anything below it, and those covering it."""
        space, parts = where
        return [lock for lock in self._live(space)
                if lock.covers(where) or lock.where[1][:len(parts)] == parts]

    def check(self, where: Where, user_id: int, tokens: Sequence[str], *,
              members: bool = False) -> None:
        """Locked unless every lock in the way had its token submitted by the
        user who took it; *members* counts locks below *where* too (a DELETE
        or MOVE of a folder)."""
        for lock in self.within(where) if members else self.covering(where):
            if lock.token not in tokens or lock.user_id != user_id:
                raise Locked(f"{lock.path} is locked; submit its lock token to change it",
                             path=lock.path)

    # -- changing --------------------------------------------------------------------

    def can_lock(self, user_id: int, where: Where, *, exclusive: bool, infinite: bool) -> None:
        """Locked if another lock is in the way, TooManyLocks if the user holds
        the most allowed: checked before a LOCK makes anything."""
        for other in self.within(where) if infinite else self.covering(where):
            if exclusive or other.exclusive:
                raise Locked(f"{other.path} is already locked", path=other.path)
        if sum(lock.user_id == user_id for lock in self._by_token.values()) >= self.max_per_user:
            self._expire()
            if sum(lk.user_id == user_id for lk in self._by_token.values()) >= self.max_per_user:
                raise TooManyLocks(f"you hold {self.max_per_user} locks, the most allowed;"
                                   " unlock some first")

    def lock(self, user_id: int, where: Where, path: str, *, exclusive: bool,
             infinite: bool, owner: bytes, timeout_s: int) -> Lock:
        self.can_lock(user_id, where, exclusive=exclusive, infinite=infinite)
        timeout_s = _clamp(timeout_s)
        lock = Lock(f"urn:uuid:{uuid.uuid4()}", user_id, where, path, exclusive, infinite,
                    owner, timeout_s, self.clock.monotonic() + timeout_s)
        self._by_token[lock.token] = lock
        self._by_space.setdefault(where[0], {})[lock.token] = lock
        return lock

    def refresh(self, lock: Lock, timeout_s: int) -> Lock:
        lock.timeout_s = _clamp(timeout_s)
        lock.expires = self.clock.monotonic() + lock.timeout_s
        return lock

    def unlock(self, lock: Lock) -> None:
        self._drop(lock)

    def forget_within(self, where: Where) -> None:
        """Drop the locks on *where* and below (it was deleted or moved away)."""
        space, parts = where
        for lock in list(self._live(space)):
            if lock.where[1][:len(parts)] == parts:
                self._drop(lock)

    # -- inside ----------------------------------------------------------------------

    def _live(self, space: int) -> list[Lock]:
        now = self.clock.monotonic()
        locks = self._by_space.get(space, {})
        for lock in [lk for lk in locks.values() if lk.expires <= now]:
            self._drop(lock)
        return list(locks.values())

    def _expire(self) -> None:
        now = self.clock.monotonic()
        for lock in [lk for lk in self._by_token.values() if lk.expires <= now]:
            self._drop(lock)

    def _drop(self, lock: Lock) -> None:
        self._by_token.pop(lock.token, None)
        space = self._by_space.get(lock.where[0], {})
        space.pop(lock.token, None)
        if not space:
            self._by_space.pop(lock.where[0], None)


def _clamp(timeout_s: int) -> int:
    return max(1, min(timeout_s, MAX_TIMEOUT_S))
