"""What the API does for browsers: the session cookie, the CSRF rules, a safe ?next=.

A browser signs in with ``POST /api/v1/auth/login`` and from then on is
authenticated by the `COOKIE` (a web session, services/sessions.py).  A
browser sends cookies with every request to this server, including the ones
another site makes it send, so a request that the cookie authenticates and
whose method is unsafe (anything but GET, HEAD, OPTIONS) must show that this
server's own page sent it (`check_unsafe`), or it is refused with 403 ``csrf``:

1. `CSRF_HEADER` holds the session's CSRF token.  The page gets it from the
   sign-in or ``GET /auth/session`` answer; another site can read neither,
   and cannot set a custom header without a CORS preflight, which this server
   never grants.
2. ``Sec-Fetch-Site``, when the browser sends it, is ``same-origin`` or
   ``none``, and ``Origin``, when sent, is this server's own origin as seen
   after the trusted-proxy middleware (proxy.py): not even a sibling
   subdomain may send it (`check_same_origin`).

The sign-in itself is held to rule 2 (login CSRF: another site signing the
browser in as the attacker).  So is the one form a browser posts by itself,
the Web Share Target (sharetarget.py), which can carry no header: see
`check_launch` for why it may go without the token.  A request with an
Authorization header is authenticated by it alone, and never CSRF-checked:
no browser adds one by itself.  WebDAV never reads the cookie, and no
credential is ever taken from a query string.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from selfdrive.core.errors import CsrfRefused
from selfdrive.services.sessions import MAX_AGE_MS, csrf_matches

COOKIE = "sd_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: a browser says these when the request comes from this origin, or from the
#: user (typed URL, bookmark)
SAFE_FETCH_SITES = frozenset({"same-origin", "none"})
MAX_NEXT = 2048

Origin = tuple[str, str, int]
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: str) -> Origin | None:
    """(scheme, host, port) of an origin like ``https://drive.example.com``."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/"):
        return None
    if parts.username is not None or parts.query or parts.fragment:
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]


def own_origin(request: Request) -> Origin | None:
    """This server's origin as the browser sees it: the scheme (after the
    proxy middleware) and the Host header."""
    host = request.headers.get("host", "")
    if not host or any(c in host for c in "/\\@?#"):
        return None
    return _origin(f"{request.url.scheme}://{host}")


def check_same_origin(request: Request) -> None:
    """Refuse (CsrfRefused) a request that the browser says another site sent."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site.strip().lower() not in SAFE_FETCH_SITES:
        raise CsrfRefused(f"another site sent this request (Sec-Fetch-Site: {site[:40]})")
    origin = request.headers.get("origin")
    if origin is not None and (_origin(origin) is None or _origin(origin) != own_origin(request)):
        raise CsrfRefused("another site sent this request (its Origin is not this server)")


def check_launch(request: Request) -> None:
    """Rule 2 for a POST navigation that the browser itself makes for an
    installed app (the share sheet launching the share target), which can
    carry no CSRF header.  Chrome makes it with no initiator: ``Sec-Fetch-Site:
    none`` and ``Origin: null``.  The app's own pages send ``Origin: null``
    too when they post a form (their Referrer-Policy is no-referrer), with
    ``same-origin``.  So ``null`` is accepted beside ``none`` or
    ``same-origin`` only: a sandboxed frame of another site sends it with
    ``cross-site``, and a browser without fetch metadata could be anyone.
    Another site's form cannot pass for one: the browser sets both headers,
    and the SameSite=Lax cookie stays off its cross-site POST anyway."""
    site = (request.headers.get("sec-fetch-site") or "").strip().lower()
    if request.headers.get("origin") == "null" and site in SAFE_FETCH_SITES:
        return
    check_same_origin(request)


def check_unsafe(request: Request, session_token: str) -> None:
    """The CSRF rules for a cookie-authenticated request (see the module doc)."""
    if request.method.upper() in SAFE_METHODS:
        return
    check_same_origin(request)
    given = request.headers.get(CSRF_HEADER)
    if given is None:
        raise CsrfRefused(f"send the session's CSRF token in {CSRF_HEADER}")
    if not csrf_matches(session_token, given):
        raise CsrfRefused(f"{CSRF_HEADER} is not this session's CSRF token")


def session_cookie(request: Request) -> str | None:
    return request.cookies.get(COOKIE) or None


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        COOKIE, token, max_age=MAX_AGE_MS // 1000, path="/", httponly=True, samesite="lax",
        secure=request.url.scheme == "https",
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax",
                           secure=request.url.scheme == "https")


def safe_next(next: str) -> str:
    """Where to go after signing in: *next* if it is a path on this server
    (starts with one '/', no backslash, no control or space characters),
    else '/'.  Browsers read '//host' and '/\\host' as another server, and
    drop tabs and newlines before they do, so those are refused."""
    if (
        not next.startswith("/")
        or next.startswith(("//", "/\\"))
        or len(next) > MAX_NEXT
        or "\\" in next
        or any(c.isspace() or not c.isprintable() for c in next)
    ):
        return "/"
    return next
