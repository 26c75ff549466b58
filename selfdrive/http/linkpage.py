"""The HTML pages of public links (/s/<token>), made on the server.

A file's page shows a preview (an image, a video or audio player, the start
of a text) and a download button; a folder's page lists what it holds, with
breadcrumbs that never reach above the linked folder, a download button per
file and a zip of the folder; a file drop's page is an upload area only.
Only the file drop runs a script (static/link/drop.js with the vendored
tus-js-client): the other pages work with no script at all.

Safety: the CSP allows scripts, styles, images and media from this origin
only (no inline script or style, no style attribute), no frames, no
plugins; every string that a user chose (file and folder names, a text's
content) is HTML-escaped and set inside ``<bdi>`` so a right-to-left
override cannot reorder the page around it.  Previews are fetched from
/s/<token>/content, which serves a user's bytes under the sandbox CSP and
nosniff of http/download.py, so an HTML or SVG file is only ever shown as
text.  Every URL in a page is relative to it, so the pages also work behind
a reverse proxy that serves selfdrive under a prefix.
"""

from __future__ import annotations

import mimetypes
import time
from dataclasses import dataclass
from html import escape
from pathlib import PurePosixPath
from urllib.parse import quote

from starlette.responses import HTMLResponse

from selfdrive.core import paths
from selfdrive.core.errors import SelfdriveError, TooManyAttempts, Unauthenticated
from selfdrive.http import download
from selfdrive.http.errors import status_of
from selfdrive.services.links import Inside, Visit
from selfdrive.store.meta.records import Node

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
       " media-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none';"
       " base-uri 'none'; object-src 'none'")
#: on every response of a link route, pages and content alike
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

#: images every browser draws (HEIC and TIFF are downloads)
WEB_IMAGES = {"image/jpeg", "image/png", "image/gif", "image/webp", "image/avif", "image/bmp",
              "image/x-icon", "image/vnd.microsoft.icon"}
#: shown as text whatever mimetypes says (source, markup, data)
TEXT_SUFFIXES = {
    ".txt", ".md", ".markdown", ".csv", ".tsv", ".log", ".json", ".xml", ".html", ".htm",
    ".svg", ".css", ".js", ".mjs", ".ts", ".py", ".rb", ".go", ".rs", ".c", ".h", ".cpp",
    ".java", ".kt", ".swift", ".sh", ".yaml", ".yml", ".toml", ".ini", ".cfg", ".conf",
    ".sql", ".tex", ".srt", ".vtt", ".diff", ".patch",
}

_ICONS = {
    "folder": '<path d="M3 6.5A1.5 1.5 0 0 1 4.5 5h4l2 2h9A1.5 1.5 0 0 1 21 8.5v9a1.5 1.5 0 0 1'
              '-1.5 1.5h-15A1.5 1.5 0 0 1 3 17.5z"/>',
    "file": '<path d="M6 3h8l4 4v13a1 1 0 0 1-1 1H6a1 1 0 0 1-1-1V4a1 1 0 0 1 1-1z"/>'
            '<path d="M14 3v4h4"/>',
    "download": '<path d="M12 4v11m-5-5 5 5 5-5M5 20h14"/>',
}


@dataclass(frozen=True)
class Where:
    """Where a page is answered from: *depth* path segments below /s/<token>.
    Its URLs are made relative to it."""

    token: str
    depth: int = 0

    @property
    def base(self) -> str:
        """The link's page."""
        return "../" * self.depth + self.token

    @property
    def root(self) -> str:
        """The server's root (static files)."""
        return "../" * (self.depth + 1)

    def page(self, rel: list[str]) -> str:
        return self.base + _query(rel)

    def download(self, rel: list[str]) -> str:
        return f"{self.base}/download{_query(rel)}"

    def content(self, rel: list[str]) -> str:
        return f"{self.base}/content{_query(rel)}"


@dataclass(frozen=True)
class Preview:
    """What a file's page shows of it."""

    kind: str  # "image" | "video" | "audio" | "text" | "none" | "limited"
    text: str = ""
    truncated: bool = False
    downloads_left: int = 0


def preview_kind(name: str) -> str:
    """How a file of this name is previewed (before looking at its bytes)."""
    ctype, inline = download.content_type(name)
    ctype = ctype.split(";")[0]
    if inline and ctype in WEB_IMAGES:
        return "image"
    if inline and ctype.startswith(("video/", "audio/")):
        return ctype.split("/")[0]
    guessed, _ = mimetypes.guess_type(name, strict=False)
    if (guessed or "").startswith("text/") or PurePosixPath(name).suffix.lower() in TEXT_SUFFIXES:
        return "text"
    return "none"


# -- pages ------------------------------------------------------------------------------------


def file(where: Where, visit: Visit, inside: Inside, preview: Preview) -> HTMLResponse:
    node = inside.node
    crumbs = _crumbs(where, visit, inside) if visit.node.is_folder else ""
    facts = f"{human_size(node.size)} · {_date(node.modified_at)}"
    button = (f'<a class="button primary" href="{escape(where.download(inside.rel))}"'
              f' download>{_icon("download")}Download</a>')
    body = (f'{crumbs}<div class="head"><div><h1>{_name(node.name)}</h1>'
            f'<p class="facts">{facts}</p></div>{button}</div>{_preview(where, inside, preview)}')
    return _page(where, node.name, body)


def folder(where: Where, visit: Visit, inside: Inside, entries: list[Node],
           more: bool) -> HTMLResponse:
    node = inside.node
    files = sum(1 for e in entries if not e.is_folder)
    count = (f"{_plural(files, 'file')}, {_plural(len(entries) - files, 'folder')}"
             + (" shown" if more else ""))
    button = (f'<a class="button primary" href="{escape(where.download(inside.rel))}"'
              f' download>{_icon("download")}Download all (.zip)</a>')
    rows = []
    for e in entries:
        rel = [*inside.rel, e.name]
        icon = _icon("folder" if e.is_folder else "file")
        size = "" if e.is_folder else human_size(e.size)
        get = ("" if e.is_folder else
               f'<a class="icon-button" href="{escape(where.download(rel))}" download'
               f' aria-label="Download {escape(e.name, quote=True)}">{_icon("download")}</a>')
        rows.append(
            f'<li class="row {e.kind}"><a class="open" href="{escape(where.page(rel))}">{icon}'
            f'<span class="name">{_name(e.name)}</span></a>'
            f'<span class="size">{size}</span><span class="date">{_date(e.modified_at)}</span>'
            f"{get}</li>")
    listing = (f'<ul class="listing" aria-label="Contents of {escape(node.name, quote=True)}">'
               + "".join(rows) + "</ul>") if rows else '<p class="empty">This folder is empty.</p>'
    note = ('<p class="note">This folder holds more than can be listed here;'
            " the zip holds everything.</p>") if more else ""
    body = (f'{_crumbs(where, visit, inside)}<div class="head"><div><h1>{_name(node.name)}</h1>'
            f'<p class="facts">{count}</p></div>{button}</div>{listing}{note}')
    return _page(where, node.name, body)


def drop(where: Where, name: str) -> HTMLResponse:
    """A file drop: an upload area only.  Without a script the form posts the
    files (POST /s/<token>/upload); with one, drop.js sends them resumably."""
    base = escape(where.base)
    body = (
        f"<h1>{_name(name)}</h1>"
        "<p>Send files to the owner of this folder. You will not see what is in it,"
        " nor what others sent.</p>"
        f'<form id="drop" method="post" action="{base}/upload" enctype="multipart/form-data"'
        f' data-endpoint="{base}/uploads">'
        '<div class="zone" id="zone"><p class="zone-text">Drag and drop files here</p>'
        '<label class="button primary" for="files">Choose files</label>'
        '<input id="files" class="file-input" type="file" name="file" multiple></div>'
        '<noscript><p><button class="button" type="submit">Send</button></p></noscript>'
        '<ul id="queue" class="queue" aria-label="Files sent" aria-live="polite"></ul>'
        "</form>"
    )
    scripts = (f'<script src="{where.root}vendor/tus-js-client/tus.min.js" defer></script>'
               f'<script type="module" src="{where.root}static/link/drop.js"></script>')
    return _page(where, name, body, scripts=scripts)


def password_form(where: Where, message: str | None = None, status: int = 200,
                  headers: dict[str, str] | None = None) -> HTMLResponse:
    """The password form; nothing of the link's node is told before it."""
    note = f'<p class="error" role="alert">{escape(message)}</p>' if message else ""
    body = (
        "<h1>This link is protected</h1><p>Enter the password you were given.</p>" + note +
        f'<form class="password" method="post" action="{escape(where.base)}">'
        '<label for="password">Password</label>'
        '<input id="password" type="password" name="password" autocomplete="current-password"'
        ' required autofocus><button class="button primary" type="submit">Open</button></form>'
    )
    return _page(where, "Password needed", body, status=status, headers=headers)


def uploaded(where: Where, names: list[str]) -> HTMLResponse:
    items = "".join(f"<li>{_name(n)}</li>" for n in names)
    body = (f"<h1>Thank you</h1><p>Received {_plural(len(names), 'file')}:</p>"
            f'<ul class="sent">{items}</ul><p><a href="{escape(where.base)}">Send more</a></p>')
    return _page(where, "Received", body, status=201)


def error(where: Where, exc: SelfdriveError,
          headers: dict[str, str] | None = None) -> HTMLResponse:
    status = status_of(exc)
    if isinstance(exc, Unauthenticated | TooManyAttempts):
        return password_form(where, exc.message, status, headers)
    titles = {404: "Link not found", 410: "Link no longer available"}
    title = titles.get(status, "Something went wrong")
    body = f"<h1>{escape(title)}</h1><p>{escape(exc.message)}</p>"
    if status == 400 or (status == 404 and exc.code == "not_found" and "folder" in exc.message):
        body += f'<p><a href="{escape(where.base)}">Back to the link</a></p>'
    return _page(where, title, body, status=status, headers=headers)


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


# -- parts ------------------------------------------------------------------------------------


def _page(where: Where, title: str, body: str, *, status: int = 200,
          headers: dict[str, str] | None = None, scripts: str = "") -> HTMLResponse:
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="robots" content="noindex"><meta name="referrer" content="no-referrer">'
        '<meta name="color-scheme" content="light dark">'
        f"<title>{escape(title)} · selfdrive</title>"
        f'<link rel="stylesheet" href="{where.root}static/link/link.css">'
        f"{scripts}</head><body>"
        '<header class="bar"><span class="brand">selfdrive</span></header>'
        f'<main class="card">{body}</main></body></html>'
    )
    return HTMLResponse(html, status_code=status, headers={**HEADERS, **(headers or {})})


def _crumbs(where: Where, visit: Visit, inside: Inside) -> str:
    """The way from the linked folder down to here; nothing above it."""
    names = [visit.node.name, *inside.rel]
    items = []
    for i, name in enumerate(names):
        if i == len(names) - 1:
            items.append(f'<li aria-current="page">{_name(name)}</li>')
        else:
            href = escape(where.page(inside.rel[:i]))
            items.append(f'<li><a href="{href}">{_name(name)}</a></li>')
    if len(items) < 2:
        return ""
    return f'<nav class="crumbs" aria-label="Folders"><ol>{"".join(items)}</ol></nav>'


def _preview(where: Where, inside: Inside, preview: Preview) -> str:
    src = escape(where.content(inside.rel))
    label = escape(inside.node.name, quote=True)
    if preview.kind == "image":
        return f'<figure class="preview"><img src="{src}" alt="{label}"></figure>'
    if preview.kind == "video":
        return (f'<figure class="preview"><video controls preload="metadata" src="{src}"'
                f' aria-label="{label}"></video></figure>')
    if preview.kind == "audio":
        return (f'<figure class="preview audio"><audio controls preload="metadata" src="{src}"'
                f' aria-label="{label}"></audio></figure>')
    if preview.kind == "text":
        cut = ('<figcaption>The beginning of the file; download it to see it all.</figcaption>'
               if preview.truncated else "")
        return (f'<figure class="preview text"><pre tabindex="0" aria-label="{label}">'
                f"{escape(preview.text)}</pre>{cut}</figure>")
    if preview.kind == "limited":
        left = _plural(preview.downloads_left, "more download")
        return (f'<p class="note">This link allows {left}, so it shows no preview.'
                " Each download counts, a resumed one does not.</p>")
    return '<p class="note">No preview for this kind of file.</p>'


def _query(rel: list[str]) -> str:
    return "?path=" + quote(paths.join_parts(rel), safe="/") if rel else ""


def _name(name: str) -> str:
    return f"<bdi>{escape(name)}</bdi>"


def _icon(name: str) -> str:
    return (f'<svg class="icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false">'
            f"{_ICONS[name]}</svg>")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _date(ms: int) -> str:
    when = time.gmtime(ms / 1000)
    return (f'<time datetime="{time.strftime("%Y-%m-%dT%H:%M:%SZ", when)}">'
            f'{time.strftime("%Y-%m-%d", when)}</time>')
