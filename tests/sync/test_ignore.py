"""Ignore rules: gitignore semantics from .selfdriveignore, built-ins, the watch filter."""

from __future__ import annotations

import os
import time
import unicodedata
from pathlib import Path

import pytest
from watchfiles import Change

from selfdrive.sync.ignore import IGNORE_FILE, TEMP_PREFIX, IgnoreRules, watch_filter


def rules(tmp_path: Path, *lines: str) -> IgnoreRules:
    (tmp_path / IGNORE_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return IgnoreRules.load(tmp_path)


def test_no_ignore_file_means_built_ins_only(tmp_path: Path) -> None:
    r = IgnoreRules.load(tmp_path)
    assert not r.ignored("report.txt", False)
    assert not r.ignored("docs", True)
    assert not r.ignored("", True)  # the root itself


@pytest.mark.parametrize("path", [
    ".git", ".git/HEAD", "node_modules", "node_modules/x/index.js", "__pycache__/a.pyc",
    ".venv/bin/python", "a.swp", "notes~", ".hg/store",
])
def test_what_watchfiles_drops_by_default_is_synced(tmp_path: Path, path: str) -> None:
    r = IgnoreRules.load(tmp_path)
    assert not r.ignored(path, False)
    assert not r.ignored(path, True)


@pytest.mark.parametrize("path", [
    "~$report.docx", "docs/~$budget.xlsx", ".~lock.report.odt#", "a/b/cache.tmp", "X.TMP",
    ".DS_Store", "photos/.DS_Store", "Thumbs.db", "pics/thumbs.db", "desktop.ini",
    "Desktop.ini", TEMP_PREFIX + "abc", "deep/er/" + TEMP_PREFIX + "123-report.txt",
])
def test_built_in_ignores(tmp_path: Path, path: str) -> None:
    assert IgnoreRules.load(tmp_path).ignored(path, False)


def test_state_folder_is_ignored_at_the_root_only(tmp_path: Path) -> None:
    r = IgnoreRules.load(tmp_path)
    assert r.ignored(".selfdrive", True)
    assert r.ignored(".selfdrive/state.db", False)
    assert r.ignored(".selfdrive/trash/2026-11-26/docs", True)
    assert not r.ignored("sub/.selfdrive", True)
    assert not r.ignored("sub/.selfdrive/x", False)
    assert not r.ignored(".selfdriveignore", False)  # it syncs, like .gitignore


def test_built_ins_cannot_be_negated(tmp_path: Path) -> None:
    r = rules(tmp_path, "!*.tmp", "!.selfdrive/", "!Thumbs.db")
    assert r.ignored("a.tmp", False)
    assert r.ignored(".selfdrive/x", False)
    assert r.ignored("Thumbs.db", False)


def test_negation(tmp_path: Path) -> None:
    r = rules(tmp_path, "*.log", "!important.log")
    assert r.ignored("debug.log", False)
    assert r.ignored("sub/debug.log", False)
    assert not r.ignored("important.log", False)
    assert not r.ignored("sub/important.log", False)


def test_a_file_in_an_ignored_folder_cannot_be_re_included(tmp_path: Path) -> None:
    # As in git: "It is not possible to re-include a file if a parent directory
    # of that file is excluded."
    r = rules(tmp_path, "build/", "!build/keep.txt")
    assert r.ignored("build/keep.txt", False)


def test_negation_of_a_folder_under_a_glob(tmp_path: Path) -> None:
    r = rules(tmp_path, "vendor/*", "!vendor/ours/")
    assert r.ignored("vendor/theirs", True)
    assert r.ignored("vendor/theirs/lib.c", False)
    assert not r.ignored("vendor/ours", True)
    assert not r.ignored("vendor/ours/lib.c", False)
    assert not r.ignored("vendor", True)


def test_dir_only_pattern(tmp_path: Path) -> None:
    r = rules(tmp_path, "build/")
    assert r.ignored("build", True)
    assert r.ignored("src/build", True)
    assert r.ignored("build/out.o", False)
    assert r.ignored("src/build/deep/out.o", False)
    assert not r.ignored("build", False)  # a file named build is not a folder


def test_anchored_pattern(tmp_path: Path) -> None:
    r = rules(tmp_path, "/secret", "/out/")
    assert r.ignored("secret", False)
    assert r.ignored("secret", True)
    assert r.ignored("secret/a.txt", False)
    assert not r.ignored("sub/secret", False)
    assert r.ignored("out/a", False)
    assert not r.ignored("sub/out/a", False)


def test_double_star(tmp_path: Path) -> None:
    r = rules(tmp_path, "**/cache", "docs/**/draft-*.md", "logs/**")
    assert r.ignored("cache", True)
    assert r.ignored("a/b/cache", True)
    assert r.ignored("a/b/cache/entry", False)
    assert r.ignored("docs/draft-1.md", False)
    assert r.ignored("docs/2026/nov/draft-2.md", False)
    assert not r.ignored("notes/draft-1.md", False)
    assert r.ignored("logs/a/b.txt", False)
    assert not r.ignored("logs", False)


def test_comments_blank_lines_and_unicode(tmp_path: Path) -> None:
    nfd = unicodedata.normalize("NFD", "café/")
    r = rules(tmp_path, "# a comment", "", nfd, "\\#literal")
    assert r.ignored("café", True)  # NFC on disk, NFD in the rules
    assert r.ignored(unicodedata.normalize("NFD", "café") + "/menu.txt", False)
    assert r.ignored("#literal", False)
    assert not r.ignored("# a comment", False)


def test_a_folder_ignored_by_a_plain_name_hides_its_contents(tmp_path: Path) -> None:
    r = rules(tmp_path, "tmpdir")
    assert r.ignored("tmpdir", True)
    assert r.ignored("tmpdir/a/b/c.txt", False)


def test_refreshed_is_cheap_when_unchanged_and_reloads_on_change(tmp_path: Path) -> None:
    r = rules(tmp_path, "*.bak")
    assert r.refreshed() is r
    (tmp_path / IGNORE_FILE).write_text("*.old\n", encoding="utf-8")
    # Same size and maybe same mtime tick: the inode or the mtime must still tell.
    st = (tmp_path / IGNORE_FILE).stat()
    os.utime(tmp_path / IGNORE_FILE, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    fresh = r.refreshed()
    assert fresh is not r
    assert fresh.ignored("a.old", False) and not fresh.ignored("a.bak", False)
    (tmp_path / IGNORE_FILE).unlink()
    assert not fresh.refreshed().ignored("a.old", False)


def test_watch_filter_uses_only_our_rules(tmp_path: Path) -> None:
    (tmp_path / IGNORE_FILE).write_text("*.log\nbuild/\n", encoding="utf-8")
    (tmp_path / "build").mkdir()
    (tmp_path / ".git").mkdir()
    f = watch_filter(tmp_path)
    root = str(tmp_path)
    j = os.path.join
    assert f(Change.added, j(root, ".git"))
    assert f(Change.modified, j(root, ".git", "index"))
    assert f(Change.added, j(root, "node_modules", "x.js"))
    assert f(Change.modified, j(root, "a.py"))
    assert not f(Change.modified, j(root, "debug.log"))
    assert not f(Change.added, j(root, "build"))
    assert not f(Change.added, j(root, "build", "x.o"))
    assert not f(Change.modified, j(root, ".selfdrive", "state.db"))
    assert not f(Change.added, j(root, TEMP_PREFIX + "123"))
    assert f(Change.added, "/somewhere/else/debug.log")  # not ours to judge
    assert f(Change.modified, root)


def test_watch_filter_keeps_a_deletion_it_cannot_classify(tmp_path: Path) -> None:
    # `build/` ignores folders only: a deleted `build` may have been a file.
    (tmp_path / IGNORE_FILE).write_text("build/\n", encoding="utf-8")
    f = watch_filter(tmp_path)
    assert f(Change.deleted, str(tmp_path / "build"))
    assert not f(Change.deleted, str(tmp_path / "build" / "x.o"))
    assert not f(Change.deleted, str(tmp_path / "a.tmp"))


def test_watch_filter_follows_the_ignore_file(tmp_path: Path) -> None:
    f = watch_filter(tmp_path)
    log = str(tmp_path / "debug.log")
    assert f(Change.modified, log)
    (tmp_path / IGNORE_FILE).write_text("*.log\n", encoding="utf-8")
    assert f(Change.added, str(tmp_path / IGNORE_FILE))  # passes, so the caller reloads too
    assert not f(Change.modified, log)


def test_watch_filter_with_real_watchfiles(tmp_path: Path) -> None:
    import threading

    from watchfiles import watch

    (tmp_path / IGNORE_FILE).write_text("*.log\n", encoding="utf-8")
    stop = threading.Event()
    seen: set[str] = set()

    def writer() -> None:
        time.sleep(0.3)
        (tmp_path / "debug.log").write_text("x")
        (tmp_path / ".git").mkdir()
        (tmp_path / ".git" / "HEAD").write_text("ref")
        (tmp_path / "a.tmp").write_text("x")
        (tmp_path / "keep.txt").write_text("x")

    thread = threading.Thread(target=writer)
    thread.start()
    deadline = time.monotonic() + 20
    try:
        for changes in watch(tmp_path, watch_filter=watch_filter(tmp_path), stop_event=stop,
                             rust_timeout=5000, yield_on_timeout=True, debounce=300):
            seen |= {os.path.relpath(p, tmp_path) for _, p in changes}
            if "keep.txt" in seen or time.monotonic() > deadline:
                break
    finally:
        stop.set()
        thread.join()
    # (.git/HEAD itself may come before the watcher has seen .git: a race of inotify.)
    assert "keep.txt" in seen and ".git" in seen
    assert "debug.log" not in seen and "a.tmp" not in seen
