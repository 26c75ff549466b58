"""Resumable uploads into a file drop: tus 1.0 at /s/<token>/uploads.

The same protocol as /api/v1/uploads (http/tus.py, whose helpers this uses)
and the same upload service, with three differences that keep a file drop
blind:

- the visitor names only the file (Upload-Metadata ``filename`` or
  ``name``); ``path`` and ``folder`` are refused, and the file lands in the
  linked folder under a free name ("name (2).ext" when the name is taken);
- answers never say where a file landed (no Selfdrive-Path, no JSON state),
  so a visitor cannot learn which names the folder holds;
- errors that would tell the owner's quota or paths are told without them
  (services/links.py), and every answer carries the link headers
  (linkpage.HEADERS: no referrer, no store).

An upload's URL is /s/<token>/uploads/<upload>: it works only through its
own link (the upload must lie in the linked folder as it is now), only while
the link stands, and with its password when it has one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from selfdrive.core.errors import BadRequest, SelfdriveError, UnsupportedMediaType
from selfdrive.http import linkpage, links, tus
from selfdrive.http.endpoint import Call
from selfdrive.http.errors import error_response
from selfdrive.services.links import Visit
from selfdrive.services.uploads import Checksum, Upload

Handler = Callable[[Call[None, None]], Awaitable[Response]]

#: Upload-Metadata keys that name a place; a file drop takes a name only
_PLACES = ("path", "folder")


def drop_route(handler: Callable[[Call[None, None], Visit], Awaitable[Response]]) -> Handler:
    """Check the tus version and the link (live, a drop, its password); put the
    tus and link headers on every answer, errors too."""

    async def run(call: Call[None, None]) -> Response:
        asked = call.request.headers.get("tus-resumable")
        try:
            if asked is not None and asked.strip() != tus.TUS_VERSION:
                response = error_response(
                    412, "unsupported_tus_version",
                    f"this server speaks tus {tus.TUS_VERSION} only",
                    {"Tus-Version": tus.TUS_VERSION})
            else:
                visit = await links.authorized(call.request, call.runtime.links)
                response = await handler(call, visit)
        except SelfdriveError as exc:
            response = links.json_error(exc)
        response.headers.update(linkpage.HEADERS)
        response.headers["Tus-Resumable"] = tus.TUS_VERSION
        return response

    run.__name__ = handler.__name__
    run.__doc__ = handler.__doc__
    return run


@drop_route
async def create(call: Call[None, None], visit: Visit) -> Response:
    """POST: a new upload of one file into the drop (creation-with-upload too)."""
    request = call.request
    h = request.headers
    if "upload-defer-length" in h:
        raise BadRequest("Upload-Defer-Length is not supported; send Upload-Length")
    length = tus._number(h, "upload-length", required=True)
    assert length is not None
    raw_meta = h.get("upload-metadata", "")
    meta = tus.parse_metadata(raw_meta)
    if any(k in meta for k in _PLACES):
        raise BadRequest("a file drop takes a file name only (Upload-Metadata 'filename'),"
                         " not a path or a folder")
    name = meta.get("filename") or meta.get("name")
    if not name:
        raise BadRequest("Upload-Metadata must name the file: 'filename'")
    with_body = tus._has_body(request)
    if with_body and tus._media_type(request) != tus.OFFSET_OCTETS:
        raise UnsupportedMediaType(f"an upload's bytes are sent as {tus.OFFSET_OCTETS}")
    runtime = call.runtime
    upload = await runtime.links.begin_upload(visit, runtime.uploads, name, length, raw_meta)
    headers = {"Location": _location(request, upload)} | _headers(upload)
    if not with_body:
        return Response(status_code=201, headers=headers)
    try:
        upload = await _send(call, visit, upload.token, 0)
    except SelfdriveError as exc:
        # The upload exists: say what went wrong and where it is, so that the
        # client can resume it.
        response = links.json_error(exc)
        held = await runtime.links.drop_upload(visit, runtime.uploads, upload.token)
        response.headers.update(headers | _headers(held))
        return response
    return Response(status_code=201, headers=headers | _headers(upload))


@drop_route
async def head(call: Call[None, None], visit: Visit) -> Response:
    """HEAD: how many bytes the server holds of this upload."""
    runtime = call.runtime
    upload = await runtime.links.drop_upload(visit, runtime.uploads, _upload(call.request))
    headers = _headers(upload) | {"Upload-Length": str(upload.length)}
    if upload.metadata:
        headers["Upload-Metadata"] = upload.metadata  # what the visitor sent
    return Response(status_code=200, headers=headers)


@drop_route
async def patch(call: Call[None, None], visit: Visit) -> Response:
    """PATCH: append bytes at Upload-Offset."""
    if tus._media_type(call.request) != tus.OFFSET_OCTETS:
        raise UnsupportedMediaType(f"a PATCH's body must be sent as {tus.OFFSET_OCTETS}")
    offset = tus._number(call.request.headers, "upload-offset", required=True)
    assert offset is not None
    upload = await _send(call, visit, _upload(call.request), offset)
    return Response(status_code=204, headers=_headers(upload))


@drop_route
async def delete(call: Call[None, None], visit: Visit) -> Response:
    """DELETE (termination): cancel the upload and free what it held."""
    runtime = call.runtime
    await runtime.links.cancel_upload(visit, runtime.uploads, _upload(call.request))
    return Response(status_code=204)


@drop_route
async def override(call: Call[None, None], visit: Visit) -> Response:
    """POST with X-HTTP-Method-Override (tus-js-client's overridePatchMethod)."""
    method = call.request.headers.get("x-http-method-override", "").upper()
    handlers = {"PATCH": patch, "DELETE": delete, "HEAD": head}
    if method not in handlers:
        raise BadRequest("POST to an upload needs X-HTTP-Method-Override: PATCH, DELETE or HEAD")
    return await handlers[method](call)


async def _send(call: Call[None, None], visit: Visit, token: str, offset: int) -> Upload:
    h = call.request.headers
    checksum = Checksum.parse(h["upload-checksum"]) if "upload-checksum" in h else None
    runtime = call.runtime
    return await runtime.links.send(
        visit, runtime.uploads, token, offset, tus._body(call.request),
        content_length=tus._number(h, "content-length"), checksum=checksum,
    )


def _upload(request: Request) -> str:
    return str(request.path_params["upload"])


def _location(request: Request, upload: Upload) -> str:
    token = str(request.path_params["token"])
    return f"{links.link_path(request, token)}/uploads/{upload.token}"


def _headers(upload: Upload) -> dict[str, str]:
    """tus.upload_headers without the path a finished file landed at."""
    return {k: v for k, v in tus.upload_headers(upload).items()
            if not k.startswith("Selfdrive-")}
