"""`selfdrive fsck [--repair]` on real data dirs made by the real server.

One store is built once per module (two users, multi-block files, an old
revision, a file shared by both users, files in the trash); each test checks
a copy of it, damaged the way the test needs.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from selfdrive.config import load
from selfdrive.core.blockhash import content_hash
from selfdrive.services.fsck import block_list_faults
from selfdrive.services.runtime import open_runtime
from selfdrive.store.meta.fsck import ListedBlock, RevisionRow
from tests.conftest import Server, cli

MiB = 1024 * 1024
SHARED = os.urandom(6 * MiB)


@dataclass(frozen=True)
class Store:
    data: Path
    #: (owner, path, rev) -> the revision's block ids, in order
    blocks: dict[tuple[str, str, int], list[bytes]]


def build(data: Path) -> None:
    srv = Server(data_dir=data)
    srv.start()
    try:
        _, alice = srv.add_user("alice")
        _, bob = srv.add_user("bob")
        with srv.client(alice) as a, srv.client(bob) as b:
            for client, path, content in [
                (a, "/docs/report.bin", SHARED),                    # rev 1
                (a, "/docs/report.bin", os.urandom(7 * MiB)),       # rev 2
                (a, "/docs/notes.txt", b"plain text notes\n" * 5000),
                (a, "/empty", b""),
                (a, "/old/archive.bin", os.urandom(5 * MiB)),
                (a, "/projects/old/deep.bin", os.urandom(5 * MiB)),
                (b, "/shared/copy.bin", SHARED),                    # dedup: alice's rev 1
            ]:
                r = client.put("/files/content", params={"path": path}, content=content)
                assert r.status_code == 201, r.text
            for path in ("/old", "/projects/old"):
                assert a.post("/files/delete", json={"path": path}).status_code == 200
            # The trash shows the path a file was deleted from, whatever happened since.
            r = a.post("/files/move", json={"from_path": "/projects", "to_path": "/renamed"})
            assert r.status_code == 200, r.text
    finally:
        srv.stop()


def block_map(data: Path) -> dict[tuple[str, str, int], list[bytes]]:
    """Every revision's blocks, keyed by owner, path when uploaded, rev (from the DB)."""
    names = {"report.bin": "/docs/report.bin", "notes.txt": "/docs/notes.txt",
             "empty": "/empty", "archive.bin": "/old/archive.bin",
             "deep.bin": "/projects/old/deep.bin", "copy.bin": "/shared/copy.bin"}
    out: dict[tuple[str, str, int], list[bytes]] = {}
    with contextlib.closing(sqlite3.connect(data / "meta.db")) as db, db:
        rows = db.execute(
            "SELECT u.name, n.name, r.rev, rb.block_id FROM revisions r"
            " JOIN nodes n ON n.id = r.node_id JOIN users u ON u.id = n.owner_id"
            " LEFT JOIN revision_blocks rb ON rb.revision_id = r.id ORDER BY r.id, rb.seq"
        ).fetchall()
    for user, name, rev, block_id in rows:
        ids = out.setdefault((user, names[name], rev), [])
        if block_id is not None:
            ids.append(bytes(block_id))
    return out


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Store:
    data = tmp_path_factory.mktemp("fsck") / "data"
    build(data)
    return Store(data, block_map(data))


@pytest.fixture
def store(pristine: Store, tmp_path: Path) -> Store:
    """A private copy of the module's store, to damage."""
    data = tmp_path / "data"
    shutil.copytree(pristine.data, data)
    return Store(data, pristine.blocks)


def block_file(data: Path, block_id: bytes) -> Path:
    h = block_id.hex()
    return data / "blocks" / h[0:2] / h[2:4] / h


def block_files(data: Path) -> list[Path]:
    return [p for p in (data / "blocks").glob("*/*/*") if len(p.name) == 64]


def flip_a_byte(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x40
    path.write_bytes(bytes(raw))


def fsck(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return cli("fsck", *args, data=data, check=False)


def problem_lines(out: str) -> list[str]:
    return [ln for ln in out.splitlines()
            if not ln.startswith(("selfdrive fsck:", "marked broken:", "repair:", "note:"))]


def db_rows(data: Path, sql: str) -> list[tuple[object, ...]]:
    with contextlib.closing(sqlite3.connect(data / "meta.db")) as db, db:
        return db.execute(sql).fetchall()


def summary_figures(out: str) -> dict[str, int]:
    m = re.search(
        r"checked (\d+) blocks \(([\d.]+) MB in [\d.]+ s, [\d.]+ MB/s\), (\d+) missing,"
        r" (\d+) corrupt(?:, \d+ in the cold tier)?; (\d+) revisions checked, (\d+) broken", out)
    assert m, out
    return {"blocks": int(m[1]), "missing": int(m[3]), "corrupt": int(m[4]),
            "revisions": int(m[5]), "broken": int(m[6])}


# -- a whole store ---------------------------------------------------------------


def test_a_whole_store_passes_and_every_block_is_counted(store: Store) -> None:
    r = fsck(store.data)
    assert r.returncode == 0, r.stdout + r.stderr
    assert problem_lines(r.stdout) == []
    assert "the store is whole" in r.stdout
    figures = summary_figures(r.stdout)
    listed = {b for ids in store.blocks.values() for b in ids}
    assert figures["blocks"] == len(block_files(store.data)) == len(listed) > 10
    assert figures["missing"] == figures["corrupt"] == figures["broken"] == 0
    assert figures["revisions"] == db_rows(store.data, "SELECT count(*) FROM revisions")[0][0] == 7


@pytest.mark.anyio
async def test_the_report_figures(store: Store) -> None:
    config, secrets_ = load(None, data_dir=store.data, env={})
    runtime = await open_runtime(config, secrets_)
    try:
        report = await runtime.fsck.check()
    finally:
        await runtime.close()
    count, total = db_rows(store.data, "SELECT count(*), sum(size) FROM blocks")[0]
    assert report.whole and report.problems == []
    assert report.blocks_checked == len(block_files(store.data)) == count
    assert isinstance(total, int) and report.bytes_checked == total > 20 * MiB
    assert report.revisions_checked == 7
    assert (report.missing, report.corrupt, report.broken_revisions) == (0, 0, 0)
    assert report.seconds > 0 and report.mb_per_s > 0


# -- damage is found and named --------------------------------------------------------


def test_a_missing_block_names_its_file_and_rev(store: Store) -> None:
    rev2 = store.blocks[("alice", "/docs/report.bin", 2)]
    assert len(rev2) >= 3
    victim = rev2[1]
    block_file(store.data, victim).unlink()
    r = fsck(store.data)
    assert r.returncode == 1
    assert problem_lines(r.stdout) == [
        f"alice: /docs/report.bin rev 2: block {victim.hex()} missing (no block file)"
    ]
    figures = summary_figures(r.stdout)
    assert (figures["missing"], figures["corrupt"], figures["broken"]) == (1, 0, 1)
    assert "the store is NOT whole" in r.stdout


def test_a_flipped_byte_is_named_as_corrupt(store: Store) -> None:
    victim = store.blocks[("alice", "/docs/notes.txt", 1)][0]
    flip_a_byte(block_file(store.data, victim))
    r = fsck(store.data)
    assert r.returncode == 1
    assert problem_lines(r.stdout) == [
        f"alice: /docs/notes.txt rev 1: block {victim.hex()} corrupt (failed authentication)"
    ]
    figures = summary_figures(r.stdout)
    assert (figures["missing"], figures["corrupt"], figures["broken"]) == (0, 1, 1)


def test_files_in_the_trash_are_named_as_such(store: Store) -> None:
    archive = store.blocks[("alice", "/old/archive.bin", 1)][-1]
    deep = store.blocks[("alice", "/projects/old/deep.bin", 1)][0]
    flip_a_byte(block_file(store.data, archive))
    block_file(store.data, deep).unlink()
    r = fsck(store.data)
    assert r.returncode == 1
    # deep.bin was deleted with its folder, whose parent was renamed since:
    # it is named where it was deleted from, as the trash lists it.
    assert problem_lines(r.stdout) == [
        f"alice: (in trash) /old/archive.bin rev 1: block {archive.hex()} corrupt"
        " (failed authentication)",
        f"alice: (in trash) /projects/old/deep.bin rev 1: block {deep.hex()} missing"
        " (no block file)",
    ]


def test_a_shared_block_names_every_file_that_holds_it(store: Store) -> None:
    shared = store.blocks[("alice", "/docs/report.bin", 1)]
    assert shared == store.blocks[("bob", "/shared/copy.bin", 1)]
    block_file(store.data, shared[2]).unlink()
    r = fsck(store.data)
    assert r.returncode == 1
    assert problem_lines(r.stdout) == [
        f"alice: /docs/report.bin rev 1: block {shared[2].hex()} missing (no block file)",
        f"bob: /shared/copy.bin rev 1: block {shared[2].hex()} missing (no block file)",
    ]
    figures = summary_figures(r.stdout)
    assert (figures["missing"], figures["broken"]) == (1, 2)


def test_an_unsound_block_list_is_named(store: Store) -> None:
    with contextlib.closing(sqlite3.connect(store.data / "meta.db")) as db, db:
        (rid,) = db.execute(
            "SELECT r.id FROM revisions r JOIN nodes n ON n.id = r.node_id"
            " WHERE n.name = 'archive.bin'").fetchone()
        db.execute("UPDATE revision_blocks SET offset = offset + 1"
                   " WHERE revision_id = ? AND seq = 1", (rid,))
    r = fsck(store.data)
    assert r.returncode == 1
    [line] = problem_lines(r.stdout)
    assert line.startswith("alice: (in trash) /old/archive.bin rev 1: block 1 starts at byte ")
    r = fsck(store.data, "--repair")
    assert "marked broken: alice: (in trash) /old/archive.bin rev 1" in r.stdout
    assert db_rows(store.data, f"SELECT broken FROM revisions WHERE id = {rid}") == [(1,)]


def test_a_bad_block_no_revision_lists_still_fails(store: Store) -> None:
    """A pinned or unreferenced block is checked too (a commit may list it later)."""
    with contextlib.closing(sqlite3.connect(store.data / "meta.db")) as db, db:
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("INSERT INTO blocks (id, size, stored_size, created_at)"
                   " VALUES (?, 10, 50, 0)", (b"\x07" * 32,))
    r = fsck(store.data)
    assert r.returncode == 1
    assert problem_lines(r.stdout) == [
        f"block {'07' * 32} missing (no block file); no revision lists it"
    ]
    assert summary_figures(r.stdout)["broken"] == 0


# -- --repair ---------------------------------------------------------------------------


def test_repair_marks_exactly_the_broken_revisions_and_deletes_nothing(store: Store) -> None:
    missing = store.blocks[("alice", "/docs/report.bin", 2)][0]
    corrupt = store.blocks[("alice", "/old/archive.bin", 1)][1]
    saved = block_file(store.data, missing).read_bytes()
    block_file(store.data, missing).unlink()
    flip_a_byte(block_file(store.data, corrupt))
    srv = Server(data_dir=store.data)
    srv.start()  # fsck runs beside a live server
    try:
        files_before = sorted(block_files(store.data))
        counts = ("SELECT (SELECT count(*) FROM revisions), (SELECT count(*) FROM nodes),"
                  " (SELECT count(*) FROM blocks), (SELECT count(*) FROM revision_blocks)")
        rows_before = db_rows(store.data, counts)
        assert db_rows(store.data, "SELECT count(*) FROM revisions WHERE broken = 1") == [(0,)]

        r = fsck(store.data, "--repair")
        assert r.returncode == 1, r.stdout + r.stderr
        assert [ln for ln in r.stdout.splitlines() if ln.startswith("marked broken:")] == [
            "marked broken: alice: /docs/report.bin rev 2",
            "marked broken: alice: (in trash) /old/archive.bin rev 1",
        ]
        assert "repair: marked 2 revisions broken; nothing was deleted" in r.stdout

        broken = db_rows(store.data, "SELECT n.name, r.rev FROM revisions r"
                         " JOIN nodes n ON n.id = r.node_id WHERE r.broken = 1 ORDER BY n.name")
        assert broken == [("archive.bin", 1), ("report.bin", 2)]
        assert sorted(block_files(store.data)) == files_before
        assert db_rows(store.data, counts) == rows_before
        with srv.client(srv.token("alice", "user-password-1")) as api:
            revs = api.get("/files/list_revisions", params={"path": "/docs/report.bin"}).json()
            assert [(x["rev"], x["broken"]) for x in revs["revisions"]] == [(2, True), (1, False)]
            notes = api.get("/files/list_revisions", params={"path": "/docs/notes.txt"}).json()
            assert [x["broken"] for x in notes["revisions"]] == [False]

        # Still not whole, and says the revisions are already marked.
        r = fsck(store.data)
        assert r.returncode == 1
        lines = problem_lines(r.stdout)
        assert len(lines) == 2 and all(ln.endswith("[already marked broken]") for ln in lines)
        assert "2 broken (2 already marked broken)" in r.stdout
        r = fsck(store.data, "--repair")
        assert r.returncode == 1
        assert "repair: marked 0 revisions broken; 2 were already marked" in r.stdout
        assert sorted(block_files(store.data)) == files_before
        assert db_rows(store.data, counts) == rows_before

        # Blocks back from a backup: whole again; the marks stay, and are pointed out.
        block_file(store.data, missing).write_bytes(saved)
        flip_a_byte(block_file(store.data, corrupt))
        r = fsck(store.data)
        assert r.returncode == 0, r.stdout
        assert "note: 2 revisions marked broken earlier now check whole" in r.stdout
    finally:
        srv.stop()


def test_fsck_wants_an_existing_store(tmp_path: Path) -> None:
    r = fsck(tmp_path / "nowhere")
    assert r.returncode == 1 and "no selfdrive store" in r.stderr
    assert not (tmp_path / "nowhere").exists()


# -- the block list rules, one by one ---------------------------------------------------------


def _rev(blocks: list[ListedBlock], size: int | None = None) -> RevisionRow:
    total = sum(b.size or 0 for b in blocks) if size is None else size
    return RevisionRow(1, 1, 1, total, content_hash(b.block_id for b in blocks), False)


def _blocks(*sizes: int) -> list[ListedBlock]:
    out, offset = [], 0
    for i, size in enumerate(sizes):
        out.append(ListedBlock(i, bytes([i]) * 32, offset, size))
        offset += size
    return out


def test_block_list_rules() -> None:
    sound = _blocks(10, 20, 30)
    assert block_list_faults(_rev(sound), sound) == []
    assert block_list_faults(_rev([]), []) == []
    gap = [*sound[:2], ListedBlock(2, sound[2].block_id, 31, 30)]
    assert block_list_faults(_rev(sound), gap) == ["block 2 starts at byte 31, not 30"]
    assert block_list_faults(_rev(sound, size=61), sound) == [
        "its blocks add up to 60 bytes, not its size 61"]
    rowless = [sound[0], ListedBlock(1, sound[1].block_id, 10, None), sound[2]]
    assert block_list_faults(_rev(sound), rowless) == [
        f"block {sound[1].block_id.hex()} has no block row"]
    reordered = [sound[0], sound[2], sound[1]]
    assert block_list_faults(_rev(sound), reordered)[0] == (
        "entry 1 of its block list has sequence number 2")
    other_hash = RevisionRow(1, 1, 1, 60, content_hash([b"x" * 32]), False)
    assert block_list_faults(other_hash, sound) == [
        "its content hash does not match its block list"]


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"
