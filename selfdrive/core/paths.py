"""User paths: the one place that decides what a valid path is.

A *path* is user-relative, starts with ``/`` and names segments separated by
``/`` (``/recipes/soup/best_soup.txt``); ``/`` alone is the user's root.  Paths
are NFC-normalised so that a name typed on macOS (NFD) and on Linux (NFC)
is the same file.  Names are case-sensitive.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from selfdrive.core.errors import InvalidPath

MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 4096
MAX_DEPTH = 64


def normalize_path(raw: str) -> str:
    """Return the canonical form of a user path, or raise InvalidPath.

    A trailing slash is dropped; ``.``/``..`` segments (also between
    backslashes, which Windows reads as separators), empty segments, NUL and
    control characters, and names over 255 UTF-8 bytes are refused.
    """
    return "/" + "/".join(split_path(raw))


def split_path(raw: str) -> list[str]:
    """The validated, NFC-normalised segments of a path ([] for the root)."""
    if not isinstance(raw, str) or not raw.startswith("/"):
        raise InvalidPath("a path must start with '/'", path=raw)
    path = unicodedata.normalize("NFC", raw)
    if len(path.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        raise InvalidPath(f"path is longer than {MAX_PATH_BYTES} bytes")
    body = path[1:]
    if body.endswith("/") and body != "/":
        body = body[:-1]
    if not body:
        return []
    parts = body.split("/")
    if len(parts) > MAX_DEPTH:
        raise InvalidPath(f"path is deeper than {MAX_DEPTH} folders")
    for name in parts:
        check_name(name)
    return parts


def check_name(name: str) -> str:
    """Validate one file or folder name (already NFC)."""
    if name == "":
        raise InvalidPath("a path may not contain an empty segment ('//')")
    if name in (".", ".."):
        raise InvalidPath(f"'{name}' is not allowed as a name")
    if "\\" in name and any(part in (".", "..") for part in name.split("\\")):
        # Windows reads a backslash as a separator: there '..\\x' climbs out.
        raise InvalidPath(f"{name!r} is not allowed as a name: '.' or '..' between"
                          " backslashes")
    if "/" in name:
        raise InvalidPath("a name may not contain '/'")
    for ch in name:
        if ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F:
            raise InvalidPath("a name may not contain NUL or control characters")
        if 0xD800 <= ord(ch) <= 0xDFFF:
            raise InvalidPath("a name may not contain lone surrogates")
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise InvalidPath(f"a name may not be longer than {MAX_NAME_BYTES} bytes")
    return name


def parent_and_name(path: str) -> tuple[str, str]:
    """Split a normalised, non-root path into its parent path and its name."""
    parts = split_path(path)
    if not parts:
        raise InvalidPath("the root folder has no name")
    return "/" + "/".join(parts[:-1]), parts[-1]


def join_parts(parts: Sequence[str]) -> str:
    """The path of split_path's result: ``["a", "b"]`` -> ``/a/b``, ``[]`` -> ``/``."""
    return "/" + "/".join(parts)


def join(parent: str, name: str) -> str:
    return (parent.rstrip("/") + "/" + name) if parent != "/" else "/" + name


def is_within(path: str, ancestor: str) -> bool:
    """True if *path* is *ancestor* or lies below it."""
    return ancestor == "/" or path == ancestor or path.startswith(ancestor + "/")
