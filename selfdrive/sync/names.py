"""What real file systems make of names.

The server's names are NFC and case-sensitive (`selfdrive.core.paths`); the
local disk may be neither.  Terms:

*NFC*
    The composed Unicode form.  macOS reports names in NFD (``e`` + combining
    accent); compared in NFC, both spellings are one name.
*fold*
    The key under which two names are the same file on a case-insensitive
    file system (NTFS, APFS and HFS+ by default): NFC, then Unicode casefold.
    ``Report.txt`` and ``report.TXT`` fold alike, so one folder on such a disk
    cannot hold both.
*Windows problem*
    Why a name that is valid on the server cannot exist on Windows: a
    reserved character, a trailing dot or space, or a device name.
*mtime granularity*
    How finely the file system stores modification times (1 ns on ext4 and
    APFS, 100 ns on NTFS, 1 s on HFS+, 2 s on FAT).  Two mtimes closer than
    this cannot be told apart.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import unicodedata
from collections.abc import Iterator
from pathlib import Path

from selfdrive.sync.ignore import TEMP_PREFIX

_RESERVED_CHARS = '<>:"/\\|?*'

#: device names Windows reserves in every folder, with any extension; the
#: superscript digits count too (the Win32 docs list them)
_DEVICE_NAMES = frozenset(
    ["CON", "PRN", "AUX", "NUL"]
    + [f"{dev}{n}" for dev in ("COM", "LPT") for n in "123456789\u00b9\u00b2\u00b3"]
)


def nfc(s: str) -> str:
    return unicodedata.normalize("NFC", s)


def fold(s: str) -> str:
    """The key two names collide under on a case-insensitive file system."""
    # casefold can decompose (ß -> ss, ǰ -> j + caron), so normalise once more.
    return nfc(nfc(s).casefold())


def windows_problem(name: str) -> str | None:
    """Why *name* (one path segment) cannot exist on Windows, or None if it can."""
    for ch in name:
        if ch in _RESERVED_CHARS:
            return f"{name!r} holds {ch!r}, which Windows does not allow in names"
        if ord(ch) < 0x20:
            return f"{name!r} holds a control character, which Windows does not allow"
    if name.endswith((".", " ")):
        return f"{name!r} ends with a dot or a space, which Windows drops"
    # "NUL.txt" and "nul .tar.gz" are the device too: Windows looks at the part
    # before the first dot, trailing spaces removed, in any case.
    stem = name.split(".", 1)[0].rstrip(" ").upper()
    if stem in _DEVICE_NAMES:
        return f"{name!r} is a device name reserved by Windows ({stem})"
    return None


@contextlib.contextmanager
def _probe_file(directory: Path) -> Iterator[Path]:
    # Lower-case hex, so the upper-cased name differs in every letter.
    path = directory / f"{TEMP_PREFIX}probe-{secrets.token_hex(8)}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    try:
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def probe_case_insensitive(directory: Path) -> bool:
    """Whether the file system holding *directory* treats names case-insensitively.

    Asks the disk rather than guessing from the OS: a Mac can have a
    case-sensitive APFS volume, and Linux can mount NTFS or a casefolded ext4
    folder.  Leaves nothing behind.
    """
    with _probe_file(directory) as path:
        return os.path.lexists(path.with_name(path.name.upper()))


#: an odd second with a digit in every sub-second place, so each granularity
#: truncates (or rounds) it to a different value
_PROBE_MTIME_NS = 1_700_000_001_123_456_789
_GRANULARITIES_NS = (1, 100, 1_000, 1_000_000, 10_000_000, 1_000_000_000, 2_000_000_000)


def probe_mtime_granularity_ns(directory: Path) -> int:
    """How finely the file system holding *directory* stores mtimes, in ns.

    Sets a known mtime on a temp file and reads back what was kept.  This is
    the storage precision; the clock that stamps writes may tick more coarsely
    (Linux uses a ~4 ms coarse clock), so callers should still distrust an
    mtime that is very recent.
    """
    with _probe_file(directory) as path:
        os.utime(path, ns=(_PROBE_MTIME_NS, _PROBE_MTIME_NS))
        kept = path.stat().st_mtime_ns
    # The coarsest step that explains what was kept, whether the file system
    # truncated or rounded: a kept 1_700_000_002 s can only be FAT's 2 s.
    for granularity in reversed(_GRANULARITIES_NS):
        if kept % granularity == 0 and abs(kept - _PROBE_MTIME_NS) < granularity:
            return granularity
    return _GRANULARITIES_NS[-1]  # an answer we cannot read: assume the coarsest
