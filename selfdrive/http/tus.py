"""The tus 1.0 resumable upload protocol at /api/v1/uploads.

Core (HEAD, PATCH) and the extensions creation, creation-with-upload,
termination, expiration and checksum (https://tus.io/protocols/resumable-upload).
The rules live in selfdrive/services/uploads.py; this module only speaks
HTTP.  Stock clients (tuspy, tus-js-client) work unchanged: they send the
target in Upload-Metadata, as ``path`` or as ``filename`` plus ``folder``.

Deviations, all on the lenient side: a request without Tus-Resumable is
served (curl users; a wrong version still gets 412), and POST with
X-HTTP-Method-Override (tus-js-client's overridePatchMethod) is honoured.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import quote

from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from selfdrive.core import paths
from selfdrive.core.errors import (
    BadRequest,
    IncompleteBody,
    SelfdriveError,
    UnsupportedMediaType,
)
from selfdrive.http.endpoint import Call
from selfdrive.http.errors import error_response, from_exception
from selfdrive.http.schemas import ResumableRequest, UploadOut, encode
from selfdrive.services.uploads import CHECKSUMS, Checksum, Upload

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,creation-with-upload,termination,expiration,checksum"
OFFSET_OCTETS = "application/offset+octet-stream"
UPLOADS = "/api/v1/uploads"

Handler = Callable[[Call[None, None]], Awaitable[Response]]


def tus(handler: Handler) -> Handler:
    """Check the protocol version; put Tus-Resumable on every answer, errors too."""

    async def run(call: Call[None, None]) -> Response:
        asked = call.request.headers.get("tus-resumable")
        if asked is not None and asked.strip() != TUS_VERSION and call.request.method != "OPTIONS":
            response = error_response(
                412, "unsupported_tus_version", f"this server speaks tus {TUS_VERSION} only",
                {"Tus-Version": TUS_VERSION},
            )
        else:
            try:
                response = await handler(call)
            except SelfdriveError as exc:
                response = from_exception(exc)
        response.headers["Tus-Resumable"] = TUS_VERSION
        response.headers["Cache-Control"] = "no-store"
        return response

    run.__name__ = handler.__name__
    run.__doc__ = handler.__doc__
    return run


# -- handlers -------------------------------------------------------------------------------


@tus
async def options(call: Call[None, None]) -> Response:
    """What this server supports (no authentication needed)."""
    return Response(status_code=204, headers={
        "Tus-Version": TUS_VERSION,
        "Tus-Extension": EXTENSIONS,
        "Tus-Max-Size": str(call.runtime.config.limits.max_file_bytes),
        "Tus-Checksum-Algorithm": ",".join(CHECKSUMS),
    })


@tus
async def create(call: Call[None, None]) -> Response:
    """POST: a new upload; with a body (creation-with-upload) its first bytes too."""
    h = call.request.headers
    if "upload-defer-length" in h:
        raise BadRequest("Upload-Defer-Length is not supported; send Upload-Length")
    length = _number(h, "upload-length", required=True)
    assert length is not None
    raw_meta = h.get("upload-metadata", "")
    meta = parse_metadata(raw_meta)
    with_body = _has_body(call.request)
    if with_body and _media_type(call.request) != OFFSET_OCTETS:
        raise UnsupportedMediaType(f"an upload's bytes are sent as {OFFSET_OCTETS}")
    upload = await call.runtime.uploads.create(
        call.who, target_path(meta), length, base_rev=_meta_int(meta, "base_rev"),
        mtime=_meta_int(meta, "mtime"), metadata=raw_meta,
        executable=_meta_bool(meta, "executable"),
    )
    headers = {"Location": location(upload)} | upload_headers(upload)
    if not with_body:
        return Response(status_code=201, headers=headers)
    try:
        upload = await _patch(call, upload.token, 0)
    except IncompleteBody:
        raise
    except SelfdriveError as exc:
        # The upload exists: say what was wrong with the bytes, and where the
        # upload is, so that the client can resume it.
        response = from_exception(exc)
        held = await call.runtime.uploads.status(call.who, upload.token)
        response.headers.update(headers | upload_headers(held))
        return response
    return Response(status_code=201, headers=headers | upload_headers(upload))


@tus
async def head(call: Call[None, None]) -> Response:
    """HEAD: how many bytes the server holds (durably) of this upload."""
    upload = await call.runtime.uploads.status(call.who, _token(call))
    headers = upload_headers(upload) | {"Upload-Length": str(upload.length)}
    if upload.metadata:
        headers["Upload-Metadata"] = upload.metadata
    return Response(status_code=200, headers=headers)


@tus
async def patch(call: Call[None, None]) -> Response:
    """PATCH: append bytes at Upload-Offset."""
    if _media_type(call.request) != OFFSET_OCTETS:
        raise UnsupportedMediaType(f"a PATCH's body must be sent as {OFFSET_OCTETS}")
    offset = _number(call.request.headers, "upload-offset", required=True)
    assert offset is not None
    upload = await _patch(call, _token(call), offset)
    return Response(status_code=204, headers=upload_headers(upload))


@tus
async def delete(call: Call[None, None]) -> Response:
    """DELETE (termination): cancel the upload and free what it held."""
    await call.runtime.uploads.terminate(call.who, _token(call))
    return Response(status_code=204)


async def get(call: Call[None, None]) -> UploadOut:
    """An upload's state as JSON (where it landed, once done)."""
    return upload_out(await call.runtime.uploads.status(call.who, _token(call)))


async def override(call: Call[None, None]) -> Response:
    """POST with X-HTTP-Method-Override: for clients behind proxies that drop PATCH."""
    method = call.request.headers.get("x-http-method-override", "").upper()
    handlers: dict[str, Handler] = {"PATCH": patch, "DELETE": delete, "HEAD": head}
    if method not in handlers:
        raise BadRequest("POST to an upload needs X-HTTP-Method-Override: PATCH, DELETE or HEAD")
    return await handlers[method](call)


# -- the seed API's resumable flow --------------------------------------------------------------


async def start_resumable(call: Call[None, ResumableRequest]) -> Response:
    """POST /files/upload?uploadType=resumable {path, size, base_rev?, mtime?, executable?}."""
    b = call.body
    upload = await call.runtime.uploads.create(
        call.who, b.path, b.size, base_rev=b.base_rev, mtime=b.mtime, executable=b.executable
    )
    body = upload_out(upload)
    return Response(
        encode(body), status_code=201, media_type="application/json",
        headers={"Location": body.upload_url, "Tus-Resumable": TUS_VERSION}
        | upload_headers(upload),
    )


# -- helpers --------------------------------------------------------------------------------------


async def _patch(call: Call[None, None], token: str, offset: int) -> Upload:
    h = call.request.headers
    checksum = Checksum.parse(h["upload-checksum"]) if "upload-checksum" in h else None
    return await call.runtime.uploads.patch(
        call.who, token, offset, _body(call.request),
        content_length=_number(h, "content-length"), checksum=checksum,
    )


async def _body(request: Request) -> AsyncIterator[bytes]:
    """The request body; a client that goes away mid-body is IncompleteBody."""
    try:
        async for piece in request.stream():
            yield piece
    except ClientDisconnect:
        raise IncompleteBody("the client disconnected mid-body") from None


def location(upload: Upload) -> str:
    return f"{UPLOADS}/{upload.token}"


def upload_headers(upload: Upload) -> dict[str, str]:
    headers = {"Upload-Offset": str(upload.offset)}
    if upload.done:
        assert upload.done_path is not None
        # A path in a header: percent-encoded UTF-8 (headers are Latin-1).
        headers["Selfdrive-Path"] = quote(upload.done_path, safe="/")
        headers["Selfdrive-Rev"] = str(upload.done_rev)
    else:
        headers["Upload-Expires"] = email.utils.formatdate(upload.expires_at / 1000, usegmt=True)
    return headers


def upload_out(upload: Upload) -> UploadOut:
    return UploadOut(
        upload_url=location(upload), path=upload.path, length=upload.length,
        offset=upload.offset, expires=upload.expires_at, done=upload.done,
        committed_path=upload.done_path, rev=upload.done_rev, conflict=upload.conflict,
    )


def parse_metadata(raw: str) -> dict[str, str]:
    """Upload-Metadata: ``key base64value`` pairs separated by commas."""
    meta: dict[str, str] = {}
    for pair in raw.split(","):
        if not pair.strip():
            continue
        key, _, value = pair.strip().partition(" ")
        try:
            meta[key] = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise BadRequest(f"Upload-Metadata value of {key!r} is not base64 of UTF-8") from None
    return meta


def target_path(meta: dict[str, str]) -> str:
    """Where the upload goes: ``path``, or ``filename`` (or ``name``) in ``folder``."""
    if "path" in meta:
        return paths.normalize_path(meta["path"])
    name = meta.get("filename") or meta.get("name")
    if not name:
        raise BadRequest("Upload-Metadata must name the target: 'path', or 'filename'"
                         " (and 'folder')")
    folder = paths.normalize_path(meta.get("folder") or "/")
    return paths.join(folder, paths.check_name(name))


def _meta_int(meta: dict[str, str], key: str) -> int | None:
    if key not in meta:
        return None
    if not meta[key].isdigit():
        raise BadRequest(f"Upload-Metadata {key!r} must be a whole number")
    return int(meta[key])


def _meta_bool(meta: dict[str, str], key: str) -> bool:
    value = meta.get(key, "false").strip().lower()
    if value not in ("true", "false", "1", "0"):
        raise BadRequest(f"Upload-Metadata {key!r} must be true or false")
    return value in ("true", "1")


def _number(headers: Headers, name: str, *, required: bool = False) -> int | None:
    raw = headers.get(name)
    if raw is None:
        if required:
            raise BadRequest(f"the {name.title()} header is required")
        return None
    if not raw.strip().isdigit():
        raise BadRequest(f"the {name.title()} header must be a whole number")
    return int(raw)


def _token(call: Call[None, None]) -> str:
    return str(call.request.path_params["token"])


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _has_body(request: Request) -> bool:
    h = request.headers
    return "transfer-encoding" in h or int(h.get("content-length") or 0) > 0
