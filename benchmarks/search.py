"""Search by name over a big tree: how long one page of GET /files/search takes.

    python benchmarks/search.py [--files 100000] [--runs 20]

Builds a tree of --files files in folders of about 20 (four levels deep,
names of photos, documents and music, some with accents) straight through
the tree queries in one transaction (uploading them would time the upload
path, not search), then times `SearchService.search` for the first page
(limit 100) of queries from very common to absent, median and worst of
--runs, on a warm database.  The HTTP layer adds a JSON encode of one page.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path

from selfdrive.config import load
from selfdrive.core.names import fold
from selfdrive.services.auth import Principal
from selfdrive.services.runtime import open_runtime
from selfdrive.store.meta import search as search_q
from selfdrive.store.meta import tree

WORDS = ["report", "invoice", "Résumé", "holiday", "Zürich", "budget", "notes", "draft",
         "Straße", "beach", "family", "concert", "tax", "school", "garden", "car"]
KINDS = [("IMG_{d}_{n}.jpg", 6), ("{w}-{y} ({n}).pdf", 2), ("{w} {n}.docx", 1),
         ("track {n} - {w}.mp3", 1)]
QUERIES = [("a", "/"), ("img", "/"), ("2023", "/"), ("résumé", "/"), ("zurich-20", "/"),
           ("IMG_20230", "/"), ("no such name", "/"), ("beach", "/f3")]


def name_of(rnd: random.Random, i: int) -> str:
    pattern = rnd.choices([k for k, _ in KINDS], weights=[w for _, w in KINDS])[0]
    year = rnd.randrange(2015, 2026)
    return pattern.format(d=f"{year}{rnd.randrange(1, 13):02d}{rnd.randrange(1, 29):02d}",
                          n=i, w=rnd.choice(WORDS).lower() if rnd.random() < 0.5
                          else rnd.choice(WORDS), y=year)


async def build(rt: object, who: Principal, files: int) -> None:
    from selfdrive.services.runtime import Runtime

    assert isinstance(rt, Runtime)
    rnd = random.Random(1)
    async with rt.db.read() as conn:
        user = await rt.files._user(conn, who)
    now = 1_700_000_000_000
    async with rt.db.write() as conn:
        folders = [user.root_id]
        made = 0
        level = [user.root_id]
        for depth in range(4):
            nxt = []
            for parent in level:
                for k in range(5 if depth else 12):
                    nxt.append(await tree.insert_node(
                        conn, user.id, parent, f"{rnd.choice(WORDS)} {depth}{k}", "folder", now))
            folders += nxt
            level = nxt
        # a predictable top folder for the "below a folder" query
        await tree.rename_node(conn, folders[1], user.root_id, "f3", now)
        while made < files:
            await tree.insert_node(conn, user.id, rnd.choice(folders), name_of(rnd, made),
                                   "file", now)
            made += 1
    print(f"{files} files in {len(folders)} folders")


async def run(files: int, runs: int, work: Path) -> None:
    config, secrets = load(None, data_dir=work / "data", env={"HOME": str(work)})
    rt = await open_runtime(config, secrets)
    try:
        user = await rt.auth.create_user("bench", "bench-password", quota_bytes=10**15)
        who = Principal(user.id, user.name, False, None, None)
        started = time.perf_counter()
        await build(rt, who, files)
        print(f"built in {time.perf_counter() - started:.1f} s")
        print("| q | below | matches | first page (100) median ms | worst ms |")
        print("|---|---|---:|---:|---:|")
        for q, path in QUERIES:
            times = []
            count = 0
            for _ in range(runs):
                t0 = time.perf_counter()
                _, page, _ = await rt.search.search(who, path, q, limit=100)
                times.append((time.perf_counter() - t0) * 1000)
                count = len(page)
            async with rt.db.read() as conn:
                top = (await rt.files.resolve(conn, who, path))[0].node.id
                total = len(await search_q.below(conn, top, "", fold(q), after="",
                                                 limit=files))
            print(f"| `{q}` | `{path}` | {total} "
                  f"| {statistics.median(times):.1f} | {max(times):.1f} |"
                  + ("" if count else " (no page)"))
    finally:
        await rt.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        asyncio.run(run(args.files, args.runs, Path(work)))


if __name__ == "__main__":
    main()
