"""The phone (issue 9, point 6): the installable app, its service worker and
offline shell, the Web Share Target, the camera-upload page, and the whole
site with service workers blocked (plain HTTP on a LAN has none)."""

from __future__ import annotations

import io
import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from tests.conftest import Server
from tests.web.conftest import PASSWORD, MakePage, User, chromium_path, hostile_site, run_axe

INBOX = "/Shared to selfdrive"
#: what Chrome sends when the share sheet launches the installed app
LAUNCH = {"Sec-Fetch-Site": "none", "Origin": "null"}
USER_DATA = re.compile(r"^/(api|dav|s|uploads|share-target)(/|$)")


def png(color: tuple[int, int, int], size: int = 64) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), color).save(out, "PNG")
    return out.getvalue()


def names(user: User, folder: str) -> list[str]:
    with user.api() as c:
        r = c.get("/files/list", params={"path": folder})
        if r.status_code == 404:
            return []
        assert r.status_code == 200, r.text
        return sorted(e["name"] for e in r.json()["entries"])


def content(user: User, path: str) -> bytes:
    with user.api() as c:
        r = c.get("/files/content", params={"path": path})
        assert r.status_code == 200, r.text
        return r.content


def wait_until(page: Page, script: str, timeout_s: float = 15) -> None:
    """Poll a script until it is true (wait_for_function's polling evaluates
    a string, which the pages' CSP refuses)."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(script):
        assert time.monotonic() < deadline, f"still false: {script}"
        time.sleep(0.1)


def controlled(page: Page) -> None:
    """Wait until the service worker is active and controls the page."""
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    wait_until(page, "navigator.serviceWorker.controller !== null")


def loaded_image(page: Page, part: str) -> None:
    wait_until(page, f"[...document.images].some((i) => i.src.includes('{part}')"
                     " && i.complete && i.naturalWidth > 0)")


def cached_urls(page: Page) -> list[str]:
    return list(page.evaluate("""async () => {
        const urls = []
        for (const key of await caches.keys()) {
            for (const request of await (await caches.open(key)).keys()) urls.push(request.url)
        }
        return urls
    }"""))


# -- the manifest, the icons, the worker's script ------------------------------------------


def test_the_manifest_names_icons_that_load(server: Server) -> None:
    with httpx.Client(base_url=server.base_url) as c:
        shell = c.get("/").text
        assert '<link rel="manifest" href="/static/manifest.webmanifest">' in shell
        assert '<link rel="apple-touch-icon" href="/static/apple-touch-icon.png">' in shell
        assert '<meta name="apple-mobile-web-app-capable" content="yes">' in shell
        r = c.get("/static/manifest.webmanifest")
        assert r.headers["content-type"] == "application/manifest+json"
        manifest = r.json()
        assert (manifest["start_url"], manifest["scope"], manifest["display"]) == ("/", "/",
                                                                                  "standalone")
        assert manifest["theme_color"] and manifest["background_color"]
        seen = set()
        for icon in manifest["icons"]:
            got = c.get(icon["src"])
            assert got.status_code == 200, icon
            assert got.headers["content-type"] == icon["type"]
            if icon["type"] == "image/png":
                image = Image.open(io.BytesIO(got.content))
                assert f"{image.width}x{image.height}" == icon["sizes"]
                seen.add((icon["sizes"], icon["purpose"]))
        assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= seen
        touch = Image.open(io.BytesIO(c.get("/static/apple-touch-icon.png").content))
        assert touch.size == (180, 180) and touch.mode == "RGB"  # iOS shows no transparency
        target = manifest["share_target"]
        assert (target["action"], target["method"], target["enctype"]) == (
            "/share-target", "POST", "multipart/form-data")
        assert target["params"]["files"][0]["accept"] == ["image/*", "video/*", "*/*"]


def test_the_service_worker_is_served_for_the_whole_site(server: Server) -> None:
    r = httpx.get(server.base_url + "/sw.js")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/javascript")
    assert r.headers["cache-control"] == "no-cache"
    assert r.headers["service-worker-allowed"] == "/"
    shell = json.loads(re.search(r"const SHELL = (\[.*?\])\n", r.text).group(1))  # type: ignore[union-attr]
    assert "/" in shell and any(u.endswith("/app.js") for u in shell)
    assert not [u for u in shell if USER_DATA.match(u)]
    with httpx.Client(base_url=server.base_url) as c:
        for url in shell:
            assert c.get(url).status_code == 200, url


# -- in the browser ------------------------------------------------------------------------


def test_chromium_finds_the_app_installable(
        browser: Browser, server: Server, user: User, tmp_path: Path) -> None:
    # Playwright's contexts are incognito, where Chrome installs nothing: a profile on disk.
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    context = browser.browser_type.launch_persistent_context(
        str(tmp_path / "profile"), executable_path=chromium_path(), base_url=server.base_url,
        args=[*args, "--disable-gpu"])
    try:
        r = context.request.post("/api/v1/auth/login",
                                 data={"username": user.name, "password": PASSWORD})
        assert r.ok
        page = context.new_page()
        page.goto("/")
        expect(page.locator(".files")).to_be_visible()
        controlled(page)
        cdp = context.new_cdp_session(page)
        manifest = cdp.send("Page.getAppManifest")
        assert manifest["errors"] == [], manifest["errors"]
        assert cdp.send("Page.getInstallabilityErrors")["installabilityErrors"] == []
    finally:
        context.close()


def test_offline_the_app_opens_from_its_cache_and_says_so(
        make_page: MakePage, user: User) -> None:
    page = make_page(user, phone=True, path="/files")
    expect(page.locator(".files")).to_be_visible()
    controlled(page)
    page.context.set_offline(True)
    try:
        page.reload()
        expect(page.get_by_role("heading", name="You are offline")).to_be_visible()
        page.goto("/camera")  # any app URL opens the cached shell
        expect(page.get_by_role("button", name="Try again")).to_be_visible()
    finally:
        page.context.set_offline(False)
    # back online: the app reconnects by itself (the 'online' event)
    expect(page.get_by_role("heading", name="Camera upload")).to_be_visible()


def test_the_cache_never_holds_user_data(make_page: MakePage, user: User) -> None:
    with user.api() as c:
        c.put("/files/content", params={"path": "/Pics/red.png"}, content=png((200, 0, 0)))
        c.put("/files/content", params={"path": "/Pics/notes.txt"}, content=b"secret notes")
        token = c.post("/links", json={"path": "/Pics/notes.txt"}).json()["token"]
    page = make_page(user, path="/files/Pics")
    expect(page.locator(".files")).to_be_visible()
    controlled(page)
    page.reload()  # now through the worker: the listing, the thumbnail, the session
    expect(page.get_by_text("red.png")).to_be_visible()
    loaded_image(page, "/files/thumbnail")
    with page.expect_download() as download:
        page.evaluate("""() => { const a = document.createElement('a');
            a.href = '/api/v1/files/download?path=%2FPics%2Fnotes.txt'; a.download = '';
            document.body.append(a); a.click() }""")
    assert Path(download.value.path()).read_bytes() == b"secret notes"
    page.goto(f"/s/{token}")
    page.goto("/files/Pics?preview=red.png")
    loaded_image(page, "/files/content")
    urls = cached_urls(page)
    assert any(u.endswith("/app.js") for u in urls)
    paths = [httpx.URL(u).path for u in urls]
    assert not [p for p in paths if USER_DATA.match(p)], paths


def test_a_new_release_replaces_the_old_cache(make_page: MakePage, user: User) -> None:
    page = make_page(user)
    controlled(page)
    keys = page.evaluate("caches.keys()")
    assert len(keys) == 1 and keys[0].startswith("selfdrive-shell-")
    # an old release's cache, as a worker of the last version left it
    page.evaluate("caches.open('selfdrive-shell-0000000000000000')"
                  ".then((c) => c.put('/x', new Response('old')))")
    page.evaluate("""async () => {
        const r = await navigator.serviceWorker.getRegistration()
        await r.unregister() }""")
    page.reload()
    controlled(page)
    wait_until(page, "caches.keys().then((k) => k.length === 1)")
    assert page.evaluate("caches.keys()") == keys


def test_shared_files_land_in_the_chosen_folder(make_page: MakePage, user: User) -> None:
    with user.api() as c:
        for folder in ("/Photos", "/Archive"):
            assert c.post("/files/mkdir", json={"path": folder}).status_code == 201
    page = make_page(user, phone=True, path="/share")
    expect(page.locator(".share-next")).to_have_text(INBOX)
    page.get_by_role("button", name="Change folder").click()
    page.locator(".picker-item", has_text="Photos").click()
    page.get_by_role("button", name="Choose this folder").click()
    expect(page.locator(".share-next")).to_have_text("/Photos")
    # The share sheet launches the app: a POST navigation with the cookies.
    photo = png((0, 120, 0))
    r = page.context.request.post("/share-target", headers=LAUNCH, max_redirects=0, multipart={
        "title": "", "text": "",
        "files": {"name": "IMG_2001.png", "mimeType": "image/png", "buffer": photo}})
    assert r.status == 303
    assert content(user, "/Photos/IMG_2001.png") == photo
    page.goto(r.headers["location"])
    expect(page.locator(".shared-files")).to_have_text("IMG_2001.png")
    expect(page.locator(".shared-where")).to_have_text("/Photos")
    # Move them: they go, and the next share follows them there.
    page.get_by_role("button", name="Move to another folder").click()
    page.locator(".picker-item", has_text="Archive").click()
    page.get_by_role("button", name="Move here").click()
    expect(page.locator(".shared-where")).to_have_text("/Archive")
    expect(page.locator(".share-next")).to_have_text("/Archive")
    assert names(user, "/Photos") == []
    assert content(user, "/Archive/IMG_2001.png") == photo
    # The same as a real form post from the browser (multipart, a File).
    page.evaluate("""() => {
        const form = document.createElement('form')
        form.method = 'POST'; form.action = '/share-target'; form.enctype = 'multipart/form-data'
        const input = document.createElement('input'); input.type = 'file'; input.name = 'files'
        const dt = new DataTransfer()
        dt.items.add(new File(['first'], 'a.txt')); dt.items.add(new File(['second'], 'b.txt'))
        input.files = dt.files; form.append(input); document.body.append(form); form.submit() }""")
    expect(page.locator(".shared-files li")).to_have_text(["a.txt", "b.txt"])
    assert content(user, "/Archive/b.txt") == b"second"
    assert run_axe(page) == []


@pytest.fixture
def evil_site(server: Server) -> Iterator[str]:
    with hostile_site(
        "<!doctype html><title>cats</title><form id=f method=post enctype=multipart/form-data"
        f" action='{server.base_url}/share-target'><input type=file name=files id=i></form>"
        "<script>const dt = new DataTransfer(); dt.items.add(new File(['x'], 'pwned.jpg'));"
        "document.getElementById('i').files = dt.files;"
        "document.getElementById('f').submit()</script>") as url:
        yield url


def test_another_site_cannot_share_into_my_files(
        make_page: MakePage, user: User, evil_site: str) -> None:
    page = make_page(user)
    expect(page.locator(".files")).to_be_visible()
    evil = page.context.new_page()
    with evil.expect_response(re.compile(r"/share-target$")) as answer:
        evil.goto(evil_site)
    # refused on its fetch metadata; nor did the browser send the session cookie
    assert answer.value.status == 403
    assert answer.value.request.header_value("sec-fetch-site") == "cross-site"
    assert answer.value.request.header_value("cookie") is None
    assert names(user, "/") == []


def test_the_camera_page_uploads_each_photo_once(
        make_page: MakePage, user: User, tmp_path: Path) -> None:
    shots = []
    for i, color in enumerate([(255, 0, 0), (0, 0, 255)]):
        shot = tmp_path / f"IMG_{i:04}.png"
        shot.write_bytes(png(color, 96 + i))
        shots.append(shot)
    page = make_page(user, phone=True, path="/camera")
    expect(page.get_by_role("heading", name="Camera upload")).to_be_visible()
    picker = page.locator("input[type=file][multiple]")
    assert picker.get_attribute("accept") == "image/*,video/*"
    assert page.locator("input[type=file][capture]").count() == 1
    picker.set_input_files(shots)
    expect(page.locator(".count-done")).to_have_text("2 uploaded", timeout=20000)
    expect(page.locator(".count-pending")).to_have_text("0 to go")
    assert names(user, "/Camera uploads") == ["IMG_0000.png", "IMG_0001.png"]
    assert content(user, "/Camera uploads/IMG_0001.png") == shots[1].read_bytes()
    assert run_axe(page) == []
    # Picked again, even after a reload: nothing new goes up.
    page.reload()
    picker.set_input_files(shots)
    expect(page.locator(".count-skipped")).to_have_text("2 already uploaded, skipped")
    expect(page.locator(".count-done")).to_have_text("0 uploaded")
    # A same-named photo with other bytes is a new photo: kept beside the first.
    other = tmp_path / "again" / "IMG_0000.png"
    other.parent.mkdir()
    other.write_bytes(png((0, 0, 0), 120))
    picker.set_input_files([other])
    expect(page.locator(".count-done")).to_have_text("1 uploaded", timeout=20000)
    assert names(user, "/Camera uploads") == ["IMG_0000 (1).png", "IMG_0000.png", "IMG_0001.png"]


def test_everything_but_offline_works_without_service_workers(
        browser: Browser, server: Server, user: User, tmp_path: Path) -> None:
    context = browser.new_context(base_url=server.base_url, service_workers="block")
    try:
        errors: list[str] = []
        r = context.request.post("/api/v1/auth/login",
                                 data={"username": user.name, "password": PASSWORD})
        assert r.ok
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto("/")
        expect(page.locator(".files")).to_be_visible()
        shot = tmp_path / "plain.png"
        shot.write_bytes(png((9, 9, 9)))
        page.goto("/camera")
        page.locator("input[type=file][multiple]").set_input_files([shot])
        expect(page.locator(".count-done")).to_have_text("1 uploaded", timeout=20000)
        r = context.request.post("/share-target", headers=LAUNCH, max_redirects=0, multipart={
            "files": {"name": "s.png", "mimeType": "image/png", "buffer": b"png"}})
        assert r.status == 303
        page.goto(r.headers["location"])
        expect(page.locator(".shared-files")).to_have_text("s.png")
        assert page.evaluate("navigator.serviceWorker.controller") is None
        assert page.evaluate("caches.keys()") == []
        assert errors == []
        assert content(user, f"{INBOX}/s.png") == b"png"
        assert content(user, "/Camera uploads/plain.png") == shot.read_bytes()
    finally:
        context.close()


def test_the_phone_pages_pass_axe_in_the_dark(make_page: MakePage, user: User) -> None:
    for path in ("/camera", "/share?" + "&".join(
            ["to=" + quote(INBOX), "f=a.jpg", "error=quota_exceeded"])):
        page = make_page(user, phone=True, dark=True, path=path)
        expect(page.locator("[data-loaded=true]")).to_be_visible()
        assert run_axe(page) == [], path
