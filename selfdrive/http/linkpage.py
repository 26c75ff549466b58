"""The small HTML pages of public links (/s/<token>).

Self-contained: no script, no external resource, one inline style, and a
CSP that forbids everything else (forms may post only to this origin; the
page may not be framed).  Every string that a user chose (file and folder
names) is HTML-escaped.  Links and form actions are relative to the page, so
the pages also work behind a reverse proxy that serves selfdrive under a
prefix.
"""

from __future__ import annotations

from html import escape

from starlette.responses import HTMLResponse

from selfdrive.core.errors import SelfdriveError, TooManyAttempts, Unauthenticated
from selfdrive.http.errors import status_of
from selfdrive.services.links import Summary

CSP = ("default-src 'none'; style-src 'unsafe-inline'; form-action 'self';"
       " frame-ancestors 'none'; base-uri 'none'")
#: on every response of a link route, pages and content alike
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

_STYLE = """
body{font:16px/1.5 system-ui,sans-serif;max-width:34rem;margin:10vh auto;padding:0 1rem;
color:#222;background:#fafafa}
main{background:#fff;border:1px solid #ddd;border-radius:8px;padding:1.5rem}
h1{font-size:1.25rem;margin:0 0 .5rem;overflow-wrap:anywhere}
p{color:#555}
a.button,button{display:inline-block;padding:.5rem 1rem;border:0;border-radius:6px;
background:#2563eb;color:#fff;text-decoration:none;font:inherit;cursor:pointer}
input{font:inherit;margin:.25rem 0 .75rem}
.error{color:#b91c1c}
"""


def _page(title: str, body: str, status: int = 200,
          headers: dict[str, str] | None = None) -> HTMLResponse:
    html = (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
        "<meta name=\"robots\" content=\"noindex\">"
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )
    return HTMLResponse(html, status_code=status, headers={**HEADERS, **(headers or {})})


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def show(token: str, summary: Summary, *, drop: bool) -> HTMLResponse:
    """The link's page: what it is and a download button, or for a file drop,
    only an upload form."""
    name = escape(summary.name)
    base = escape(token)
    if drop:
        body = (
            f"<h1>{name}</h1><p>Upload files here. You will not see what others sent.</p>"
            f"<form method=\"post\" action=\"{base}/upload\" enctype=\"multipart/form-data\">"
            "<input type=\"file\" name=\"file\" multiple required><br>"
            "<button type=\"submit\">Upload</button></form>"
        )
        return _page(summary.name, body)
    if summary.kind == "folder":
        facts = (f"Folder: {summary.files} file{'s' if summary.files != 1 else ''}, "
                 f"{summary.folders} folder{'s' if summary.folders != 1 else ''}, "
                 f"{human_size(summary.size)}")
        button = "Download as .zip"
    else:
        facts, button = f"File: {human_size(summary.size)}", "Download"
    body = (f"<h1>{name}</h1><p>{escape(facts)}</p>"
            f"<a class=\"button\" href=\"{base}/download\">{button}</a>")
    return _page(summary.name, body)


def password_form(page_url: str, message: str | None = None, status: int = 200,
                  headers: dict[str, str] | None = None) -> HTMLResponse:
    """The password form; *page_url* is the link's page relative to this one
    (the token from /s/<token>, ../<token> from below it)."""
    note = f"<p class=\"error\">{escape(message)}</p>" if message else ""
    body = (
        "<h1>This link is protected</h1><p>Enter the password you were given.</p>" + note +
        f"<form method=\"post\" action=\"{escape(page_url)}\">"
        "<input type=\"password\" name=\"password\" autocomplete=\"current-password\""
        " required autofocus><br><button type=\"submit\">Open</button></form>"
    )
    return _page("Password needed", body, status, headers)


def uploaded(page_url: str, names: list[str]) -> HTMLResponse:
    items = "".join(f"<li>{escape(n)}</li>" for n in names)
    body = (f"<h1>Thank you</h1><p>Received {len(names)} file{'s' if len(names) != 1 else ''}:"
            f"</p><ul>{items}</ul><p><a href=\"{escape(page_url)}\">Send more</a></p>")
    return _page("Received", body, 201)


def error(page_url: str, exc: SelfdriveError,
          headers: dict[str, str] | None = None) -> HTMLResponse:
    status = status_of(exc)
    if isinstance(exc, Unauthenticated | TooManyAttempts):
        return password_form(page_url, exc.message, status, headers)
    titles = {404: "Link not found", 410: "Link no longer available"}
    title = titles.get(status, "Something went wrong")
    return _page(title, f"<h1>{escape(title)}</h1><p>{escape(exc.message)}</p>", status, headers)
