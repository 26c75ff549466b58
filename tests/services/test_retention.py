"""The retention policy (a pure function): what it keeps and what it lets go."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from selfdrive.services.retention import DAY_MS, HOUR_MS, WEEK_MS, Policy, Rev, to_remove

NOW = 1_800_000_000_000
POLICY = Policy()


def revs(ages_ms: list[int], pinned: set[int] = frozenset()) -> list[Rev]:  # type: ignore[assignment]
    """Revisions with these ages, newest first; ids are their positions."""
    return [Rev(id=i, created_at=NOW - age, pinned=i in pinned)
            for i, age in enumerate(sorted(ages_ms))]


def test_keeps_everything_from_the_last_day() -> None:
    assert to_remove(revs([m * 60_000 for m in range(0, 24 * 60, 20)]), NOW, POLICY) == []


def test_one_per_hour_for_a_week() -> None:
    # 6 revisions in each of 3 hours, two days ago
    ages = [2 * DAY_MS + h * HOUR_MS + m * 60_000 for h in range(3) for m in range(0, 60, 10)]
    r = revs(ages)
    removed = set(to_remove(r, NOW, POLICY))
    kept = [x for x in r if x.id not in removed]
    hours = {x.created_at // HOUR_MS for x in r}
    assert len(kept) == len(hours), "exactly one per hour"
    assert {x.created_at // HOUR_MS for x in kept} == hours
    for hour in hours:  # and it is the newest of its hour
        newest = max((x for x in r if x.created_at // HOUR_MS == hour), key=lambda x: x.created_at)
        assert newest in kept


def test_one_per_day_then_one_per_week() -> None:
    daily = [10 * DAY_MS + h * HOUR_MS for h in range(0, 24, 2)]  # 12 in one day
    weekly = [60 * DAY_MS + d * DAY_MS for d in range(7)]  # 7 in about one week
    r = revs(daily + weekly)
    removed = set(to_remove(r, NOW, POLICY))
    kept = [x for x in r if x.id not in removed]
    assert len({x.created_at // DAY_MS for x in kept if NOW - x.created_at < 30 * DAY_MS}) == \
        len([x for x in kept if NOW - x.created_at < 30 * DAY_MS])
    old = [x for x in kept if NOW - x.created_at >= 30 * DAY_MS]
    assert len({x.created_at // WEEK_MS for x in old}) == len(old) <= 2


def test_at_most_max_revisions_and_never_the_newest() -> None:
    r = revs([m * 1000 for m in range(150)])  # all in the last day
    removed = set(to_remove(r, NOW, POLICY))
    assert len(r) - len(removed) == 100
    assert r[0].id not in removed
    assert removed == {x.id for x in r[100:]}  # the oldest go first


def test_pinned_are_kept_and_not_counted() -> None:
    r = revs([m * 1000 for m in range(120)], pinned={110, 115, 119})
    removed = set(to_remove(r, NOW, POLICY))
    assert not removed & {110, 115, 119}
    unpinned_kept = [x for x in r if x.id not in removed and not x.pinned]
    assert len(unpinned_kept) == 100


def test_newest_is_kept_even_when_very_old() -> None:
    r = revs([400 * DAY_MS, 400 * DAY_MS + 1000, 400 * DAY_MS + 2000])
    removed = set(to_remove(r, NOW, POLICY))
    assert r[0].id not in removed
    assert len(removed) == 2  # the other two share the newest one's week


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=400 * DAY_MS), min_size=1, max_size=200),
    st.sets(st.integers(min_value=0, max_value=199)),
    st.integers(min_value=1, max_value=120),
)
def test_properties(ages: list[int], pinned: set[int], max_revisions: int) -> None:
    policy = Policy(max_revisions=max_revisions)
    r = revs(ages, pinned)
    removed = to_remove(r, NOW, policy)
    assert len(removed) == len(set(removed))
    ids = {x.id for x in r}
    assert set(removed) <= ids
    assert r[0].id not in removed, "the newest revision is never removed"
    assert not set(removed) & {x.id for x in r if x.pinned}, "pinned revisions stay"
    kept_unpinned = [x for x in r if x.id not in removed and not x.pinned]
    assert len(kept_unpinned) <= max(max_revisions, 1)
    young = [x for x in r if NOW - x.created_at < policy.keep_all_ms and not x.pinned]
    if len(young) <= max_revisions:
        assert not set(removed) & {x.id for x in young}, "the last day is kept whole"
    # applying the policy again to what it kept removes nothing more
    kept = [x for x in r if x.id not in removed]
    assert to_remove(kept, NOW, policy) == []
