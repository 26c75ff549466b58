"""Which local paths the sync leaves alone.

Terms:

*root*
    The local folder being synced.
*rel path*
    A path relative to the root, ``/``-separated, with no leading slash
    (``docs/report.txt``); it names a file or a folder.
*ignore file*
    ``.selfdriveignore`` at the root, in gitignore syntax (negation ``!``,
    dir-only ``build/``, anchored ``/x``, ``**``).  It is an ordinary file and
    syncs like any other, so every device of the user ignores the same things.
*built-in ignores*
    Names that are never synced, whatever the ignore file says: office lock
    and temp files, OS litter, the client's own state folder ``.selfdrive/``
    at the root, and the client's own temp files (``TEMP_PREFIX``).  A ``!``
    line cannot bring them back.

As in git, a folder that is ignored hides everything under it: ``!`` cannot
re-include a file whose folder is excluded.  Unlike watchfiles' default
filter, nothing else is ignored: ``.git/`` and ``node_modules/`` sync like
any other folder unless the ignore file names them.

Matching is done on NFC names, so a rule typed on Linux matches the name a
Mac reports in NFD.
"""

from __future__ import annotations

import fnmatch
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from pathspec import GitIgnoreSpec
from watchfiles import Change

IGNORE_FILE = ".selfdriveignore"

#: the client's own folder at the root: its database, the root marker, the trash
STATE_DIR = ".selfdrive"

#: every temp file the client writes starts with this (downloads land in one,
#: fsynced, then renamed over the target), so a crash can leave only ignored debris
TEMP_PREFIX = ".selfdrive-tmp-"

#: names never synced at any depth, matched case-insensitively (Office writes
#: ``~WRL0001.TMP``; Windows writes both ``desktop.ini`` and ``Desktop.ini``)
BUILTIN_NAMES = (
    "~$*",  # Office owner files beside an open document
    ".~lock.*#",  # LibreOffice lock files
    "*.tmp",
    ".DS_Store",
    "Thumbs.db",
    "desktop.ini",
    TEMP_PREFIX + "*",
)

_BUILTIN = re.compile(
    "|".join(fnmatch.translate(p) for p in BUILTIN_NAMES), re.IGNORECASE | re.DOTALL
)

# The ignore file's identity on disk: when it is unchanged, so are the rules.
_Stamp = tuple[int, int, int] | None


def _stamp(path: Path) -> _Stamp:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


@dataclass(eq=False)
class IgnoreRules:
    """The built-in ignores plus the root's ignore file, compiled once."""

    root: Path
    spec: GitIgnoreSpec
    stamp: _Stamp = None
    # Verdicts on folders, remembered because every path asks about all its
    # ancestors; the rules never change in place (load makes new ones).
    _dirs: dict[str, bool] = field(default_factory=dict, init=False, repr=False)

    @classmethod
    def load(cls, root: Path) -> IgnoreRules:
        """Read ``root/.selfdriveignore`` (no file: built-ins only)."""
        path = root / IGNORE_FILE
        stamp = _stamp(path)
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            text = ""
        lines = unicodedata.normalize("NFC", text).splitlines()
        return cls(root=root, spec=GitIgnoreSpec.from_lines(lines), stamp=stamp)

    def refreshed(self) -> IgnoreRules:
        """These rules if the ignore file is unchanged (one stat), else fresh ones.

        Call it when the watcher reports a change to the ignore file, or before
        a scan; it is cheap enough for both.
        """
        if _stamp(self.root / IGNORE_FILE) == self.stamp:
            return self
        return IgnoreRules.load(self.root)

    def ignored(self, rel_path: str, is_dir: bool) -> bool:
        """Whether the file or folder at *rel_path* stays out of the sync."""
        rel_path = unicodedata.normalize("NFC", rel_path.strip("/"))
        if not rel_path:
            return False  # the root itself
        parts = rel_path.split("/")
        for depth in range(1, len(parts)):
            if self._dir_ignored("/".join(parts[:depth])):
                return True
        if is_dir:
            return self._dir_ignored(rel_path)
        return _builtin(rel_path, parts[-1], is_dir=False) or self.spec.match_file(rel_path)

    def _dir_ignored(self, rel_dir: str) -> bool:
        verdict = self._dirs.get(rel_dir)
        if verdict is None:
            name = rel_dir.rpartition("/")[2]
            # The trailing slash is how pathspec learns it is a folder (for `build/`).
            verdict = _builtin(rel_dir, name, is_dir=True) or self.spec.match_file(rel_dir + "/")
            self._dirs[rel_dir] = verdict
        return verdict


def _builtin(rel_path: str, name: str, *, is_dir: bool) -> bool:
    if is_dir and rel_path == STATE_DIR:
        return True
    return _BUILTIN.match(name) is not None


class WatchFilter:
    """A ``watch_filter=`` for watchfiles that applies exactly the ignore rules.

    watchfiles hands it ``(change, absolute path)``.  Events outside the root
    pass (not ours to judge).  For a path that is gone, we cannot tell a file
    from a folder, so the event passes unless both would be ignored: dropping
    a deletion is worse than reporting one the scanner then ignores.

    Events on the ignore file always pass, and the filter reloads its own
    rules when it sees one; the caller should reload its rules too.
    """

    def __init__(self, rules: IgnoreRules) -> None:
        self.rules = rules
        self._roots = _root_prefixes(rules.root)

    def __call__(self, change: Change, path: str) -> bool:
        rel = self._relative(path)
        if rel is None or rel == "":
            return True
        if rel == IGNORE_FILE:
            self.rules = self.rules.refreshed()
            return True
        if change is not Change.deleted and os.path.exists(path):
            return not self.rules.ignored(rel, os.path.isdir(path))
        return not (self.rules.ignored(rel, False) and self.rules.ignored(rel, True))

    def _relative(self, path: str) -> str | None:
        for prefix in self._roots:
            if path == prefix.rstrip(os.sep):
                return ""
            if path.startswith(prefix):
                return path[len(prefix):].replace(os.sep, "/")
        return None


def _root_prefixes(root: Path) -> tuple[str, ...]:
    # The watcher may report the root as given or with symlinks resolved
    # (/tmp vs /private/tmp on macOS): accept both spellings.
    spellings = {os.path.abspath(root), os.path.realpath(root)}
    return tuple(s.rstrip(os.sep) + os.sep for s in sorted(spellings))


def watch_filter(root: Path) -> WatchFilter:
    """The filter to pass as ``watchfiles.awatch(root, watch_filter=...)``."""
    return WatchFilter(IgnoreRules.load(root))
