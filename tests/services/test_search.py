"""services/search.py on a real Runtime: folding, placing matches in the
tree, the trash, and the start-up fold of rows from before migration 0011."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from selfdrive.core.errors import BadRequest
from selfdrive.core.names import fold
from tests.services.conftest import RT

pytestmark = pytest.mark.anyio


async def body(data: bytes) -> AsyncIterator[bytes]:
    yield data


def test_fold() -> None:
    assert fold("Résumé") == fold("RESUME") == fold("re\u0301sume\u0301") == "resume"
    assert fold("Straße") == "strasse" and fold("\ufb01le") == "file"


async def test_search_finds_by_fold_and_skips_the_trash(rt: RT) -> None:
    runtime, _, who = rt
    for path in ("/Docs/Résumé.pdf", "/Docs/old/RESUME-2019.txt", "/Trip/resume.jpg",
                 "/other.txt"):
        await runtime.files.upload(who, path, body(b"x"))
    await runtime.files.delete(who, "/Trip")
    _, found, more = await runtime.search.search(who, "/", "résume", limit=10)
    # by code point: "R" before "o"
    assert [e.path for e in found] == ["/Docs/Résumé.pdf", "/Docs/old/RESUME-2019.txt"]
    assert not more
    _, found, _ = await runtime.search.search(who, "/Docs/old", "RES", limit=10)
    assert [e.path for e in found] == ["/Docs/old/RESUME-2019.txt"]
    with pytest.raises(BadRequest):
        await runtime.search.search(who, "/", "\u0301", limit=10)


async def test_rows_from_before_the_migration_are_folded(rt: RT) -> None:
    runtime, _, who = rt
    await runtime.files.upload(who, "/Ünïcode Name.txt", body(b"x"))
    async with runtime.db.write() as conn:
        await conn.execute("UPDATE nodes SET name_fold = NULL")
    assert (await runtime.search.search(who, "/", "unicode", limit=10))[1] == []
    assert await runtime.search.fold_missing() >= 2  # the file and the root
    assert await runtime.search.fold_missing() == 0
    _, found, _ = await runtime.search.search(who, "/", "unicode", limit=10)
    assert [e.path for e in found] == ["/Ünïcode Name.txt"]
    async with runtime.db.read() as conn, conn.execute(
        "SELECT name_fold FROM nodes WHERE name = ?", ("Ünïcode Name.txt",)
    ) as cur:
        assert await cur.fetchone() == ("unicode name.txt",)


async def test_a_move_and_a_restore_refold(rt: RT) -> None:
    runtime, _, who = rt
    await runtime.files.upload(who, "/a.txt", body(b"x"))
    await runtime.files.move(who, "/a.txt", "/Zürich.txt")
    _, found, _ = await runtime.search.search(who, "/", "zurich", limit=10)
    assert [e.path for e in found] == ["/Zürich.txt"]
    await runtime.files.delete(who, "/Zürich.txt")
    assert (await runtime.search.search(who, "/", "zurich", limit=10))[1] == []
    entry = (await runtime.trash.list(who))[0]
    await runtime.trash.restore(who, entry.id)
    assert len((await runtime.search.search(who, "/", "zurich", limit=10))[1]) == 1
