"""The planner on a file system that folds case (macOS, Windows)."""

from __future__ import annotations

from selfdrive.core.conflicts import is_conflict_copy
from selfdrive.sync.planner import Download, MkdirLocal, MoveLocal, MoveRemote, Options, plan
from selfdrive.sync.tree import Base, Local, Remote

FOLDS = Options(device="mac", now_ms=1_764_000_000_000, case_insensitive=True)


def test_two_server_names_that_differ_in_case_do_not_overwrite_each_other() -> None:
    remote = {"a.txt": Remote("file", 1, "h1", 1, 1), "A.txt": Remote("file", 2, "h2", 1, 1)}
    ops = plan({}, {}, remote, FOLDS)
    move, download = ops
    assert isinstance(move, MoveRemote) and isinstance(download, Download)
    assert {move.src, download.key} == {"a.txt", "A.txt"}
    assert is_conflict_copy(move.dst) and "(conflicted copy from mac" in move.dst


def test_a_server_name_clashing_with_a_local_file_becomes_a_conflict_copy() -> None:
    local = {"readme.md": Local("file", 10, "h1", 1, 5)}
    base = {"readme.md": Base("file", 1, 10, "h1", 1, 1, 5)}
    remote = {"readme.md": Remote("file", 1, "h1", 1, 1),
              "README.md": Remote("file", 2, "h2", 1, 1)}
    ops = plan(base, local, remote, FOLDS)
    assert len(ops) == 1 and isinstance(ops[0], MoveRemote) and ops[0].src == "README.md"


def test_a_clashing_folder_moves_away_with_its_contents() -> None:
    local = {"docs": Local("folder", 10, None)}
    base = {"docs": Base("folder", 1, 10, None)}
    remote = {"docs": Remote("folder", 1), "Docs": Remote("folder", 2),
              "Docs/x": Remote("file", 3, "h3", 1, 1)}
    ops = plan(base, local, remote, FOLDS)
    assert len(ops) == 1 and isinstance(ops[0], MoveRemote) and ops[0].src == "Docs"
    assert not any(isinstance(op, Download | MkdirLocal) for op in ops)


def test_a_case_only_rename_on_the_server_is_a_local_rename() -> None:
    base = {"a.txt": Base("file", 1, 10, "h1", 1, 1, 5)}
    local = {"a.txt": Local("file", 10, "h1", 1, 5)}
    remote = {"A.txt": Remote("file", 1, "h1", 1, 1)}
    assert plan(base, local, remote, FOLDS) == [MoveLocal("a.txt", "A.txt")]


def test_a_case_only_rename_here_is_a_server_rename() -> None:
    base = {"a.txt": Base("file", 1, 10, "h1", 1, 1, 5)}
    local = {"A.txt": Local("file", 10, "h1", 1, 5)}
    remote = {"a.txt": Remote("file", 1, "h1", 1, 1)}
    assert plan(base, local, remote, FOLDS) == [MoveRemote("a.txt", "A.txt")]
