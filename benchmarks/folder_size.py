"""A folder's size over a big tree: how long GET /files/folder_size's query takes.

    python benchmarks/folder_size.py [--files 95236] [--runs 20]

Builds a tree of --files files in 4,764 folders (five levels, a few
folders in the trash with what they hold, one file in ten with a second
revision) straight through the tree queries in one transaction, 100,000
nodes with the defaults; then times `FolderSizes.of` (one recursive query)
on the root, on one top folder and on a folder two levels down, median and
worst of --runs, on a warm database.  Each answer is checked against a walk
of the same subtree in Python (`tree.subtree`), which is timed too.
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
from selfdrive.services.auth import Principal
from selfdrive.services.runtime import Runtime, open_runtime
from selfdrive.store.meta import trash as trashq
from selfdrive.store.meta import tree

NOW = 1_700_000_000_000
FANOUT = (12, 6, 5, 4, 2)  # folders per folder, level by level: 12 + 72 + ... = 4,764


async def build(rt: Runtime, who: Principal, files: int) -> dict[str, int]:
    """The tree; returns the node ids of the folders timed, by name."""
    rnd = random.Random(1)
    async with rt.db.read() as conn:
        user = await rt.files._user(conn, who)
    async with rt.db.write() as conn:
        levels = [[user.root_id]]
        for fanout in FANOUT:
            levels.append([await tree.insert_node(conn, user.id, parent, f"d{k}", "folder", NOW)
                           for parent in levels[-1] for k in range(fanout)])
        folders = [f for level in levels for f in level]
        for i in range(files):
            await tree.insert_node(conn, user.id, rnd.choice(folders), f"f{i}.bin", "file", NOW)
        await conn.execute(
            "INSERT INTO revisions (node_id, rev, size, content_hash, mtime, created_at)"
            " SELECT id, 1, abs(random()) % 20000000, randomblob(32), ?1, ?1 FROM nodes"
            " WHERE owner_id = ?2 AND kind = 'file'", (NOW, user.id))
        await conn.execute(
            "INSERT INTO revisions (node_id, rev, size, content_hash, mtime, created_at)"
            " SELECT id, 2, abs(random()) % 20000000, randomblob(32), ?1, ?1 FROM nodes"
            " WHERE owner_id = ?2 AND kind = 'file' AND id % 10 = 0", (NOW, user.id))
        await conn.execute(
            "UPDATE nodes SET current_rev = (SELECT max(rev) FROM revisions r"
            " WHERE r.node_id = nodes.id) WHERE owner_id = ? AND kind = 'file'", (user.id,))
        for gone in rnd.sample(levels[3][1:], 20):
            await trashq.mark_trashed(conn, gone, "/gone", user.id, NOW)
    print(f"{len(folders) - 1} folders and {files} files ({len(folders) + files - 1} nodes,"
          f" 20 folders in the trash)")
    return {"/": user.root_id, "/d0": levels[1][0], "/d0/d0/d0": levels[3][0]}


async def run(files: int, runs: int, work: Path) -> None:
    config, secrets = load(None, data_dir=work / "data", env={"HOME": str(work)})
    rt = await open_runtime(config, secrets)
    try:
        user = await rt.auth.create_user("bench", "bench-password", quota_bytes=10**15)
        who = Principal(user.id, user.name, False, None, None)
        started = time.perf_counter()
        tops = await build(rt, who, files)
        print(f"built in {time.perf_counter() - started:.1f} s")
        print("| folder | files below | folders below | query median ms | worst ms |"
              " walk in Python ms |")
        print("|---|---:|---:|---:|---:|---:|")
        for path, node_id in tops.items():
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                found = await rt.sizes.of(who, path)
                times.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            async with rt.db.read() as conn:
                walked = (await tree.subtree(conn, node_id))[1:]
            walk_ms = (time.perf_counter() - t0) * 1000
            expected = (sum(n.size for n, _ in walked), sum(not n.is_folder for n, _ in walked),
                        sum(n.is_folder for n, _ in walked))
            assert (found.size, found.files, found.folders) == expected, (path, found, expected)
            print(f"| `{path}` | {found.files:,} | {found.folders:,}"
                  f" | {statistics.median(times):.1f} | {max(times):.1f} | {walk_ms:.0f} |")
    finally:
        await rt.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=95_236)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        asyncio.run(run(args.files, args.runs, Path(work)))


if __name__ == "__main__":
    main()
