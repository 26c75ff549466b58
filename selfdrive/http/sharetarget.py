"""POST /share-target: where a phone's share sheet sends files (Web Share Target).

The installed app's manifest names this route as its ``share_target``; when
someone shares photos to selfdrive, Android opens the app with a top-level
POST of multipart/form-data (``files``, and ``title``, ``text``, ``url``).

Why the server receives it, not the service worker: a NAS is often reached
over plain HTTP, where no service worker runs, and a form post that the
server stores as it streams in needs no second copy of the files in the
browser.  The files land at once in the *destination*: the folder chosen last
on the share page (the `DEST_COOKIE`, written by static/sharetarget.js), or
`INBOX` the first time or when that folder is gone or read-only.  A shared
file never replaces anything: a taken name becomes ``name (2).ext``.  The
answer is a 303 to the share page (``/share?to=<folder>&f=<name>...``),
which lists what arrived and can move it elsewhere.

CSRF: the browser makes this POST itself and can add no CSRF header, so it is
held to `browser.check_launch` (fetch metadata and Origin); the SameSite=Lax
session cookie is not sent with another site's POST at all, and without it
nothing is stored (the page then asks to sign in and share again).  The most a
forgery that got through could do is add files to the user's own folder.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import unquote, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from selfdrive.core import paths
from selfdrive.core.conflicts import numbered_name
from selfdrive.core.errors import (
    AlreadyExists,
    BadRequest,
    NotFound,
    SelfdriveError,
    Unauthenticated,
)
from selfdrive.http import browser
from selfdrive.http.accesslog import note_user
from selfdrive.http.endpoint import Call
from selfdrive.http.multipart import MultipartReader, boundary_of
from selfdrive.services.auth import Principal
from selfdrive.services.files import FileService

PAGE = "/share"
#: where shared files go until the share page names another folder
INBOX = "/Shared to selfdrive"
#: the folder the share page chose last (a URL-encoded path; not a credential)
DEST_COOKIE = "sd_share_to"
#: a name taken this often in one folder is refused rather than searched further
MAX_NUMBERED = 1000
#: the name of a shared file that came without a usable one
UNNAMED = "shared file"


async def post_share_target(call: Call[None, None]) -> Response:
    """Store every file of the share sheet's form, then show the share page."""
    request = call.request
    browser.check_launch(request)  # before the session: a forgery reads and writes nothing
    who = await _signed_in(request, call)
    if who is None:
        return _to_page(error="signin")
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        raise BadRequest("the share target takes multipart/form-data")
    reader = MultipartReader(request.stream(), boundary_of(ctype))
    files = call.runtime.files
    folder = await _destination(files, who, request.cookies.get(DEST_COOKIE))
    stored: list[str] = []
    try:
        async for part in reader.parts():
            if not part.filename:
                continue  # title, text, url; or an empty file field
            name = await _free_name(files, who, folder, clean_name(part.filename))
            entry = await files.upload(who, paths.join(folder, name), part.data, base_rev=0)
            stored.append(paths.parent_and_name(entry.path)[1])
    except SelfdriveError as exc:  # the page says what went wrong, and what did arrive
        return _to_page(folder, stored, error=exc.code)
    return _to_page(folder, stored, error=None if stored else "nofiles")


async def _signed_in(request: Request, call: Call[None, None]) -> Principal | None:
    token = browser.session_cookie(request)
    if token is None:
        return None
    try:
        who = await call.runtime.sessions.authenticate(token)
    except Unauthenticated:
        return None
    note_user(request.scope, who.user_id)
    return who


async def _destination(files: FileService, who: Principal, cookie: str | None) -> str:
    """The folder the user chose last, if it is still a folder they may write
    into; else the inbox (made by the first upload into it)."""
    if cookie:
        try:
            folder = paths.normalize_path(unquote(cookie))
            entry = await files.stat(who, folder)
            if entry.node.kind == "folder" and entry.role in (None, "owner", "editor"):
                return folder
        except SelfdriveError:
            pass  # gone, renamed, never valid: the inbox
    return INBOX


def clean_name(filename: str) -> str:
    """The last segment of what the browser sent, NFC; UNNAMED if not a valid name."""
    name = unicodedata.normalize("NFC", filename.replace("\\", "/").rsplit("/", 1)[-1].strip())
    try:
        return paths.check_name(name)
    except SelfdriveError:
        return UNNAMED


async def _free_name(files: FileService, who: Principal, folder: str, name: str) -> str:
    for number in range(1, MAX_NUMBERED + 1):
        candidate = numbered_name(name, number)
        try:
            await files.stat(who, paths.join(folder, candidate))
        except NotFound:
            return candidate
    raise AlreadyExists(f"too many files named {name!r} in {folder}")


def _to_page(folder: str | None = None, stored: list[str] | None = None, *,
             error: str | None = None) -> Response:
    query: list[tuple[str, str]] = []
    if folder is not None:
        query.append(("to", folder))
    query += [("f", name) for name in stored or []]
    if error is not None:
        query.append(("error", error))
    return RedirectResponse(f"{PAGE}?{urlencode(query)}", status_code=303,
                            headers={"Cache-Control": "no-store"})
