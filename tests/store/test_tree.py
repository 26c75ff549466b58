"""selfdrive.store.meta.tree.ordered_subtree: a whole subtree in path-segment
order, paged, in one query per page (the recursive listing)."""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import anyio
from hypothesis import given, settings
from hypothesis import strategies as st

from selfdrive.store.meta import tree
from selfdrive.store.meta.db import Database
from selfdrive.store.meta.trash import mark_trashed
from selfdrive.store.meta.users import insert_user, user_by_name

NOW = 1_700_000_000_000

Rel = tuple[str, ...]


async def _build(db: Database, paths: Sequence[Rel], trashed: Sequence[Rel] = ()) -> int:
    """A user whose tree holds *paths* (folders for every prefix, the last
    segment a folder too: kinds do not matter to the order); returns the root id."""
    async with db.write() as conn:
        await insert_user(conn, "u", "h", is_admin=False, quota_bytes=1, now=NOW)
        user = await user_by_name(conn, "u")
        assert user is not None
        ids: dict[Rel, int] = {(): user.root_id}
        for rel in paths:
            for depth in range(1, len(rel) + 1):
                if rel[:depth] not in ids:
                    kind = "folder" if depth < len(rel) or len(rel) % 2 else "file"
                    ids[rel[:depth]] = await tree.insert_node(
                        conn, user.id, ids[rel[: depth - 1]], rel[depth - 1], kind, NOW
                    )
        for rel in trashed:
            await mark_trashed(conn, ids[rel], "/" + "/".join(rel), user.id, NOW)
    return user.root_id


async def _page_all(db: Database, root: int, limit: int) -> list[Rel]:
    """Every entry below *root*, page by page, each page after the last one's path."""
    out: list[Rel] = []
    after: list[str] = []
    async with db.read() as conn:
        while True:
            page = await tree.ordered_subtree(conn, root, after=after, limit=limit)
            out += [tuple(rel) for rel, _ in page]
            if len(page) < limit:
                return out
            after = page[-1][0]


def _everything(paths: Sequence[Rel], trashed: Sequence[Rel] = ()) -> list[Rel]:
    """What a listing must give: every prefix of every path, not under a
    trashed one, sorted as lists of segments compare."""
    found = {rel[:d] for rel in paths for d in range(1, len(rel) + 1)}
    found = {r for r in found if not any(r[: len(t)] == t for t in trashed)}
    return sorted(found, key=list)


def _run_with_db(test: Callable[[Database], Awaitable[None]]) -> None:
    async def main() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            db = Database(Path(tmp) / "meta.db")
            await db.open()
            try:
                await test(db)
            finally:
                await db.close()

    anyio.run(main)


def test_names_sort_by_segments_so_a_folder_precedes_its_contents() -> None:
    paths: list[Rel] = [("a b",), ("a-b",), ("a", "b"), ("a", "b", "c"), ("a.b",), ("a",),
                        ("A",), ("é",), ("e", "z"), ("ab",)]

    async def check(db: Database) -> None:
        root = await _build(db, paths)
        async with db.read() as conn:
            got = [tuple(rel) for rel, _ in await tree.ordered_subtree(
                conn, root, after=[], limit=100)]
        assert got == [("A",), ("a",), ("a", "b"), ("a", "b", "c"), ("a b",), ("a-b",),
                       ("a.b",), ("ab",), ("e",), ("e", "z"), ("é",)]

    _run_with_db(check)


def test_after_need_not_exist_and_none_includes_the_top() -> None:
    paths: list[Rel] = [("a", "x"), ("a", "y", "1"), ("b",), ("c", "d")]

    async def check(db: Database) -> None:
        root = await _build(db, paths)
        async with db.read() as conn:
            async def walk(after: list[str] | None) -> list[Rel]:
                found = await tree.ordered_subtree(conn, root, after=after, limit=100)
                return [tuple(rel) for rel, _ in found]

            assert (await walk(None))[0] == ()
            assert await walk(["a", "x"]) == [("a", "y"), ("a", "y", "1"), ("b",), ("c",),
                                              ("c", "d")]
            # Deleted since the last page: the listing goes on where it would have been.
            assert await walk(["a", "xx", "deep"]) == [("a", "y"), ("a", "y", "1"), ("b",),
                                                       ("c",), ("c", "d")]
            assert await walk(["a", "y"]) == [("a", "y", "1"), ("b",), ("c",), ("c", "d")]
            assert await walk(["bb"]) == [("c",), ("c", "d")]
            assert await walk(["z"]) == []

    _run_with_db(check)


def test_trashed_nodes_and_their_contents_are_left_out() -> None:
    paths: list[Rel] = [("keep", "1"), ("gone", "1"), ("gone", "2", "3"), ("z",)]

    async def check(db: Database) -> None:
        root = await _build(db, paths, trashed=[("gone",)])
        assert await _page_all(db, root, 2) == [("keep",), ("keep", "1"), ("z",)]

    _run_with_db(check)


names = st.text(alphabet="ab -.é/", min_size=1, max_size=3).map(lambda s: s.replace("/", "_"))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(names, min_size=1, max_size=4).map(tuple), min_size=1, max_size=25),
       st.integers(min_value=1, max_value=6))
def test_paging_gives_every_entry_once_in_order(paths: list[Rel], limit: int) -> None:
    async def check(db: Database) -> None:
        root = await _build(db, paths)
        assert await _page_all(db, root, limit) == _everything(paths)

    _run_with_db(check)


def test_twenty_thousand_entries_page_in_one_query_each() -> None:
    rng = random.Random(5)
    words = ["doc", "src", "a b", "a-b", "img", "x", "Notes", "été", "z.txt", "0"]
    paths: list[Rel] = []
    for i in range(20_000):
        depth = rng.randint(1, 5)
        paths.append((*[rng.choice(words) for _ in range(depth - 1)], f"f{i}"))

    async def check(db: Database) -> None:
        root = await _build(db, paths)
        started = time.monotonic()
        got = await _page_all(db, root, 1000)
        elapsed = time.monotonic() - started
        assert got == _everything(paths)
        assert len(got) > 20_000
        # Generous: about 1 s here; a walk that re-read the whole tree per
        # page, or a query per folder, would take many times that.
        assert elapsed < 20, elapsed

    _run_with_db(check)
