"""Serving file content: Range, ETag, and the headers that keep content inert.

User content is data, never a page (DESIGN.md rule 7): every response has
``X-Content-Type-Options: nosniff`` and ``Content-Security-Policy: sandbox;
default-src 'none'``; only types a browser shows without running anything
(images other than SVG, audio, video, plain text, PDF) may be inline, and
everything else (HTML, SVG, XML, unknown) goes out as an attachment typed
``application/octet-stream``.
"""

from __future__ import annotations

import logging
import mimetypes
import re
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from selfdrive.core.errors import BlockNotFound, CorruptBlock, InvalidRange, SelfdriveError
from selfdrive.http.errors import error_response, from_exception
from selfdrive.services.files import FileService, Opened

log = logging.getLogger("selfdrive.http")

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


def etag_matches(header: str, etag: str) -> bool:
    """Whether an If-None-Match header names *etag* (or ``*``)."""
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in tags or etag in tags


def serve(request: Request, files: FileService, opened: Opened, *, attachment: bool,
          etag: str | None = None) -> Response:
    """*etag* replaces the content-hash ETag (WebDAV's are revision ids)."""
    size = opened.revision.size
    etag = etag or etag_of(opened)
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
    if inm is not None and etag_matches(inm, etag):
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
    return VerifiedStream(
        files.read(opened, start, end), status_code=status, headers=headers, media_type=ctype,
        what=f"{opened.entry.path} rev {opened.revision.rev} (user {opened.entry.node.owner_id})",
        length=end - start,
    )


class VerifiedStream(StreamingResponse):
    """A file's bytes, streamed as each block is read and verified.

    The first block is read before the status line goes out, so a file whose
    first block is missing or corrupt gets a clean error answer.  A block that
    fails later cannot change the status (nor the Content-Length) any more:
    the body is cut short instead, without its end, and the server closes the
    connection, so no client can take what it got for the whole file
    (docs/storage.md, "Block file").  Both cases are logged; the server goes
    on serving.
    """

    def __init__(
        self, chunks: AsyncIterator[bytes], *, what: str, length: int, **kwargs: Any
    ) -> None:
        super().__init__(chunks, **kwargs)
        self.chunks = chunks
        self.what = what
        self.length = length
        self.sent = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            try:
                first = await anext(self.chunks, None)
            except SelfdriveError as exc:
                log.error("download of %s failed before it started: %s", self.what, exc.message)
                await from_exception(_as_damage(exc))(scope, receive, send)
                return
            self.body_iterator = _prepend(first, self.chunks)
            await super().__call__(scope, receive, send)
        finally:
            # Stops the read-ahead when the client left mid-body.
            for gen in (self.body_iterator, self.chunks):
                if isinstance(gen, AsyncGenerator):
                    await gen.aclose()

    async def stream_response(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code,
                    "headers": self.raw_headers})
        try:
            async for chunk in self.body_iterator:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                self.sent += len(chunk)
        except SelfdriveError as exc:
            log.error("download of %s aborted after %d of %d bytes: %s",
                      self.what, self.sent, self.length, exc.message)
            return  # no last message: the response stays unfinished, the connection closes
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _prepend(first: bytes | None, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first is None:
        return
    yield first
    async for chunk in rest:
        yield chunk


def _as_damage(exc: SelfdriveError) -> SelfdriveError:
    """A block a revision lists but the store lacks is damage (500), not a 404:
    the file exists, its content is lost."""
    if isinstance(exc, BlockNotFound):
        return CorruptBlock(f"{exc.message}; this file cannot be read whole")
    return exc
