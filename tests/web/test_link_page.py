"""The public link page (/s/<token>) in real Chromium, opened by visitors
with no account: each visitor is a fresh browser context with no cookies.

A file's preview and download (bytes checked), a folder browsed into a
subfolder and downloaded as a zip, a file drop used by a real drop and by
the file button, resumed after a reload mid-upload, that never shows what
the folder holds; a password link (wrong, then right), expired and revoked
links, a phone, and axe-core on every kind of page."""

from __future__ import annotations

import io
import json
import os
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.conftest import Server
from tests.web.conftest import User, run_axe, screenshot

LINK_PASSWORD = "open sesame 42"

#: visitor(url, phone=False): a page in a fresh browser context, no cookies
OpenPage = Callable[..., Page]


@pytest.fixture
def visitor(browser: Browser, server: Server) -> Iterator[OpenPage]:
    contexts: list[BrowserContext] = []

    def open_page(url: str, *, phone: bool = False) -> Page:
        context = browser.new_context(
            base_url=server.base_url, accept_downloads=True,
            viewport={"width": 390, "height": 844} if phone else {"width": 1280, "height": 800},
            device_scale_factor=2 if phone else 1, is_mobile=phone, has_touch=phone,
        )
        contexts.append(context)
        assert context.cookies() == []
        page = context.new_page()
        page.goto(url)
        return page

    yield open_page
    for c in contexts:
        c.close()


def _png(width: int = 64, height: int = 40) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (30, 120, 200)).save(out, "PNG")
    return out.getvalue()


def _put(user: User, path: str, data: bytes) -> None:
    with user.api() as c:
        r = c.put("/files/content", params={"path": path}, content=data)
        assert r.status_code == 201, r.text


def _link(user: User, path: str, **options: object) -> dict[str, object]:
    with user.api() as c:
        r = c.post("/links", json={"path": path, **options})
        assert r.status_code == 201, r.text
        return dict(r.json())


def _names(user: User, path: str) -> list[str]:
    with user.api() as c:
        r = c.get("/files/list", params={"path": path})
        assert r.status_code == 200, r.text
        return sorted(e["name"] for e in r.json()["entries"])


def _content(user: User, path: str) -> bytes:
    with user.api() as c:
        r = c.get("/files/content", params={"path": path})
        assert r.status_code == 200, r.text
        return r.content


def _no_serious_axe(page: Page) -> None:
    violations = run_axe(page)
    assert violations == [], json.dumps(violations, indent=1)[:3000]


# -- a file --------------------------------------------------------------------------------------


def test_a_file_link_shows_a_preview_and_downloads(visitor: OpenPage, user: User) -> None:
    png = _png()
    _put(user, "/Holidays/beach.png", png)
    _put(user, "/Holidays/notes.txt", b"Sun, sea & <b>sand</b>\n")
    link = _link(user, "/Holidays/beach.png")
    page: Page = visitor(str(link["url"]))
    expect(page.get_by_role("heading", name="beach.png")).to_be_visible()
    image = page.locator(".preview img")
    expect(image).to_be_visible()
    page.wait_for_function("() => document.querySelector('.preview img').naturalWidth === 64")
    assert page.evaluate("() => document.referrer") == ""
    answer = page.request.get(str(link["url"]))
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert "unsafe" not in answer.headers["content-security-policy"]
    with page.expect_download() as caught:
        page.get_by_role("link", name="Download", exact=True).click()
    download = caught.value
    assert download.suggested_filename == "beach.png"
    assert Path(download.path()).read_bytes() == png
    _no_serious_axe(page)

    text = visitor(str(_link(user, "/Holidays/notes.txt")["url"]))
    expect(text.locator(".preview pre")).to_have_text("Sun, sea & <b>sand</b>\n")
    assert text.locator(".preview b").count() == 0  # markup stays text
    with user.api() as c:
        mine = {x["id"]: x for x in c.get("/links").json()["links"]}
    assert mine[link["id"]]["downloads"] == 1  # the preview was not a download


# -- a folder --------------------------------------------------------------------------------------


def test_a_folder_link_is_browsed_and_zipped(visitor: OpenPage, user: User) -> None:
    _put(user, "/Private/secret.txt", b"not shared")
    _put(user, "/Private/Trip/plan.txt", b"day 1: the sea")
    _put(user, "/Private/Trip/Photos/sea.png", _png(20, 20))
    _put(user, "/Private/Trip/Photos/menu.txt", b"fish")
    link = _link(user, "/Private/Trip")
    page: Page = visitor(str(link["url"]))
    expect(page.get_by_role("heading", name="Trip")).to_be_visible()
    listing = page.locator(".listing .row .name")
    expect(listing).to_have_text(["Photos", "plan.txt"])
    _no_serious_axe(page)

    page.get_by_role("link", name="Photos").click()
    expect(page.get_by_role("heading", name="Photos")).to_be_visible()
    expect(listing).to_have_text(["menu.txt", "sea.png"])
    crumbs = page.locator(".crumbs li")
    expect(crumbs).to_have_text(["Trip", "Photos"])  # nothing above the linked folder
    assert "Private" not in page.content()
    with page.expect_download() as caught:
        page.get_by_role("link", name="Download menu.txt").click()
    assert Path(caught.value.path()).read_bytes() == b"fish"
    # open a file: its preview, still inside the link
    page.get_by_role("link", name="sea.png", exact=True).click()
    page.wait_for_function("() => document.querySelector('.preview img')?.naturalWidth === 20")
    expect(crumbs).to_have_text(["Trip", "Photos", "sea.png"])
    page.get_by_role("link", name="Trip", exact=True).click()
    expect(listing).to_have_text(["Photos", "plan.txt"])

    with page.expect_download() as caught:
        page.get_by_role("link", name="Download all (.zip)").click()
    assert caught.value.suggested_filename == "Trip.zip"
    with zipfile.ZipFile(caught.value.path()) as z:
        assert sorted(z.namelist()) == ["Photos/", "Photos/menu.txt", "Photos/sea.png",
                                        "plan.txt"]
        assert z.read("plan.txt") == b"day 1: the sea"

    # A hand-made URL above the folder gets a plain page, not the file.
    above: Page = visitor(f"{link['url']}?path=/../secret.txt")
    expect(above.get_by_role("heading")).to_have_text("Something went wrong")
    assert "not shared" not in above.content()


# -- a file drop -------------------------------------------------------------------------------


def _sent(page: Page, count: int) -> None:
    expect(page.locator(".queue .state")).to_have_text(["Sent"] * count, timeout=60_000)


def test_a_file_drop_takes_files_and_shows_nothing(
    visitor: OpenPage, user: User, tmp_path: Path,
) -> None:
    _put(user, "/Inbox/tax-return-2024.pdf", b"alice's own")
    _put(user, "/Inbox/old-letters/letter.txt", b"private")
    link = _link(user, "/Inbox", allow_upload=True)
    page: Page = visitor(str(link["url"]))
    said: list[str] = []
    page.on("response", lambda r: said.append(
        str(r.headers) + (r.text() if r.request.resource_type in ("xhr", "fetch") else "")))
    expect(page.get_by_text("Drag and drop files here")).to_be_visible()
    _no_serious_axe(page)

    # A real drop: Chromium's own drag and drop of a file from the disk.
    dropped = tmp_path / "tax-return-2024.pdf"
    dropped.write_bytes(b"%PDF from a visitor")
    cdp = page.context.new_cdp_session(page)
    box = page.locator("#zone").bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    data = {"items": [], "files": [str(dropped)], "dragOperationsMask": 1}
    for kind in ("dragEnter", "dragOver", "drop"):
        cdp.send("Input.dispatchDragEvent", {"type": kind, "x": x, "y": y, "data": data})
    _sent(page, 1)
    # The file button.
    chosen = tmp_path / "photo.jpg"
    chosen.write_bytes(b"\xff\xd8 a photo")
    page.locator("#files").set_input_files([str(chosen)])
    _sent(page, 2)

    assert _names(user, "/Inbox") == ["old-letters", "photo.jpg", "tax-return-2024 (2).pdf",
                                      "tax-return-2024.pdf"]
    assert _content(user, "/Inbox/tax-return-2024.pdf") == b"alice's own"  # never replaced
    assert _content(user, "/Inbox/tax-return-2024 (2).pdf") == b"%PDF from a visitor"
    # Nothing of what the folder holds reached the page, in any answer.
    everything = page.content() + "".join(said)
    for secret in ("letter.txt", "old-letters", "(2)", "alice's own"):
        assert secret not in everything, secret
    assert page.get_by_role("link").count() == 0  # no listing, no download


def test_a_file_drop_resumes_after_a_reload(
    visitor: OpenPage, user: User, tmp_path: Path,
) -> None:
    _mkdir(user, "/Drop box")
    link = _link(user, "/Drop box", allow_upload=True)
    big = tmp_path / "video.mov"
    big.write_bytes(os.urandom(6 * 1024 * 1024))
    page: Page = visitor(str(link["url"]))
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1,
        "uploadThroughput": 512 * 1024})
    page.locator("#files").set_input_files(str(big))
    page.wait_for_function(
        "() => { const p = document.querySelector('.queue progress'); return p && p.value >= 10 }",
        timeout=30_000)
    page.reload()  # mid-upload: the request is cut
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
    offsets: list[int] = []
    page.on("request", lambda r: offsets.append(int(r.headers["upload-offset"]))
            if r.method == "PATCH" and "upload-offset" in r.headers else None)
    page.locator("#files").set_input_files(str(big))
    _sent(page, 1)
    assert offsets and offsets[0] > 0, offsets  # resumed, not started again
    assert _names(user, "/Drop box") == ["video.mov"]
    assert _content(user, "/Drop box/video.mov") == big.read_bytes()


def _mkdir(user: User, path: str) -> None:
    with user.api() as c:
        assert c.post("/files/mkdir", json={"path": path}).status_code == 201


# -- passwords, dead links, a phone --------------------------------------------------------------


def test_a_password_link_asks_first(visitor: OpenPage, user: User) -> None:
    _put(user, "/Secret plans.txt", b"the plan")
    link = _link(user, "/Secret plans.txt", password=LINK_PASSWORD)
    page: Page = visitor(str(link["url"]))
    expect(page.get_by_role("heading")).to_have_text("This link is protected")
    assert "Secret plans" not in page.content()
    _no_serious_axe(page)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Open").click()
    expect(page.get_by_role("alert")).to_have_text("wrong password for this link")
    assert "Secret plans" not in page.content()
    page.get_by_label("Password").fill(LINK_PASSWORD)
    page.get_by_role("button", name="Open").click()
    expect(page.get_by_role("heading", name="Secret plans.txt")).to_be_visible()
    expect(page.locator(".preview pre")).to_have_text("the plan")
    cookie = next(c for c in page.context.cookies() if c["name"] == "sd_link")
    assert cookie["httpOnly"] and cookie["path"] == f"/s/{link['token']}"


def test_expired_and_revoked_links_say_so(visitor: OpenPage, user: User) -> None:
    _put(user, "/gone.txt", b"gone")
    expired = _link(user, "/gone.txt", expires_at=int(time.time() * 1000) + 1000)
    revoked = _link(user, "/gone.txt")
    with user.api() as c:
        assert c.delete(f"/links/{revoked['id']}").status_code == 204
    time.sleep(1.2)
    page: Page = visitor(str(expired["url"]))
    expect(page.get_by_role("heading")).to_have_text("Link no longer available")
    expect(page.get_by_text("this link has expired")).to_be_visible()
    page = visitor(str(revoked["url"]))
    expect(page.get_by_role("heading")).to_have_text("Link not found")
    expect(page.get_by_text("was revoked")).to_be_visible()
    assert "gone.txt" not in page.content()


def test_a_link_page_on_a_phone(visitor: OpenPage, user: User) -> None:
    _put(user, "/Family/Summer 2025/IMG_0001.png", _png(300, 200))
    _put(user, "/Family/Summer 2025/IMG_0002.png", _png(300, 200))
    _put(user, "/Family/Summer 2025/A very long name for the video of the day at the beach.mp4",
         b"v" * 3000)
    _put(user, "/Family/Summer 2025/Recipes/soup.txt", b"soup")
    link = _link(user, "/Family/Summer 2025")
    page: Page = visitor(str(link["url"]), phone=True)
    expect(page.locator(".listing .row")).to_have_count(4)
    # fits the phone's width: nothing to scroll sideways
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    button = page.get_by_role("link", name="Download all (.zip)")
    box = button.bounding_box()
    assert box is not None and box["height"] >= 44 and box["width"] > 300
    screenshot(page, "link-phone")
    page.get_by_role("link", name="IMG_0001.png", exact=True).tap()
    page.wait_for_function("() => document.querySelector('.preview img')?.naturalWidth === 300")
    width = page.evaluate("() => document.querySelector('.preview img').clientWidth")
    assert width <= 390
    _no_serious_axe(page)
