"""`Attempts`: wrong passwords per key in a sliding window, in this process's memory.

Sign-in (per username: the API's tokens, WebDAV's Basic auth) and
password-protected links (per link) count wrong passwords here; after
*limit* in *window_s* every password is refused with 429 (TooManyAttempts)
until the oldest of them leaves the window.
"""

from __future__ import annotations

import math
from collections.abc import Hashable

from selfdrive.core.clock import Clock
from selfdrive.core.errors import TooManyAttempts


class Attempts:
    """An attempt is counted before the password is checked (so parallel
    guesses cannot slip past the limit) and forgiven when it was right."""

    def __init__(self, clock: Clock, limit: int, window_s: float, what: str) -> None:
        self.clock = clock
        self.limit = limit
        self.window_s = window_s
        self.what = what
        self._failures: dict[Hashable, list[float]] = {}

    def begin(self, key: Hashable) -> float:
        now = self.clock.monotonic()
        if len(self._failures) > 10_000:
            self._sweep(now)
        recent = [t for t in self._failures.get(key, ()) if t > now - self.window_s]
        if len(recent) >= self.limit:
            self._failures[key] = recent
            wait = max(1, math.ceil(recent[0] + self.window_s - now))
            raise TooManyAttempts(
                f"too many wrong passwords for {self.what}; try again in {wait} s",
                retry_after_s=wait,
            )
        recent.append(now)
        self._failures[key] = recent
        return now

    def forgive(self, key: Hashable, stamp: float) -> None:
        recent = self._failures.get(key, [])
        if stamp in recent:
            recent.remove(stamp)
        if not recent:
            self._failures.pop(key, None)

    def _sweep(self, now: float) -> None:
        for key in [k for k, v in self._failures.items() if v[-1] <= now - self.window_s]:
            del self._failures[key]
