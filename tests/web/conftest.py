"""Browser tests: real Chromium (Debian's ``chromium``) driven by Playwright
against the real server on 127.0.0.1.

A test signs in through the real sign-in call (the context keeps the
cookie), opens pages, and checks what a person would see and what the
server then holds (through the API with a device token). Without Chromium
or Playwright the tests skip, except under SELFDRIVE_REQUIRE_EXTERNAL=1
(CI), where they fail.
"""

from __future__ import annotations

import http.server
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server, require_external

try:
    from playwright.sync_api import Browser, BrowserContext, Dialog, Page, sync_playwright
except ImportError:  # pragma: no cover - the test extras install it
    sync_playwright = None  # type: ignore[assignment]

pytestmark = pytest.mark.browser

PASSWORD = "web-password-1"
ROOT = Path(__file__).resolve().parent.parent.parent
AXE = ROOT / "selfdrive" / "web" / "vendor" / "axe-core" / "axe.min.js"
SHOTS = ROOT / "docs" / "screenshots"


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    exe = chromium_path()
    if sync_playwright is None or exe is None:
        reason = "needs Playwright for Python and Debian's chromium (.ci/run installs both)"
        if require_external():
            pytest.fail(reason)
        pytest.skip(reason)
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=[*args, "--disable-gpu"])
        yield b
        b.close()


@dataclass
class User:
    name: str
    token: str
    server: Server

    def api(self) -> httpx.Client:
        return self.server.client(self.token)


@pytest.fixture
def user(server: Server) -> User:
    name, token = server.add_user(password=PASSWORD)
    return User(name, token, server)


MakePage = Callable[..., Page]

#: every alert, confirm or prompt a page opened (hostile names must open none)
DIALOGS: dict[Page, list[str]] = {}


@pytest.fixture
def make_page(browser: Browser, server: Server) -> Iterator[MakePage]:
    """A signed-in page for a user: make_page(user, phone=False, dark=False)."""
    contexts: list[BrowserContext] = []

    def make(who: User, *, phone: bool = False, dark: bool = False, path: str = "/") -> Page:
        context = browser.new_context(
            base_url=server.base_url,
            color_scheme="dark" if dark else "light",
            accept_downloads=True,
            viewport={"width": 390, "height": 844} if phone else {"width": 1280, "height": 800},
            device_scale_factor=2 if phone else 1,
            is_mobile=phone,
            has_touch=phone,
        )
        contexts.append(context)
        r = context.request.post(
            "/api/v1/auth/login", data={"username": who.name, "password": PASSWORD}
        )
        assert r.ok, r.text()
        page = context.new_page()
        seen: list[str] = []
        DIALOGS[page] = seen

        def on_dialog(dialog: Dialog) -> None:
            seen.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        page.goto(path)
        return page

    yield make
    for c in contexts:
        c.close()


def run_axe(page: Page) -> list[dict[str, object]]:
    """axe-core's serious and critical violations on the page as it is now."""
    # evaluate() runs outside the page's CSP, which refuses inline scripts
    page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [v for v in result if v.get("impact") in ("serious", "critical")]


def screenshot(page: Page, name: str) -> None:
    """Keep a screenshot for docs/ (only when SELFDRIVE_SCREENSHOTS=1)."""
    if os.environ.get("SELFDRIVE_SCREENSHOTS") == "1":
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"))


@contextmanager
def hostile_site(page: str) -> Iterator[str]:
    """Serve the HTML *page* from another site than the app's: its URL is on
    http://localhost, and the app is on 127.0.0.1, which the browser counts as
    another site (cross-site fetch metadata, no SameSite cookies)."""
    body = page.encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://localhost:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
