"""The local trash: moved, never deleted; numbered when taken; purged by day."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from selfdrive.sync.trash import move_to_trash, purge_older_than, trash_dir

DAY_MS = 86_400_000
NOV_26 = 1_795_651_200_000  # 2026-11-26 00:00:00 UTC
NOON = NOV_26 + DAY_MS // 2


def test_a_file_moves_to_the_day_folder_at_its_path(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "report.txt").write_text("hello")
    ino = (tmp_path / "docs" / "report.txt").stat().st_ino
    target = move_to_trash(tmp_path, "docs/report.txt", NOON)
    assert target == tmp_path / ".selfdrive" / "trash" / "2026-11-26" / "docs" / "report.txt"
    assert target.read_text() == "hello"
    assert target.stat().st_ino == ino  # renamed, not copied
    assert not (tmp_path / "docs" / "report.txt").exists()
    assert (tmp_path / "docs").is_dir()  # only the item moves


def test_a_folder_moves_whole(tmp_path: Path) -> None:
    (tmp_path / "album" / "2026").mkdir(parents=True)
    (tmp_path / "album" / "2026" / "a.jpg").write_bytes(b"jpg")
    target = move_to_trash(tmp_path, "album", NOON)
    assert (target / "2026" / "a.jpg").read_bytes() == b"jpg"
    assert not (tmp_path / "album").exists()


def test_a_taken_name_is_numbered(tmp_path: Path) -> None:
    names = []
    for content in ("one", "two", "three"):
        (tmp_path / "report.txt").write_text(content)
        names.append(move_to_trash(tmp_path, "report.txt", NOON).name)
    assert names == ["report.txt", "report (2).txt", "report (3).txt"]
    day = trash_dir(tmp_path) / "2026-11-26"
    assert (day / "report (3).txt").read_text() == "three"
    (tmp_path / "Makefile").mkdir()
    move_to_trash(tmp_path, "Makefile", NOON)
    (tmp_path / "Makefile").write_text("x")
    assert move_to_trash(tmp_path, "Makefile", NOON).name == "Makefile (2)"


def test_days_are_utc(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("x")
    (tmp_path / "b").write_text("x")
    assert move_to_trash(tmp_path, "a", NOV_26 - 1).parent.name == "2026-11-25"
    assert move_to_trash(tmp_path, "b", NOV_26).parent.name == "2026-11-26"


@pytest.mark.skipif(os.name != "posix", reason="symlinks")
def test_a_symlink_moves_as_itself(tmp_path: Path) -> None:
    (tmp_path / "real").write_text("keep me")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    target = move_to_trash(tmp_path, "link", NOON)
    assert target.is_symlink() and (tmp_path / "real").read_text() == "keep me"


def test_refuses_paths_it_does_not_manage(tmp_path: Path) -> None:
    for bad in ("", "/abs", "a//b", "../outside", "a/../../b", ".", ".selfdrive/state.db",
                ".selfdrive"):
        with pytest.raises(ValueError):
            move_to_trash(tmp_path, bad, NOON)
    with pytest.raises(FileNotFoundError):
        move_to_trash(tmp_path, "gone.txt", NOON)
    assert not trash_dir(tmp_path).exists()


def test_purge_deletes_old_day_folders_only(tmp_path: Path) -> None:
    for days_ago in (0, 29, 30, 31, 45):
        (tmp_path / f"f{days_ago}").write_text("x")
        move_to_trash(tmp_path, f"f{days_ago}", NOON - days_ago * DAY_MS)
    trash = trash_dir(tmp_path)
    (trash / "notes-by-hand").mkdir()  # not a day folder: left alone
    (trash / "2000-01-01.txt").write_text("not a folder either")
    assert purge_older_than(tmp_path, 30, NOON) == 2
    assert sorted(p.name for p in trash.iterdir()) == [
        "2000-01-01.txt", "2026-10-27", "2026-10-28", "2026-11-26", "notes-by-hand"]
    assert purge_older_than(tmp_path, 30, NOON) == 0
    # A day folder stays while anything in it may be younger than `days`: today's always.
    assert purge_older_than(tmp_path, 0, NOON) == 2
    assert [p.name for p in trash.iterdir() if p.name.startswith("2026")] == ["2026-11-26"]


def test_purge_without_a_trash_is_a_no_op(tmp_path: Path) -> None:
    assert purge_older_than(tmp_path, 30) == 0


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_purge_deletes_read_only_folders(tmp_path: Path) -> None:
    (tmp_path / "locked" / "inner").mkdir(parents=True)
    (tmp_path / "locked" / "inner" / "f").write_text("x")
    os.chmod(tmp_path / "locked" / "inner" / "f", 0o400)
    os.chmod(tmp_path / "locked" / "inner", 0o500)
    os.chmod(tmp_path / "locked", 0o500)
    move_to_trash(tmp_path, "locked", NOON - 40 * DAY_MS)
    assert purge_older_than(tmp_path, 30, NOON) == 1
    assert list(trash_dir(tmp_path).iterdir()) == []


@pytest.mark.skipif(os.name != "posix", reason="symlinks")
def test_purge_does_not_follow_symlinks_out_of_the_trash(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("x")
    os.chmod(outside / "precious", 0o444)
    (tmp_path / "link").symlink_to(outside)
    move_to_trash(tmp_path, "link", NOON - 40 * DAY_MS)
    assert purge_older_than(tmp_path, 30, NOON) == 1
    assert (outside / "precious").read_text() == "x"
    assert stat.S_IMODE((outside / "precious").stat().st_mode) == 0o444
