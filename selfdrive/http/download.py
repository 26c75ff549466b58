"""Serving file content: Range, ETag, and the headers that keep content inert.

User content is data, never a page (DESIGN.md rule 7): every response has
``X-Content-Type-Options: nosniff`` and ``Content-Security-Policy: sandbox;
default-src 'none'``; only types a browser shows without running anything
(images other than SVG, audio, video, plain text, PDF) may be inline, and
everything else (HTML, SVG, XML, unknown) goes out as an attachment typed
``application/octet-stream``.
"""

from __future__ import annotations

import mimetypes
import re
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from selfdrive.core.errors import InvalidRange
from selfdrive.http.errors import error_response
from selfdrive.services.files import FileService, Opened

CSP = (
    "sandbox; default-src 'none'; img-src 'self' data:; media-src 'self';"
    " style-src 'unsafe-inline'"
)
INLINE_PREFIXES = ("image/", "audio/", "video/")
INLINE_TYPES = {"text/plain", "application/pdf"}
NEVER_INLINE = {"image/svg+xml"}
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")

mimetypes.add_type("image/webp", ".webp")
mimetypes.add_type("image/avif", ".avif")
mimetypes.add_type("image/heic", ".heic")


def content_type(name: str) -> tuple[str, bool]:
    """The type to send for a file name, and whether it may be shown inline."""
    guessed, _ = mimetypes.guess_type(name, strict=False)
    if guessed and guessed not in NEVER_INLINE and (
        guessed.startswith(INLINE_PREFIXES) or guessed in INLINE_TYPES
    ):
        return (guessed + "; charset=utf-8" if guessed == "text/plain" else guessed), True
    return "application/octet-stream", False


def disposition(kind: str, name: str) -> str:
    fallback = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\' else "_" for c in name)
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """(start, end) exclusive for one satisfiable range; None to serve it all.

    Several ranges are answered with the whole file (RFC 9110 lets a server
    ignore Range); an unsatisfiable one raises InvalidRange (416).
    """
    if "," in header:
        return None
    m = _RANGE.match(header.strip())
    if not m or (not m.group(1) and not m.group(2)):
        return None  # a malformed Range is ignored, as RFC 9110 says
    first, last = m.group(1), m.group(2)
    if first:
        start = int(first)
        end = min(int(last) + 1, size) if last else size
        if last and int(last) < start:
            return None
    else:
        length = int(last)
        if length == 0:
            raise InvalidRange("a suffix range of 0 bytes is unsatisfiable", size=size)
        start, end = max(size - length, 0), size
    if start >= size:
        raise InvalidRange(f"the range starts past the end of the file ({size} bytes)",
                           size=size)
    return start, end


def etag_of(opened: Opened) -> str:
    return f'"{opened.revision.content_hash.hex()}"'


def _matches(header: str, etag: str) -> bool:
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in tags or etag in tags


def serve(request: Request, files: FileService, opened: Opened, *, attachment: bool) -> Response:
    size = opened.revision.size
    etag = etag_of(opened)
    name = opened.entry.node.name
    ctype, inline_ok = content_type(name)
    headers = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": CSP,
        "Content-Disposition": disposition(
            "inline" if inline_ok and not attachment else "attachment", name
        ),
        "Cache-Control": "private, no-cache",
        "X-Selfdrive-Rev": str(opened.revision.rev),
    }
    inm = request.headers.get("if-none-match")
    if inm is not None and _matches(inm, etag):
        return Response(status_code=304, headers=headers)
    status, start, end = 200, 0, size
    range_header = request.headers.get("range")
    if_range = request.headers.get("if-range")
    if range_header and (if_range is None or if_range.strip() == etag):
        try:
            found = parse_range(range_header, size)
        except InvalidRange as exc:
            # An error, but one that must carry the file's size in Content-Range.
            headers["Content-Range"] = f"bytes */{size}"
            del headers["Content-Disposition"]
            return error_response(416, exc.code, exc.message, headers, size=size)
        if found is not None:
            status, (start, end) = 206, found
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    headers["Content-Length"] = str(end - start)
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=ctype)
    return StreamingResponse(
        files.read(opened, start, end), status_code=status, headers=headers, media_type=ctype
    )
