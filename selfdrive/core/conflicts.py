"""Names of conflict copies: when two writes to one file meet, neither is lost;
the one that arrives second is kept beside the first under a name that says
what happened, as Dropbox and Seafile do::

    report (conflicted copy from laptop 2026-11-26 09-30-00).txt

(the form DESIGN.md fixes).  The stamp is UTC.  `is_conflict_copy` tells
such a name apart: the sync client never makes a conflict copy of a conflict
copy (Syncthing's rule), so conflicts cannot breed.  The server uses this for
a resumable upload whose base revision is outdated by the time its last byte
arrives; the sync client uses it for edits made on two devices.
"""

from __future__ import annotations

import re
import time
import unicodedata

from selfdrive.core.paths import MAX_NAME_BYTES


def conflict_name(name: str, *, device: str | None, when_ms: int, attempt: int = 1) -> str:
    """The name of the conflict copy of *name*; *attempt* > 1 when that is taken."""
    stem, ext = _split_ext(name)
    stamp = time.strftime("%Y-%m-%d %H-%M-%S", time.gmtime(when_ms / 1000))
    label = f"conflicted copy from {_clean(device or '')} {stamp}"
    if attempt > 1:
        label += f" {attempt}"
    suffix = f" ({label}){ext}"
    room = MAX_NAME_BYTES - len(suffix.encode("utf-8"))
    while len(stem.encode("utf-8")) > max(room, 1):
        stem = stem[:-1]
    return stem + suffix


def is_conflict_copy(name: str) -> bool:
    """Whether *name* was made by `conflict_name`."""
    return _CONFLICT.search(name) is not None


_CONFLICT = re.compile(
    r" \(conflicted copy from .* \d{4}-\d{2}-\d{2} \d{2}-\d{2}-\d{2}( \d+)?\)(\.[^.]*)?\Z"
)


def numbered_name(name: str, number: int) -> str:
    """``report (2).txt`` for ``report.txt``: a name beside a taken one, for
    things that must never replace what is there (files dropped through a
    public link)."""
    if number < 2:
        return name
    stem, ext = _split_ext(name)
    suffix = f" ({number}){ext}"
    room = MAX_NAME_BYTES - len(suffix.encode("utf-8"))
    while len(stem.encode("utf-8")) > max(room, 1):
        stem = stem[:-1]
    return stem + suffix


def _split_ext(name: str) -> tuple[str, str]:
    dot = name.rfind(".")
    if dot <= 0 or len(name) - dot > 16:  # ".bashrc", or no extension to speak of
        return name, ""
    return name[:dot], name[dot:]


def _clean(device: str) -> str:
    """A device name made safe inside a file name: no slashes, no controls, short."""
    kept = "".join(
        ch for ch in device.replace("/", "-").replace("\\", "-")
        if not unicodedata.category(ch).startswith("C")
    )
    return kept.strip()[:40] or "another device"
