"""A folder as a zip, made on the fly while it is sent.

`zip_stream` writes with the standard library's zipfile into a sink that
cannot seek, so each entry's CRC and sizes follow its data (a data
descriptor) and nothing is held back: memory is one read piece at a time,
whatever the folder holds.  Entries are stored, not compressed (the
content is usually compressed already, and it keeps the CPU free); files
of 2 GiB or more get ZIP64 headers from the start, since the sink cannot go
back to fix them.

Names inside the archive are the paths under the linked folder, made safe
for every unzip tool: no leading ``/``, no ``..``, and characters Windows
reads as separators or stream names (``\\ : * ? " < > |``) become ``_``.
"""

from __future__ import annotations

import time
import zipfile
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence

from selfdrive.core.conflicts import numbered_name
from selfdrive.services.files import Opened
from selfdrive.services.links import ZipItem

_UNSAFE = set('\\:*?"<>|')


class _Sink:
    """Where zipfile writes; `take` hands the bytes written so far to the response."""

    def __init__(self) -> None:
        self._pieces: list[bytes] = []

    def write(self, data: bytes, /) -> int:
        self._pieces.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        out = b"".join(self._pieces)
        self._pieces.clear()
        return out


def safe_name(rel: str) -> str:
    """A relative path made safe inside a zip (see the module docstring)."""
    parts = []
    for segment in rel.split("/"):
        cleaned = "".join(
            "_" if ch in _UNSAFE or ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F else ch
            for ch in segment
        )
        if cleaned in ("", ".", ".."):
            cleaned = cleaned.replace(".", "_") or "_"
        parts.append(cleaned)
    return "/".join(parts)


def _date(ms: int) -> tuple[int, int, int, int, int, int]:
    t = time.gmtime(ms / 1000)
    if t.tm_year < 1980:
        return (1980, 1, 1, 0, 0, 0)
    if t.tm_year > 2107:
        return (2107, 12, 31, 23, 59, 58)
    return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)


def _unique(name: str, used: set[str]) -> str:
    stem, slash, leaf = name.rpartition("/")
    candidate, number = name, 1
    while candidate in used:
        number += 1
        candidate = stem + slash + numbered_name(leaf, number)
    used.add(candidate)
    return candidate


async def zip_stream(
    items: Sequence[ZipItem], read: Callable[[Opened], AsyncIterator[bytes]]
) -> AsyncIterator[bytes]:
    """The zip of *items* (parents before children), piece by piece."""
    sink = _Sink()
    archive = zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED, allowZip64=True)
    used: set[str] = set()
    renamed: dict[str, str] = {}  # a folder's path -> its name in the zip
    for item in items:
        parent, _, leaf = item.rel.rpartition("/")
        base = renamed.get(parent, safe_name(parent))
        name = _unique((base + "/" if parent else "") + safe_name(leaf), used)
        if item.opened is None:  # a folder
            renamed[item.rel] = name
            info = zipfile.ZipInfo(name + "/", _date(item.node.modified_at))
            info.external_attr = (0o40755 << 16) | 0x10
            info.file_size = info.compress_size = info.CRC = 0
            archive.mkdir(info)
        else:
            opened = item.opened
            info = zipfile.ZipInfo(name, _date(opened.revision.mtime))
            info.external_attr = 0o644 << 16
            info.file_size = opened.revision.size
            chunks = read(opened)
            try:
                force = opened.revision.size >= zipfile.ZIP64_LIMIT
                with archive.open(info, "w", force_zip64=force) as entry:
                    async for chunk in chunks:
                        entry.write(chunk)
                        if out := sink.take():
                            yield out
            finally:
                if isinstance(chunks, AsyncGenerator):
                    await chunks.aclose()
        if out := sink.take():
            yield out
    archive.close()
    if out := sink.take():
        yield out
