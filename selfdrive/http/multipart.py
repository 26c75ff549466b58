"""Streaming multipart/form-data: each file part becomes an async byte stream.

Browsers send several files in one form post.  Starlette's own form parser
spools file parts to temporary files, which would leave plaintext of user
content on disk; this reader hands each part's bytes straight to the
ingest pipeline instead, holding no more than one network read in memory.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

from python_multipart.multipart import MultipartParser, parse_options_header

from selfdrive.core.errors import BadRequest, IncompleteBody


@dataclass
class Part:
    name: str
    filename: str | None
    data: AsyncIterator[bytes]


def boundary_of(content_type: str) -> bytes:
    ctype, options = parse_options_header(content_type)
    if ctype != b"multipart/form-data" or b"boundary" not in options:
        raise BadRequest("uploadType=multipart takes a multipart/form-data body with a boundary")
    boundary: bytes = options[b"boundary"]
    if not 1 <= len(boundary) <= 200:
        raise BadRequest("the multipart boundary must be 1 to 200 characters")
    return boundary


class MultipartReader:
    """Parts of a multipart body, read on demand from *stream*."""

    def __init__(self, stream: AsyncIterator[bytes], boundary: bytes) -> None:
        self._stream = stream
        self._events: deque[tuple[str, bytes]] = deque()
        self._header_name = b""
        self._header_value = b""
        self._ended = False
        events = self._events

        def on_header_field(data: bytes, start: int, end: int) -> None:
            self._header_name += data[start:end]

        def on_header_value(data: bytes, start: int, end: int) -> None:
            self._header_value += data[start:end]

        def on_header_end() -> None:
            events.append(("header", self._header_name.lower() + b"\0" + self._header_value))
            self._header_name, self._header_value = b"", b""

        self._parser = MultipartParser(boundary, {
            "on_part_begin": lambda: events.append(("begin", b"")),
            "on_part_data": lambda data, start, end: events.append(
                ("data", bytes(data[start:end]))
            ),
            "on_part_end": lambda: events.append(("end", b"")),
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": lambda: events.append(("headers_done", b"")),
            "on_end": lambda: events.append(("finish", b"")),
        })

    async def _next(self) -> tuple[str, bytes]:
        while not self._events:
            if self._ended:
                raise IncompleteBody("the multipart body ended before its closing boundary")
            try:
                chunk = await self._stream.__anext__()
            except StopAsyncIteration:
                self._ended = True
                self._parser.finalize()
                continue
            try:
                self._parser.write(chunk)
            except Exception as exc:  # python-multipart raises its own error types
                raise BadRequest(f"malformed multipart body: {exc}") from None
        return self._events.popleft()

    async def parts(self) -> AsyncIterator[Part]:
        while True:
            kind, _ = await self._next()
            if kind == "finish":
                return
            if kind != "begin":
                continue
            headers: dict[bytes, bytes] = {}
            while (event := await self._next())[0] != "headers_done":
                if event[0] == "header":
                    name, _, value = event[1].partition(b"\0")
                    headers[name] = value
            _, options = parse_options_header(headers.get(b"content-disposition", b""))
            filename = options.get(b"filename")
            part = Part(
                name=options.get(b"name", b"").decode("utf-8", "replace"),
                filename=filename.decode("utf-8", "replace") if filename is not None else None,
                data=self._part_data(),
            )
            yield part
            async for _ in part.data:  # drain what the consumer left unread
                pass

    async def _part_data(self) -> AsyncIterator[bytes]:
        while True:
            kind, data = await self._next()
            if kind == "data":
                yield data
            elif kind == "end":
                return
            else:
                raise BadRequest("malformed multipart body")
