"""Signing in and browsing: breadcrumbs, sorting, views, a 10,000-entry
folder with few DOM rows, the URL keeping the place, search as you type."""

from __future__ import annotations

import concurrent.futures
import re
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import Server
from tests.web.conftest import DIALOGS, PASSWORD, MakePage, User, run_axe, screenshot


def put(client: httpx.Client, path: str, data: bytes = b"x") -> None:
    r = client.put("/files/content", params={"path": path}, content=data)
    assert r.status_code == 201, r.text


def test_sign_in_asks_again_after_a_wrong_password_and_returns_to_the_page(
    browser: object, server: Server, user: User
) -> None:
    context = browser.new_context(base_url=server.base_url)  # type: ignore[attr-defined]
    page = context.new_page()
    with user.api() as c:
        put(c, "/Docs/plan.txt", b"plan")
    page.goto("/files/Docs")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Ffiles%2FDocs$"))
    page.get_by_label("Username").fill(user.name)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{server.base_url}/files/Docs")
    expect(page.get_by_role("button", name="plan.txt", exact=True)).to_be_visible()
    cookie = next(c for c in context.cookies() if c["name"] == "sd_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    context.close()


def test_next_after_sign_in_never_leaves_the_site(
    browser: object, server: Server, user: User
) -> None:
    for hostile in (
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
    ):
        context = browser.new_context(base_url=server.base_url)  # type: ignore[attr-defined]
        page = context.new_page()
        page.goto("/login?next=" + quote(hostile, safe=""))
        page.get_by_label("Username").fill(user.name)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator(".files")).to_be_visible()
        assert page.url in (server.base_url + "/", server.base_url + "/files"), (hostile, page.url)
        context.close()


def test_breadcrumbs_sorting_views_and_the_url_keep_the_place(
    make_page: MakePage, user: User
) -> None:
    with user.api() as c:
        put(c, "/Photos/2024/beach.txt", b"a" * 3000)
        put(c, "/Photos/2024/alps.txt", b"b" * 10)
        put(c, "/Photos/2024/city.txt", b"c" * 500)
    page = make_page(user)
    page.get_by_role("button", name="Photos", exact=True).click()
    page.get_by_role("button", name="2024", exact=True).click()
    expect(page).to_have_url(re.compile(r"/files/Photos/2024$"))
    crumbs = page.get_by_role("navigation", name="Folder path")
    expect(crumbs.get_by_role("link")).to_have_text(["My files", "Photos"])
    names = page.locator(".item .name")
    expect(names).to_have_text(["alps.txt", "beach.txt", "city.txt"])
    page.get_by_label("Sort by", exact=True).select_option("size")
    expect(names).to_have_text(["alps.txt", "city.txt", "beach.txt"])
    page.get_by_role("button", name=re.compile("Sort by: ascending")).click()
    expect(names).to_have_text(["beach.txt", "city.txt", "alps.txt"])
    page.get_by_role("button", name="Grid view").click()
    expect(page.locator(".listing.grid")).to_be_visible()
    page.reload()  # the place, the sort and the view survive a reload
    expect(page.locator(".listing.grid")).to_be_visible()
    expect(names).to_have_text(["beach.txt", "city.txt", "alps.txt"])
    crumbs.get_by_role("link", name="Photos").click()
    expect(page).to_have_url(re.compile(r"/files/Photos$"))
    page.go_back()
    expect(page).to_have_url(re.compile(r"/files/Photos/2024$"))
    expect(names).to_have_count(3)


#: entries in the big-folder test (benchmarks/web.py times 10,000; making
#: them costs a commit each, so the test stays smaller)
BIG = 2_000


def test_a_big_folder_pages_in_and_keeps_few_dom_rows(make_page: MakePage, user: User) -> None:
    with user.api() as c, concurrent.futures.ThreadPoolExecutor(4) as pool:

        def make(i: int) -> None:
            body = {"path": f"/Big/file-{i:05d}.txt", "blocks": [], "size": 0}
            r = c.post("/files/commit", json=body)
            assert r.status_code == 201, r.text

        list(pool.map(make, range(BIG)))
    page = make_page(user, path="/files/Big")
    expect(page.locator(".item").first).to_be_visible()
    status = page.get_by_role("status").filter(has_text=f"{BIG} items")
    expect(status).to_be_visible(timeout=20_000)
    rows = page.locator(".item").count()
    assert 10 < rows < 100, rows
    page.locator(".listing").evaluate("el => el.scrollTop = el.scrollHeight")
    expect(page.locator(".item .name").last).to_have_text(f"file-{BIG - 1:05d}.txt")
    assert page.locator(".item").count() < 100


def test_search_as_you_type_finds_names_below_the_folder(make_page: MakePage, user: User) -> None:
    with user.api() as c:
        put(c, "/Work/Reports/Q1 Budget.xlsx")
        put(c, "/Work/budget-notes.txt")
        put(c, "/Home/recipes.txt")
    page = make_page(user, path="/files/Work")
    page.get_by_role("searchbox").fill("budg")
    expect(page.locator(".item .name")).to_have_text(
        ["budget-notes.txt", "Q1 Budget.xlsx"], timeout=10_000
    )
    expect(page).to_have_url(re.compile(r"\?q=budg$"))
    page.locator(".item .name", has_text="Q1 Budget.xlsx").click()
    expect(page).to_have_url(re.compile(r"/files/Work/Reports\?preview=Q1(%20|\+)Budget\.xlsx$"))


def test_hostile_names_show_as_text_and_run_nothing(make_page: MakePage, user: User) -> None:
    hostile = "<img src=x onerror=alert(1)>.txt"
    long_mixed = "Ωmega-данные-資料-بيانات-" * 12
    long_mixed = long_mixed.encode()[:251].decode(errors="ignore") + ".txt"
    rtl = "invoice\u202egnp.exe"
    with user.api() as c:
        for name in (hostile, long_mixed, rtl):
            put(c, "/" + name, b"hi")
    page = make_page(user)
    for name in (hostile, long_mixed, rtl):
        expect(page.locator(".item .name", has_text=name[:20])).to_have_text(name)
    assert page.locator("img[src=x]").count() == 0
    page.get_by_role("button", name=hostile, exact=True).click()
    expect(page.get_by_role("dialog")).to_be_visible()
    page.wait_for_timeout(300)
    assert DIALOGS[page] == []


@pytest.mark.parametrize("dark", [False, True])
def test_pages_pass_axe_and_send_a_strict_csp(make_page: MakePage, user: User, dark: bool) -> None:
    with user.api() as c:
        put(c, "/Documents/notes.txt", b"notes")
        put(c, "/Documents/report.pdf", b"%PDF-1.4")
        put(c, "/photo.txt", b"x")
    page = make_page(user, dark=dark)
    response = page.goto("/")
    assert response is not None
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp.split("style-src")[0]
    assert response.headers["referrer-policy"] == "no-referrer"
    expect(page.locator(".item").first).to_be_visible()
    screenshot(page, f"files-desktop-{'dark' if dark else 'light'}")
    for path in ("/", "/trash", "/account"):
        page.goto(path)
        expect(page.locator("[data-loaded=true]")).to_be_visible()
        assert run_axe(page) == [], path
    page.context.clear_cookies()
    page.goto("/login")
    expect(page.get_by_label("Username")).to_be_visible()
    assert run_axe(page) == []


def test_phone_layout_opens_with_a_tap_and_selects_with_a_long_press(
    make_page: MakePage, user: User
) -> None:
    with user.api() as c:
        put(c, "/a.txt", b"a")
        put(c, "/b.txt", b"b")
        put(c, "/Folder/c.txt", b"c")
    page: Page = make_page(user, phone=True)
    expect(page.locator(".item")).to_have_count(3)
    screenshot(page, "files-phone-light")
    page.locator(".item", has_text="Folder").tap()
    expect(page).to_have_url(re.compile(r"/files/Folder$"))
    page.go_back()
    item = page.locator(".item", has_text="a.txt")
    box = item.bounding_box()
    assert box is not None
    # a long press: touch down, hold, lift (CDP touch events, as a finger does)
    cdp = page.context.new_cdp_session(page)
    point = [{"x": box["x"] + box["width"] / 2, "y": box["y"] + box["height"] / 2}]
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": point})
    page.wait_for_timeout(700)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    expect(page.get_by_role("toolbar", name="1 selected")).to_be_visible()
    bar = page.locator(".selection-bar").bounding_box()
    assert bar is not None and bar["y"] > 700  # at the bottom, under the thumb
    page.locator(".item", has_text="b.txt").tap()
    expect(page.get_by_role("toolbar", name="2 selected")).to_be_visible()
    screenshot(page, "selection-phone-light")
    dark = make_page(user, phone=True, dark=True)
    expect(dark.locator(".item")).to_have_count(3)
    screenshot(dark, "files-phone-dark")


def test_grid_view_shows_server_thumbnails_and_dark_mode_follows_the_system(
    make_page: MakePage, user: User
) -> None:
    import io

    import pillow_heif
    from PIL import Image

    png, heic = io.BytesIO(), io.BytesIO()
    Image.new("RGB", (800, 600), "orange").save(png, "PNG")
    pillow_heif.from_pillow(Image.new("RGB", (640, 480), "purple")).save(heic, quality=60)
    with user.api() as c:
        put(c, "/Camera/sunset.png", png.getvalue())
        put(c, "/Camera/IMG_0001.HEIC", heic.getvalue())
    page = make_page(user, dark=True, path="/files/Camera")
    page.get_by_role("button", name="Grid view").click()
    thumbs = page.locator(".listing.grid img.thumb")
    expect(thumbs).to_have_count(2)
    for i in range(2):
        thumbs.nth(i).scroll_into_view_if_needed()
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=thumbs.nth(i).element_handle()
        )
        assert thumbs.nth(i).evaluate("img => img.naturalWidth") <= 256
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(21, 24, 28)", background
    screenshot(page, "grid-desktop-dark")


def test_the_open_folder_updates_live_when_another_device_changes_it(
    make_page: MakePage, user: User
) -> None:
    with user.api() as c:
        put(c, "/Shared/old.txt", b"o")
    page = make_page(user, path="/files/Shared")
    expect(page.locator(".item .name")).to_have_text(["old.txt"])
    with user.api() as c:  # another device: no reload, no click
        put(c, "/Shared/new.txt", b"n")
        c.post(
            "/files/move", json={"from_path": "/Shared/old.txt", "to_path": "/Shared/renamed.txt"}
        )
    expect(page.locator(".item .name")).to_have_text(["new.txt", "renamed.txt"], timeout=10_000)


def test_every_place_fits_the_phone_bar_of_an_admin(make_page: MakePage, server: Server) -> None:
    """An admin's phone bar holds the most places (files, links, trash,
    camera, account, admin, the bell): each is on the screen, side by side,
    and big enough for a thumb; none pushes the page sideways."""
    name = "boss-" + server.add_user()[0]
    with server.client(server.token()) as admin:
        r = admin.post("/admin/users", json={"username": name, "password": PASSWORD,
                                             "is_admin": True})
        assert r.status_code == 201, r.text
    page = make_page(User(name, "", server), phone=True)
    expect(page.locator("[data-loaded=true]")).to_be_visible()
    places = page.locator(".sidebar li")
    expect(places).to_have_count(7)
    boxes = [places.nth(i).bounding_box() for i in range(7)]
    assert all(b is not None for b in boxes)
    for b in boxes:
        assert b is not None and b["x"] >= 0 and b["x"] + b["width"] <= 390, boxes
        assert b["y"] > 700 and b["height"] >= 44 and b["width"] >= 44, boxes
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
