"""The bundled web UI: static files served by the same process, no build step.

Terms: the *shell* is ``index.html``, the one page every app URL answers
(``/``, ``/files/...``, ``/trash``, ``/account``, ``/admin``, ``/login``); the browser
code in ``static/`` then draws the view the URL names, talking only to the
public HTTP API (the session cookie and CSRF rules are in docs/web.md).
``vendor/`` holds third-party files copied byte for byte from npm
(vendor/README.md; scripts/vendor-web.py refreshes them).

Safety (DESIGN.md rule 7 and issue 8's list): the shell's only inline
script is the import map, allowed by its SHA-256 in the Content-Security-
Policy, so no other inline script can ever run; pages refuse framing and
send no referrer.  Static files carry nosniff and a type chosen here; only
pdf.js's worker may compile WebAssembly (`VENDOR_CSP`).

The *service worker* (``sw.js``, served at ``/sw.js`` so that its scope is
the whole site) caches the shell for the installed app; `ServiceWorker`
writes this release's shell URLs and cache name into it (docs/web.md,
"The phone").
"""

from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

WEB_DIR = Path(__file__).resolve().parent
STATIC = "/static"
VENDOR = "/vendor"

#: the URLs that answer the shell; the browser code reads the rest of the URL
APP_PATHS = ("/", "/files", "/files/{rest:path}", "/trash", "/account",
             "/links", "/admin", "/login",
             "/camera", "/share")

#: bare module specifiers -> vendored files (vendor/README.md), below VENDOR
IMPORTS = {
    "preact": "preact/preact.module.js",
    "preact/hooks": "preact/hooks.module.js",
    "htm": "htm/htm.module.js",
    "uqr": "uqr/index.mjs",
}

#: what static files are, whatever the platform's mime.types says (a module
#: script served as octet-stream is refused under nosniff)
TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".webmanifest": "application/manifest+json",
    ".json": "application/json",
    ".md": "text/plain; charset=utf-8",
    ".wasm": "application/wasm",  # WebAssembly.instantiateStreaming refuses any other type
}

COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


#: a CSP for single vendored files, by their path below vendor/.  pdf.js
#: compiles its image decoders (vendor/pdfjs-dist/wasm/) to WebAssembly in its
#: worker, and a dedicated worker's CSP is the one on its own script
#: response, so this one response allows it and the pages do not.
#: 'wasm-unsafe-eval' allows compiling WebAssembly only, never JavaScript from
#: strings ('unsafe-eval'); the worker fetches the decoders (connect-src) or
#: imports their JavaScript fallbacks (script-src) from this origin.
VENDOR_CSP = {
    "pdfjs-dist/pdf.worker.min.mjs":
        "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'",
}


def page_csp(script_hashes: list[str]) -> str:
    scripts = " ".join(f"'sha256-{h}'" for h in script_hashes)
    return (
        "default-src 'self'; "
        f"script-src 'self' {scripts}; "
        "style-src 'self'; "
        "img-src 'self' data: blob:; "
        "media-src 'self' blob:; "
        "connect-src 'self'; "
        "worker-src 'self'; "
        "font-src 'self' data:; "
        "object-src 'none'; "
        "base-uri 'none'; "
        "form-action 'self'; "
        "frame-ancestors 'none'; "
        "manifest-src 'self'"
    )


def version() -> str:
    """A digest of every static and vendored file: it names this release's
    files in their versioned URLs (``/static/v-<digest>/app.js``)."""
    h = hashlib.sha256()
    for top in ("static", "vendor"):
        for path in sorted((WEB_DIR / top).rglob("*")):
            if path.is_file():
                h.update(f"{top}/{path.relative_to(WEB_DIR / top).as_posix()}\0".encode())
                h.update(hashlib.sha256(path.read_bytes()).digest())
    return "v-" + h.hexdigest()[:16]


class Shell:
    """index.html with its import map filled in, and the headers that go with it.

    The shell names this release's files by versioned URLs, cached for good
    (a new release has new URLs), and preloads every module the app imports
    statically, so that a visit fetches them in one round, or not at all,
    instead of discovering them an import level at a time.  Modules import
    each other by relative URLs, which stay inside the version."""

    def __init__(self, version: str) -> None:
        static, vendor = f"{STATIC}/{version}", f"{VENDOR}/{version}"
        importmap = json.dumps({"imports": {k: f"{vendor}/{v}" for k, v in IMPORTS.items()}},
                               separators=(",", ":"))
        digest = base64.b64encode(hashlib.sha256(importmap.encode()).digest()).decode()
        preloads = [*(f"{vendor}/{v}" for v in IMPORTS.values()),
                    *(f"{static}/{p.name}" for p in sorted((WEB_DIR / "static").glob("*.js")))]
        template = (WEB_DIR / "index.html").read_text(encoding="utf-8")
        self.body = (template.replace("{{IMPORTMAP}}", importmap)
                     .replace("{{PRELOADS}}", "\n".join(
                         f'<link rel="modulepreload" href="{u}">' for u in preloads))
                     .replace("{{STATIC}}", static).replace("{{VENDOR}}", vendor)).encode()
        self.etag = '"' + hashlib.sha256(self.body).hexdigest()[:32] + '"'
        #: what the service worker keeps for offline use: the page, every
        #: module and the style of this release, the vendored code the page
        #: loads, and the icons and manifest by the plain URLs the page names
        self.offline_urls = [
            "/", *preloads, f"{static}/app.css", f"{vendor}/tus-js-client/tus.min.js",
            *(f"{STATIC}/{name}" for name in ("manifest.webmanifest", "icon.svg", "icon-192.png",
                                              "apple-touch-icon.png")),
        ]
        self.headers = {
            **COMMON_HEADERS,
            "Content-Security-Policy": page_csp([digest]),
            "Cache-Control": "no-cache",
            "ETag": self.etag,
        }

    async def page(self, request: Request) -> Response:
        if request.headers.get("if-none-match") == self.etag:
            return Response(status_code=304, headers=self.headers)
        return Response(self.body, media_type="text/html; charset=utf-8", headers=self.headers)


class ServiceWorker:
    """``/sw.js``: the service worker with this release's shell URLs and a
    cache named after them, so a new release installs a new cache and drops
    the old one.  Revalidated on every load, like the shell."""

    def __init__(self, shell: Shell) -> None:
        template = (WEB_DIR / "sw.js").read_text(encoding="utf-8")
        urls = json.dumps(shell.offline_urls, separators=(",", ":"))
        cache = hashlib.sha256(shell.body + b"\0" + template.encode() + b"\0" + urls.encode())
        self.body = (template.replace("{{CACHE}}", "selfdrive-shell-" + cache.hexdigest()[:16])
                     .replace("{{SHELL}}", urls)).encode()
        self.headers = {
            **COMMON_HEADERS,
            "Content-Security-Policy": "default-src 'self'",
            "Cache-Control": "no-cache",
            "Service-Worker-Allowed": "/",
        }

    async def script(self, request: Request) -> Response:
        return Response(self.body, media_type="text/javascript; charset=utf-8",
                        headers=self.headers)


class StaticHeaders:
    """Serve a directory with our types and nosniff; versioned URLs are cached
    for good, the plain ones revalidated on every load.  *csp* gives single
    files (by their path below *directory*) a Content-Security-Policy."""

    def __init__(self, directory: Path, *, immutable: bool = False,
                 csp: dict[str, str] | None = None) -> None:
        self.files = StaticFiles(directory=directory, check_dir=False)
        self.cache = b"public, max-age=31536000, immutable" if immutable else b"no-cache"
        self.csp = {k: v.encode() for k, v in (csp or {}).items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        suffix = Path(scope.get("path", "")).suffix.lower()
        csp = self.csp.get(Path(self.files.get_path(scope)).as_posix()) if self.csp else None

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() not in (b"content-type", b"cache-control")]
                ctype = TYPES.get(suffix) or mimetypes.guess_type("x" + suffix)[0]
                headers.append((b"content-type", (ctype or "application/octet-stream").encode()))
                headers.append((b"cache-control", self.cache))
                headers += [(k.lower().encode(), v.encode()) for k, v in COMMON_HEADERS.items()]
                if csp is not None:
                    headers.append((b"content-security-policy", csp))
                message = {**message, "headers": headers}
            await send(message)

        await self.files(scope, receive, send_with_headers)


def routes() -> list[BaseRoute]:
    """The web UI's routes: the shell at every app URL, static and vendored files."""
    release = version()
    shell = Shell(release)
    pages: list[BaseRoute] = [Route(p, shell.page, methods=["GET", "HEAD"]) for p in APP_PATHS]
    worker = ServiceWorker(shell)
    return [
        *pages,
        Route("/sw.js", worker.script, methods=["GET", "HEAD"]),
        Mount(f"{STATIC}/{release}", app=StaticHeaders(WEB_DIR / "static", immutable=True)),
        Mount(f"{VENDOR}/{release}",
              app=StaticHeaders(WEB_DIR / "vendor", immutable=True, csp=VENDOR_CSP)),
        Mount(STATIC, app=StaticHeaders(WEB_DIR / "static")),
        Mount(VENDOR, app=StaticHeaders(WEB_DIR / "vendor", csp=VENDOR_CSP)),
    ]
