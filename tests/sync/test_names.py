"""Name rules of real file systems: NFC, case folding, Windows, probes."""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

import pytest

from selfdrive.sync.ignore import TEMP_PREFIX
from selfdrive.sync.names import (
    fold,
    nfc,
    probe_case_insensitive,
    probe_mtime_granularity_ns,
    windows_problem,
)


def test_nfc_joins_what_macos_splits() -> None:
    nfd = unicodedata.normalize("NFD", "café.txt")
    assert nfd != "café.txt"
    assert nfc(nfd) == "café.txt"
    assert nfc("plain") == "plain"


@pytest.mark.parametrize(("a", "b"), [
    ("Report.TXT", "report.txt"),
    ("Straße", "STRASSE"),
    (unicodedata.normalize("NFD", "Café"), "CAFÉ"),
    ("ΣΊΣΥΦΟΣ", "σίσυφος"),
])
def test_fold_collides_names_a_case_insensitive_disk_would(a: str, b: str) -> None:
    assert fold(a) == fold(b)


def test_fold_keeps_different_names_apart() -> None:
    assert fold("a.txt") != fold("b.txt")
    assert fold("report.txt") != fold("report.txt ")


@pytest.mark.parametrize("name", [
    "a<b", "a>b", "a:b", 'say "hi"', "a\\b", "a|b", "why?", "*.txt", "tab\there", "bell\x07",
    "trailing.", "trailing ", "CON", "con", "Con.txt", "PRN", "aux.tar.gz", "NUL", "nul .txt",
    "COM1", "com9.log", "LPT1", "lpt9", "COM\u00b9",
])
def test_windows_problems(name: str) -> None:
    problem = windows_problem(name)
    assert problem is not None and repr(name) in problem


@pytest.mark.parametrize("name", [
    "report.txt", "CONSOLE", "con-notes.txt", "COM10", "COM0", "LPT", "my.con", ".hidden",
    "naïve café", "a.b.c", "prn_2026.pdf", "nulls",
])
def test_names_windows_accepts(name: str) -> None:
    assert windows_problem(name) is None


def test_windows_problem_says_why() -> None:
    assert "':'" in (windows_problem("a:b") or "")
    assert "device name" in (windows_problem("aux.c") or "")
    assert "dot or a space" in (windows_problem("x.") or "")


def test_probe_case_insensitive_matches_the_disk_and_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "Probe").write_text("x")
    expected = (tmp_path / "PROBE").exists()  # the disk's own answer
    assert probe_case_insensitive(tmp_path) is expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Probe"]


def test_probe_case_insensitive_of_a_missing_dir_raises(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    with pytest.raises(FileNotFoundError):
        probe_case_insensitive(missing)
    assert not missing.exists()


def test_probe_mtime_granularity(tmp_path: Path) -> None:
    g = probe_mtime_granularity_ns(tmp_path)
    assert g in (1, 100, 1_000, 1_000_000, 10_000_000, 1_000_000_000, 2_000_000_000)
    assert not any(p.name.startswith(TEMP_PREFIX) for p in tmp_path.iterdir())
    # What we measured is what the disk keeps: an mtime at that step survives.
    f = tmp_path / "f"
    f.write_text("x")
    t = 1_700_000_004_000_000_000 + 7 * g if g < 1_000_000_000 else 1_700_000_004_000_000_000
    os.utime(f, ns=(t, t))
    assert f.stat().st_mtime_ns == t


@pytest.mark.skipif(not os.access("/dev/shm", os.W_OK), reason="no writable tmpfs at /dev/shm")
def test_probe_mtime_granularity_of_tmpfs_is_fine() -> None:
    # tmpfs keeps nanoseconds on every Linux we support.
    assert probe_mtime_granularity_ns(Path("/dev/shm")) == 1
