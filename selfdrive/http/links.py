"""Handlers of public links: /api/v1/links (the creator's side) and /s/<token>
(the visitor's side: the page, its password form, the download, the file drop).

The visitor's routes are public (no bearer token) and every answer carries
`linkpage.HEADERS` (strict CSP, nosniff, no referrer, no store).  The page
routes answer errors as HTML pages; /download and /upload answer the usual
JSON error body (HTML to a browser's form post), with ``Retry-After`` on 429
and a link-password challenge, not a Bearer one, on 401.  A visitor proves a
link's password with ``X-Link-Password`` or once through the page's form,
which sets a grant cookie scoped to the link's path (services/links.py).
"""

from __future__ import annotations

from urllib.parse import parse_qs

import msgspec
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from selfdrive.core.errors import (
    BadRequest,
    Forbidden,
    PayloadTooLarge,
    SelfdriveError,
    TooManyAttempts,
    Unauthenticated,
)
from selfdrive.http import download, linkpage, zipstream
from selfdrive.http.endpoint import Call
from selfdrive.http.errors import error_response, status_of
from selfdrive.http.multipart import MultipartReader, boundary_of
from selfdrive.http.schemas import DroppedFile, DropResult, LinkList, LinkOut, LinkRequest
from selfdrive.services.links import LinkService, Visit

#: the grant cookie (Path=/s/<token>, HttpOnly, SameSite=Lax)
COOKIE = "sd_link"
PASSWORD_HEADER = "x-link-password"
MAX_FORM_BYTES = 4096


# -- /api/v1/links ----------------------------------------------------------------------


async def post_link(call: Call[None, LinkRequest]) -> LinkOut:
    b = call.body
    view = await call.runtime.links.create(
        call.who, b.path, password=b.password, expires_at=b.expires_at,
        allow_upload=b.allow_upload, max_downloads=b.max_downloads,
    )
    return LinkOut.of(view)


async def get_links(call: Call[None, None]) -> LinkList:
    return LinkList(links=[LinkOut.of(v) for v in await call.runtime.links.list_mine(call.who)])


async def delete_link(call: Call[None, None]) -> None:
    link_id: int = call.request.path_params["link_id"]  # the route's :int converter
    await call.runtime.links.revoke(call.who, link_id)


# -- /s/<token> ---------------------------------------------------------------------------


async def get_page(call: Call[None, None]) -> Response:
    """The link's page: what it holds and a download button, an upload form for
    a file drop, or the password form."""
    token, links = _token(call.request), call.runtime.links
    try:
        visit = await links.visit(token)
        if links.needs_password(visit, call.request.cookies.get(COOKIE)):
            password = _header_password(call.request)
            if password is None:
                return linkpage.password_form(token)
            await links.prove(visit, password)
        return linkpage.show(token, await links.summary(visit), drop=visit.is_drop)
    except SelfdriveError as exc:
        return linkpage.error(token, exc, _error_headers(exc))


async def post_page(call: Call[None, None]) -> Response:
    """The password form: a right password sets the grant cookie and goes back
    to the page (303)."""
    request = call.request
    token, links = _token(request), call.runtime.links
    try:
        visit = await links.visit(token)
        grant, max_age = await links.prove(visit, await _form_password(request))
    except SelfdriveError as exc:
        return linkpage.error(token, exc, _error_headers(exc))
    response = RedirectResponse(token, status_code=303, headers=linkpage.HEADERS)
    response.set_cookie(
        COOKIE, grant, max_age=max_age, path=_link_path(request, token),
        secure=request.url.scheme == "https", httponly=True, samesite="lax",
    )
    return response


async def get_download(call: Call[None, None]) -> Response:
    """A file as an attachment (Range, ETag), or a folder as a zip stream."""
    request = call.request
    links = call.runtime.links
    try:
        visit = await _authorized(request, links)
        if visit.node.is_folder:
            response = await _zip(request, links, visit)
        else:
            opened = await links.open_file(visit)
            if request.method == "GET":
                await links.start_download(visit)
            response = download.serve(request, call.runtime.files, opened, attachment=True)
    except SelfdriveError as exc:
        return _json_error(exc)
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "private, no-store"
    return response


async def post_upload(call: Call[None, None]) -> Response:
    """A file drop: every file of a multipart form, stored beside what is there."""
    request = call.request
    links = call.runtime.links
    back = "../" + _token(request)
    html = "text/html" in request.headers.get("accept", "")
    try:
        visit = await _authorized(request, links)
        if not visit.is_drop:
            raise Forbidden("this link does not take uploads")
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise BadRequest("send the files as multipart/form-data")
        reader = MultipartReader(request.stream(), boundary_of(request.headers["content-type"]))
        stored: list[DroppedFile] = []
        async for part in reader.parts():
            if not part.filename:
                continue  # a plain field, or a file input left empty
            entry = await links.drop(visit, part.filename, part.data)
            stored.append(DroppedFile(name=part.filename, size=entry.node.size))
        if not stored:
            raise BadRequest("the form holds no file")
    except SelfdriveError as exc:
        return linkpage.error(back, exc, _error_headers(exc)) if html else _json_error(exc)
    if html:
        return linkpage.uploaded(back, [f.name for f in stored])
    return Response(msgspec.json.encode(DropResult(files=stored)), status_code=201,
                    media_type="application/json", headers=linkpage.HEADERS)


# -- helpers ------------------------------------------------------------------------------


def _token(request: Request) -> str:
    return str(request.path_params["token"])


def _link_path(request: Request, token: str) -> str:
    return str(request.scope.get("root_path", "")) + "/s/" + token


async def _authorized(request: Request, links: LinkService) -> Visit:
    visit = await links.visit(_token(request))
    await links.authorize(visit, password=_header_password(request),
                          grant=request.cookies.get(COOKIE))
    return visit


def _header_password(request: Request) -> str | None:
    """X-Link-Password, read as UTF-8 (what curl and browsers send; Starlette
    decodes headers as Latin-1)."""
    value = request.headers.get(PASSWORD_HEADER)
    if value is None:
        return None
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


async def _zip(request: Request, links: LinkService, visit: Visit) -> Response:
    items = await links.zip_items(visit)
    headers = {
        "Content-Disposition": download.disposition("attachment", visit.node.name + ".zip"),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": download.CSP,
    }
    if request.method == "HEAD":
        head = Response(status_code=200, headers=headers, media_type="application/zip")
        del head.headers["content-length"]  # unknown until it is made, not 0
        return head
    await links.start_download(visit)
    return download.VerifiedStream(
        zipstream.zip_stream(items, links.read), headers=headers, media_type="application/zip",
        what=f"the zip of {visit.shown} (link {visit.link.id})",
        length=sum(i.opened.revision.size for i in items if i.opened is not None),
    )


async def _form_password(request: Request) -> str:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise BadRequest("send the page's form (application/x-www-form-urlencoded, password=)")
    data = bytearray()
    async for piece in request.stream():
        data += piece
        if len(data) > MAX_FORM_BYTES:
            raise PayloadTooLarge(f"the form may be at most {MAX_FORM_BYTES} bytes")
    try:
        fields = parse_qs(data.decode("utf-8", "replace"), keep_blank_values=True,
                          max_num_fields=10)
    except ValueError:
        raise BadRequest("the form has too many fields") from None
    values = fields.get("password", [])
    if len(values) != 1:
        raise BadRequest("the form needs one password field")
    return values[0]


def _error_headers(exc: SelfdriveError) -> dict[str, str]:
    headers = {}
    if isinstance(exc, TooManyAttempts):
        headers["Retry-After"] = str(exc.details.get("retry_after_s", 60))
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = 'LinkPassword realm="selfdrive link"'
    return headers


def _json_error(exc: SelfdriveError) -> Response:
    headers = {**linkpage.HEADERS, **_error_headers(exc)}
    return error_response(status_of(exc), exc.code, exc.message, headers, **exc.details)
