"""Which revisions to keep: the retention policy, as a pure function.

Default policy (every number configurable, `[retention]` in the config):
keep every revision younger than 24 hours; then the newest revision of each
hour for 7 days, of each day for 30 days, and of each week after that; and
at most 100 revisions per file.  The newest revision is always kept.  Pinned
revisions are always kept and do not count toward the limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

HOUR_MS = 3600 * 1000
DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS


@dataclass(frozen=True)
class Policy:
    keep_all_ms: int = DAY_MS
    hourly_ms: int = 7 * DAY_MS
    daily_ms: int = 30 * DAY_MS
    max_revisions: int = 100


@dataclass(frozen=True)
class Rev:
    id: int
    created_at: int
    pinned: bool


def to_remove(revisions: Sequence[Rev], now: int, policy: Policy) -> list[int]:
    """Ids of the revisions the policy lets go; *revisions* are newest first."""
    if not revisions:
        return []
    kept: list[Rev] = []
    drop: list[int] = []
    seen_buckets: set[tuple[str, int]] = set()
    for i, r in enumerate(revisions):
        if r.pinned:
            continue  # kept, and not counted
        age = now - r.created_at
        bucket: tuple[str, int] | None
        if age < policy.keep_all_ms:
            bucket = None
        elif age < policy.hourly_ms:
            bucket = ("h", r.created_at // HOUR_MS)
        elif age < policy.daily_ms:
            bucket = ("d", r.created_at // DAY_MS)
        else:
            bucket = ("w", r.created_at // WEEK_MS)
        if i > 0 and bucket is not None and bucket in seen_buckets:
            drop.append(r.id)  # a newer revision already stands for this period
            continue
        if bucket is not None:
            seen_buckets.add(bucket)
        kept.append(r)
    # kept is newest first; the newest revision (index 0) is never dropped
    drop += [r.id for r in kept[max(policy.max_revisions, 1) :] if r is not revisions[0]]
    return drop
