"""selfdrive.store.meta.stats: the store's totals and the cache that the
metrics and the admin page share (fresh on a small store, counted again on a
big one only as often as the cost rule allows)."""

from __future__ import annotations

import asyncio

import pytest

from selfdrive.core.clock import FakeClock
from selfdrive.store.meta.db import Database
from selfdrive.store.meta.stats import COST_FACTOR, StoreStatsCache
from selfdrive.store.meta.users import add_usage, insert_user

NOW = 1_700_000_000_000


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class CountingCosts(FakeClock):
    """A clock on which every reading of the monotonic time is `step` later:
    a count (two readings) takes `step` seconds."""

    def __init__(self, step: float) -> None:
        super().__init__(NOW)
        self.step = step

    def monotonic(self) -> float:
        self.mono += self.step
        return self.mono


async def _use(db: Database, user_id: int, delta: int) -> None:
    async with db.write() as conn:
        await add_usage(conn, user_id, delta)


@pytest.mark.anyio
async def test_a_cheap_count_is_always_fresh(db: Database) -> None:
    async with db.write() as conn:
        alice = await insert_user(conn, "alice", "h", is_admin=False, quota_bytes=10**9, now=NOW)
    cache = StoreStatsCache(db, FakeClock(NOW))  # counting takes no time on this clock
    first = await cache.get()
    assert first is not None and first.used_bytes == 0
    await _use(db, alice, 1234)
    second = await cache.get()
    assert second is not None and second.used_bytes == 1234
    # A caller that accepts older totals (a metrics scrape) gets the kept ones.
    await _use(db, alice, 1)
    kept = await cache.get(max_age_s=30)
    assert kept is not None and kept.used_bytes == 1234


@pytest.mark.anyio
async def test_a_costly_count_is_kept_in_proportion(db: Database) -> None:
    async with db.write() as conn:
        alice = await insert_user(conn, "alice", "h", is_admin=False, quota_bytes=10**9, now=NOW)
    clock = CountingCosts(step=1.0)
    cache = StoreStatsCache(db, clock)
    assert (await cache.get()) is not None
    assert cache.took_s == 1.0
    await _use(db, alice, 99)
    # Kept for COST_FACTOR times the count's cost...
    same = await cache.get()
    assert same is not None and same.used_bytes == 0
    clock.mono += COST_FACTOR * cache.took_s
    # ...then counted again.
    fresh = await cache.get()
    assert fresh is not None and fresh.used_bytes == 99


@pytest.mark.anyio
async def test_callers_at_once_share_one_count(db: Database) -> None:
    cache = StoreStatsCache(db, FakeClock(NOW))
    counts = 0
    real = db.read

    def counted_read():  # type: ignore[no-untyped-def]
        nonlocal counts
        counts += 1
        return real()

    db.read = counted_read  # type: ignore[method-assign]
    results = await asyncio.gather(*(cache.get() for _ in range(10)))
    assert counts == 1
    assert all(r is results[0] for r in results)
