"""Handlers of public links: /api/v1/links (the creator's side) and /s/<token>
(the visitor's side: the page, its password form, the download, the preview's
content, the file drop in one request; the drop's tus endpoint is in
linkdrop.py).  ``?path=`` names a file or folder below a folder link
(services/links.py resolves it from the linked node down).

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
    InvalidRange,
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
from selfdrive.services.files import Opened
from selfdrive.services.links import Inside, LinkService, Visit

#: the grant cookie (Path=/s/<token>, HttpOnly, SameSite=Lax)
COOKIE = "sd_link"
PASSWORD_HEADER = "x-link-password"
MAX_FORM_BYTES = 4096
#: a text file's preview shows at most its first bytes
TEXT_PREVIEW_BYTES = 128 * 1024
#: error details a visitor is told (an upload's done path, say, is not)
VISITOR_DETAILS = frozenset({"password_required", "retry_after_s", "offset", "remaining_bytes",
                             "max_bytes", "size", "supported"})


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
    """The link's page: a file's preview and download button, a folder's listing
    (``?path=`` a folder or file below it), the upload area of a file drop, or
    the password form."""
    request = call.request
    token, links = _token(request), call.runtime.links
    where = linkpage.Where(token)
    try:
        visit = await links.visit(token)
        if links.needs_password(visit, request.cookies.get(COOKIE)):
            password = _header_password(request)
            if password is None:
                return linkpage.password_form(where)
            await links.prove(visit, password)
        if visit.is_drop:
            return linkpage.drop(where, visit.node.name)
        inside = await links.inside(visit, _path(request))
        if inside.node.is_folder:
            entries, more = await links.listing(inside)
            return linkpage.folder(where, visit, inside, entries, more)
        return linkpage.file(where, visit, inside, await _preview(call, visit, inside))
    except SelfdriveError as exc:
        return linkpage.error(where, exc, _error_headers(exc))


async def post_page(call: Call[None, None]) -> Response:
    """The password form: a right password sets the grant cookie and goes back
    to the page (303)."""
    request = call.request
    token, links = _token(request), call.runtime.links
    try:
        visit = await links.visit(token)
        grant, max_age = await links.prove(visit, await _form_password(request))
    except SelfdriveError as exc:
        return linkpage.error(linkpage.Where(token), exc, _error_headers(exc))
    response = RedirectResponse(token, status_code=303, headers=linkpage.HEADERS)
    response.set_cookie(
        COOKIE, grant, max_age=max_age, path=link_path(request, token),
        secure=request.url.scheme == "https", httponly=True, samesite="lax",
    )
    return response


async def get_download(call: Call[None, None]) -> Response:
    """A file as an attachment (Range, ETag), or a folder as a zip stream;
    ``?path=`` names a file or folder below a folder link."""
    request = call.request
    links = call.runtime.links
    try:
        visit = await authorized(request, links)
        inside = await links.inside(visit, _path(request))
        if inside.node.is_folder:
            response = await _zip(request, links, visit, inside)
        else:
            opened = await links.open_file(visit, inside)
            if request.method == "GET" and _starts_a_download(request, opened):
                await links.start_download(visit)
            response = download.serve(request, call.runtime.files, opened, attachment=True)
    except SelfdriveError as exc:
        return json_error(exc)
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "private, no-store"
    return response


async def get_content(call: Call[None, None]) -> Response:
    """A file shown inline, for the page's preview (Range for video and audio):
    never counted as a download, so a link that counts them has none."""
    request = call.request
    links = call.runtime.links
    try:
        visit = await authorized(request, links)
        links.check_preview(visit)
        opened = await links.open_file(visit, await links.inside(visit, _path(request)))
        response = download.serve(request, call.runtime.files, opened, attachment=False)
    except SelfdriveError as exc:
        return json_error(exc)
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "private, no-store"
    return response


async def post_upload(call: Call[None, None]) -> Response:
    """A file drop: every file of a multipart form, stored beside what is there."""
    request = call.request
    links = call.runtime.links
    where = linkpage.Where(_token(request), depth=1)
    html = "text/html" in request.headers.get("accept", "")
    try:
        visit = await authorized(request, links)
        if not visit.is_drop:
            raise Forbidden("this link does not take uploads")  # before reading the body
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
        return linkpage.error(where, exc, _error_headers(exc)) if html else json_error(exc)
    if html:
        return linkpage.uploaded(where, [f.name for f in stored])
    return Response(msgspec.json.encode(DropResult(files=stored)), status_code=201,
                    media_type="application/json", headers=linkpage.HEADERS)


# -- helpers ------------------------------------------------------------------------------


def _token(request: Request) -> str:
    return str(request.path_params["token"])


def link_path(request: Request, token: str) -> str:
    """The link's page from the server's root (behind a proxy's prefix too)."""
    return str(request.scope.get("root_path", "")) + "/s/" + token


def _path(request: Request) -> str | None:
    """The link path of ``?path=`` (services/links.py), None for the link itself."""
    values = request.query_params.getlist("path")
    if len(values) > 1:
        raise BadRequest("give one path")
    return values[0] if values else None


def _starts_a_download(request: Request, opened: Opened) -> bool:
    """Whether a GET counts as a download: it sends the file's first byte.  A
    resumed download (a Range after byte 0) and an unchanged copy (304)
    do not count (docs/links.md)."""
    etag = download.etag_of(opened)
    inm = request.headers.get("if-none-match")
    if inm is not None and download.etag_matches(inm, etag):
        return False
    header, if_range = request.headers.get("range"), request.headers.get("if-range")
    if not header or (if_range is not None and if_range.strip() != etag):
        return True
    try:
        found = download.parse_range(header, opened.revision.size)
    except InvalidRange:
        return False  # 416: nothing is sent
    return found is None or found[0] == 0


async def _preview(call: Call[None, None], visit: Visit, inside: Inside) -> linkpage.Preview:
    """What the page shows of a file: an image, a player, the start of a text,
    or nothing (a link that counts downloads, a kind that cannot be shown)."""
    node = inside.node
    if visit.link.max_downloads is not None:
        left = max(visit.link.max_downloads - visit.link.downloads, 0)
        return linkpage.Preview("limited", downloads_left=left)
    kind = linkpage.preview_kind(node.name)
    if kind != "text":
        return linkpage.Preview(kind)
    links = call.runtime.links
    opened = await links.open_file(visit, inside)
    data = bytearray()
    try:
        async for piece in call.runtime.files.read(opened, 0, min(node.size, TEXT_PREVIEW_BYTES)):
            data += piece
    except SelfdriveError:
        return linkpage.Preview("none")
    if b"\0" in data:
        return linkpage.Preview("none")  # not text after all
    text = data.decode("utf-8", "replace")
    if node.size > TEXT_PREVIEW_BYTES:
        text = text.rstrip("\ufffd")  # a character cut in two at the end
    return linkpage.Preview("text", text=text, truncated=node.size > TEXT_PREVIEW_BYTES)


async def authorized(request: Request, links: LinkService) -> Visit:
    """The live link of the request, its password proven (header or grant)."""
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


async def _zip(request: Request, links: LinkService, visit: Visit, inside: Inside) -> Response:
    items = await links.zip_items(visit, inside)
    headers = {
        "Content-Disposition": download.disposition("attachment", inside.node.name + ".zip"),
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


def json_error(exc: SelfdriveError) -> Response:
    """The usual JSON error body, with the link headers, and only the details
    a visitor may see (never a path the owner's tree holds)."""
    headers = {**linkpage.HEADERS, **_error_headers(exc)}
    details = {k: v for k, v in exc.details.items() if k in VISITOR_DETAILS}
    return error_response(status_of(exc), exc.code, exc.message, headers, **details)
