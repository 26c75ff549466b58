"""The server's HTTP API as the sync client uses it (docs/api.md).

Transient failures (no connection, a dropped one, a timeout, 5xx, 429) are
retried with exponential backoff and full jitter; a 4xx answer is raised as
`ApiError` with the server's machine code.  No caller may read an error as
"deleted": only a successful listing or the change feed says so.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import msgspec
import zstandard

from selfdrive.core.blockhash import block_id
from selfdrive.core.chunking import MAX_SIZE
from selfdrive.sync.errors import ClientError

API = "/api/v1"
#: header naming the block whose plaintext is the zstd dictionary (docs/api.md)
BASE_HEADER = "Selfdrive-Base-Block"
#: answers worth trying again (507 quota_exceeded is not: it needs the user)
TRANSIENT = frozenset({429, 500, 502, 503, 504})
RETRY_FIRST_S = 0.25
RETRY_MAX_S = 30.0


class ApiError(ClientError):
    """The server answered with an error status (4xx or 507, or another 5xx once
    retries ran out)."""

    code = "api_error"

    def __init__(self, status: int, code: str, message: str, body: dict[str, Any]) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.server_code = code
        self.body = body


class Unreachable(ClientError):
    """The server could not be reached, or kept failing, for longer than allowed."""

    code = "unreachable"


class CursorExpired(ClientError):
    code = "cursor_expired"


class Entry(msgspec.Struct):
    path: str
    name: str
    kind: str
    size: int
    modified: int
    id: int = 0
    rev: int | None = None
    content_hash: str | None = None
    mtime: int | None = None
    executable: bool | None = False


class Change(msgspec.Struct):
    op: str
    kind: str
    path: str
    at: int
    id: int = 0
    old_path: str | None = None
    rev: int | None = None
    size: int | None = None
    content_hash: str | None = None
    device_id: int | None = None
    executable: bool | None = False


class _Listing(msgspec.Struct):
    entries: list[Entry]
    next_after: str | None = None


class _Changes(msgspec.Struct):
    changes: list[Change]
    cursor: str
    has_more: bool


class _BlockRef(msgspec.Struct):
    id: str
    size: int


class _BlockList(msgspec.Struct):
    rev: int
    size: int
    content_hash: str
    blocks: list[_BlockRef]


class Api:
    """One server, one device token.  *max_tries* bounds retries of a call
    (None: for ever, as a live sync does while the server is away)."""

    def __init__(self, server: str, token: str, *, max_tries: int | None = 8,
                 transport: httpx.AsyncBaseTransport | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.server = server.rstrip("/")
        self.max_tries = max_tries
        self._sleep = sleep
        self._http = httpx.AsyncClient(
            base_url=self.server + API, transport=transport,
            headers={"Authorization": f"Bearer {token}", "User-Agent": "selfdrive-sync"},
            timeout=httpx.Timeout(60.0, connect=10.0),
        )
        #: bytes sent and received in bodies (the progress display)
        self.sent = 0
        self.received = 0

    async def aclose(self) -> None:
        await self._http.aclose()

    # ---- plumbing ----

    async def _send(self, method: str, url: str, raw: bool,
                    **kw: Any) -> tuple[httpx.Response, bytes]:
        if not raw:
            r = await self._http.request(method, url, **kw)
            return r, r.content
        # the body as sent: httpx would decode zstd itself, without our dictionary
        r = await self._http.send(self._http.build_request(method, url, **kw), stream=True)
        try:
            return r, b"".join([piece async for piece in r.aiter_raw()])
        except httpx.StreamConsumed:  # an answer made whole in memory (a test's transport)
            return r, r.content
        finally:
            await r.aclose()

    async def _call(self, method: str, url: str, *, ok: tuple[int, ...] = (200, 201, 204),
                    raw: bool = False, **kw: Any) -> tuple[httpx.Response, bytes]:
        delay = RETRY_FIRST_S
        tries = 0
        while True:
            tries += 1
            r: httpx.Response | None
            body = b""
            try:
                r, body = await self._send(method, url, raw, **kw)
            except (httpx.TransportError, httpx.DecodingError) as exc:
                failure = f"{type(exc).__name__}: {exc}"
                r = None
            if r is not None:
                if r.status_code in ok:
                    return r, body
                if r.status_code not in TRANSIENT:
                    raise _error(r, body)
                failure = f"{r.status_code} from the server"
            if self.max_tries is not None and tries >= self.max_tries:
                if r is not None:
                    raise _error(r, body)
                raise Unreachable(f"{self.server}: {failure} (tried {tries} times)")
            wait = _retry_after(r) or random.uniform(0, delay)  # full jitter
            await self._sleep(wait)
            delay = min(delay * 2, RETRY_MAX_S)

    async def _json(self, method: str, url: str, type_: type[Any], **kw: Any) -> Any:
        _, body = await self._call(method, url, **kw)
        self.received += len(body)
        return msgspec.json.decode(body, type=type_)

    # ---- calls ----

    async def me(self) -> dict[str, Any]:
        return dict(await self._json("GET", "/me", dict))

    async def latest(self) -> str:
        return str((await self._json("GET", "/changes/latest", dict))["cursor"])

    async def changes(self, cursor: str, limit: int = 1000) -> tuple[list[Change], str, bool]:
        try:
            page = await self._json("GET", "/changes", _Changes,
                                    params={"cursor": cursor, "limit": limit})
        except ApiError as exc:
            if exc.status == 410:
                raise CursorExpired(str(exc)) from None
            raise
        return page.changes, page.cursor, page.has_more

    async def wait(self, cursor: str, timeout_s: float) -> tuple[bool, float]:
        answer = await self._json("GET", "/changes/wait", dict,
                                  params={"cursor": cursor, "timeout": timeout_s},
                                  timeout=timeout_s + 30)
        return bool(answer.get("changes")), float(answer.get("backoff", 0))

    async def list_tree(self, path: str) -> AsyncIterator[Entry]:
        """Every entry under *path* (a folder), parents before children."""
        after: str | None = None
        while True:
            params: dict[str, Any] = {"path": path, "recursive": "true", "limit": 2000}
            if after is not None:
                params["after"] = after
            page = await self._json("GET", "/files/list", _Listing, params=params)
            for e in page.entries:
                yield e
            if not page.next_after:
                return
            after = page.next_after

    async def metadata(self, path: str) -> Entry | None:
        try:
            return await self._json("GET", "/files/metadata", Entry, params={"path": path})  # type: ignore[no-any-return]
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    async def blocklist(self, path: str, rev: int) -> tuple[str, list[tuple[bytes, int]]]:
        bl = await self._json("GET", "/files/blocklist", _BlockList,
                              params={"path": path, "rev": rev})
        return bl.content_hash, [(bytes.fromhex(b.id), b.size) for b in bl.blocks]

    async def missing(self, ids: list[bytes]) -> set[bytes]:
        out: set[bytes] = set()
        for i in range(0, len(ids), 5000):
            answer = await self._json("POST", "/blocks/missing", dict,
                                      json={"hashes": [b.hex() for b in ids[i:i + 5000]]})
            out.update(bytes.fromhex(h) for h in answer["missing"])
        return out

    async def put_block(self, bid: bytes, data: bytes, base: tuple[bytes, bytes] | None) -> None:
        """Send one block, zstd-compressed, against *base* (id, plaintext) as a
        raw-content dictionary when given; a base the server will not use
        (404) is dropped and the block sent alone."""
        if base is not None:
            body = await asyncio.to_thread(_compress_against, data, base[1])
            try:
                await self._call("PUT", f"/blocks/{bid.hex()}", content=body, headers={
                    "Content-Encoding": "zstd", BASE_HEADER: base[0].hex(),
                    "Content-Type": "application/octet-stream"})
                self.sent += len(body)
                return
            except ApiError as exc:
                if exc.status != 404:
                    raise
        body = await asyncio.to_thread(_compress, data)
        headers = {"Content-Type": "application/octet-stream"}
        if len(body) < len(data):
            headers["Content-Encoding"] = "zstd"
        else:
            body = data
        await self._call("PUT", f"/blocks/{bid.hex()}", content=body, headers=headers)
        self.sent += len(body)

    async def get_block(self, bid: bytes, base: tuple[bytes, bytes] | None) -> bytes:
        """Fetch one block, verified against its id."""
        params = {"base": base[0].hex()} if base is not None else None
        r, raw = await self._call("GET", f"/blocks/{bid.hex()}", params=params,
                                  headers={"Accept-Encoding": "zstd"}, raw=True)
        self.received += len(raw)
        encoding = r.headers.get("content-encoding", "identity")
        used = r.headers.get(BASE_HEADER)
        if encoding == "zstd":
            dict_plain = base[1] if base is not None and used == base[0].hex() else None
            data = await asyncio.to_thread(_decompress, raw, dict_plain)
        else:
            data = raw
        if block_id(data) != bid:
            raise ApiError(502, "hash_mismatch", f"block {bid.hex()} arrived damaged", {})
        return data

    async def commit(self, path: str, blocks: list[bytes], size: int, *, base_rev: int,
                     mtime: int | None, executable: bool) -> Entry:
        body = {"path": path, "blocks": [b.hex() for b in blocks], "size": size,
                "base_rev": base_rev, "mtime": mtime, "executable": executable}
        return await self._json("POST", "/files/commit", Entry, json=body)  # type: ignore[no-any-return]

    async def mkdir(self, path: str) -> Entry:
        return await self._json("POST", "/files/mkdir", Entry, json={"path": path})  # type: ignore[no-any-return]

    async def move(self, src: str, dst: str) -> Entry:
        return await self._json("POST", "/files/move", Entry,  # type: ignore[no-any-return]
                                json={"from_path": src, "to_path": dst})

    async def delete(self, path: str, base_rev: int | None,
                     base_cursor: str | None = None) -> None:
        """Delete *path* (to the server's trash): a file only at *base_rev*;
        anything only if nothing at it or under it changed after
        *base_cursor* (else 409 changed_since_cursor)."""
        body: dict[str, Any] = {"path": path}
        if base_rev:
            body["base_rev"] = base_rev
        if base_cursor is not None:
            body["base_cursor"] = base_cursor
        await self._call("POST", "/files/delete", json=body)


def _error(r: httpx.Response, body: bytes) -> ApiError:
    try:
        err = msgspec.json.decode(body)["error"]
        return ApiError(r.status_code, str(err.get("code", "")), str(err.get("message", "")), err)
    except (msgspec.DecodeError, KeyError, TypeError, AttributeError):
        return ApiError(r.status_code, "bad_answer", body[:200].decode(errors="replace"), {})


def _retry_after(r: httpx.Response | None) -> float | None:
    if r is None:
        return None
    value = r.headers.get("retry-after", "")
    try:
        return min(float(value), RETRY_MAX_S) if value else None
    except ValueError:
        return None


def _params(window_for: int) -> zstandard.ZstdCompressionParameters:
    """Parameters for compressing against a dictionary of *window_for* bytes.

    The window must reach over the dictionary and the block (8 MiB), and the
    match finder must index the whole dictionary: level 3's default hash table
    (2^17) forgets most of a 4 MiB dictionary, so a 1-byte change in random
    data came out at 3 MB.  The "fast" strategy with a 2^20 table finds it all
    and sends 398 bytes, in 30 ms (measured on 4 MiB blocks)."""
    return zstandard.ZstdCompressionParameters.from_level(
        3, window_log=max(20, (2 * max(window_for, 1) - 1).bit_length()),
        hash_log=20, chain_log=20, strategy=zstandard.STRATEGY_FAST)


def _compress(data: bytes) -> bytes:
    # a compressor per call: one ZstdCompressor must not be used by two threads at once
    return zstandard.ZstdCompressor(level=3).compress(data)


def _compress_against(data: bytes, base_plain: bytes) -> bytes:
    d = zstandard.ZstdCompressionDict(base_plain, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
    c = zstandard.ZstdCompressor(dict_data=d, compression_params=_params(len(base_plain)))
    return c.compress(data)


def _decompress(raw: bytes, dict_plain: bytes | None) -> bytes:
    d = (zstandard.ZstdCompressionDict(dict_plain, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
         if dict_plain is not None else None)
    dctx = zstandard.ZstdDecompressor(dict_data=d, max_window_size=1 << 27)
    out = dctx.stream_reader(raw).read(MAX_SIZE + 1)
    if len(out) > MAX_SIZE:
        raise ApiError(502, "bad_answer", "a block over 4 MiB", {})
    return out
