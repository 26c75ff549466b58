"""The notification bell: three people in their own browser contexts. The
owner shares a folder and edits in it; the recipient's open page shows the
count go up within 2 seconds, without a reload, through the tab's one long
poll; the panel lists the share and the edits (a burst as one line with a
count), marks them read and opens the item; someone else sees nothing."""

from __future__ import annotations

import re
import secrets
import time

import httpx
from playwright.sync_api import Locator, Page, expect

from tests.conftest import Server
from tests.web.conftest import PASSWORD, MakePage, User, run_axe, screenshot

SHARED = "/Shared with me"

#: the issue's promise: the count moves within 2 s of the owner's change
LIVE_MS = 2_000


def person(server: Server, name: str, *, exact: bool = False) -> User:
    """A user whose name reads well in the panel (and in the screenshot)."""
    full = name if exact else f"{name}{secrets.token_hex(2)}"
    full, token = server.add_user(full, password=PASSWORD)
    return User(full, token, server)


def put(c: httpx.Client, path: str, data: bytes = b"x") -> None:
    r = c.put("/files/content", params={"path": path}, content=data)
    assert r.status_code == 201, r.text


def badge(page: Page) -> Locator:
    return page.locator(".bell-button .count-badge .count")


def bell(page: Page) -> Locator:
    return page.get_by_role("button", name=re.compile(r"^Notifications"))


def unread(who: User) -> int:
    with who.api() as c:
        return int(c.get("/notifications").json()["unread"])


def test_the_bell_counts_live_and_the_panel_reads_and_opens(
    make_page: MakePage, server: Server
) -> None:
    anna, ben, carl = (person(server, n, exact=True) for n in ("Anna", "Ben", "Carl"))
    with anna.api() as a:
        put(a, "/Holidays/budget.xlsx", b"0")
        put(a, "/Holidays/old.txt", b"old")
    page = make_page(ben)
    other = make_page(carl)
    expect(page.locator("[data-loaded=true]")).to_be_visible()
    expect(page.locator(".item")).to_have_count(0)
    for p in (page, other):
        expect(bell(p)).to_have_accessible_name("Notifications")
        expect(badge(p)).to_have_count(0)
    page.wait_for_timeout(300)  # the tab's long poll is waiting

    with anna.api() as a:
        r = a.post("/shares", json={"path": "/Holidays", "user": ben.name, "role": "editor"})
        assert r.status_code == 201, r.text
        expect(badge(page)).to_have_text("1", timeout=LIVE_MS)
        # the open listing follows too: the share's folder appears in the root
        expect(page.locator(".item .name")).to_have_text([SHARED[1:]])
        put(a, "/Holidays/budget.xlsx", b"1")
        expect(badge(page)).to_have_text("2", timeout=LIVE_MS)
        for i in range(2, 13):  # a burst: one notification, counted
            put(a, "/Holidays/budget.xlsx", b"%d" % i)
        assert a.post("/files/delete", json={"path": "/Holidays/old.txt"}).status_code == 200
        expect(badge(page)).to_have_text("3", timeout=LIVE_MS)
    expect(bell(page)).to_have_accessible_name(re.compile(r"^Notifications\s*3 unread$"))

    bell(page).click()
    panel = page.get_by_role("dialog", name="Notifications")
    items = panel.locator(".notif-open bdi")
    expect(items).to_have_text([
        f"{anna.name} deleted old.txt",
        f"{anna.name} edited budget.xlsx (12 times)",
        f"{anna.name} shared Holidays with you",
    ])
    assert run_axe(page) == []
    screenshot(page, "notifications")

    # One marked read: the count goes down, the line stays (read).
    panel.get_by_role("button", name=f"Mark read: {anna.name} deleted old.txt").click()
    expect(badge(page)).to_have_text("2")
    assert unread(ben) == 2
    # Opening one marks it read and shows the file in its folder.
    panel.get_by_role("button", name=re.compile("^Anna edited budget.xlsx")).click()
    expect(page).to_have_url(re.compile(r"/files/Shared%20with%20me/Holidays\?preview=budget\.xlsx$"))
    expect(page.get_by_role("dialog", name="budget.xlsx")).to_be_visible()
    expect(badge(page)).to_have_text("1")
    page.keyboard.press("Escape")
    # Mark all read.
    bell(page).click()
    panel.get_by_role("button", name="Mark all read").click()
    expect(badge(page)).to_have_count(0)
    assert unread(ben) == 0
    # The share opens the shared folder.
    panel.get_by_role("button", name=re.compile("^Anna shared Holidays")).click()
    expect(page).to_have_url(re.compile(r"/files/Shared%20with%20me/Holidays$"))
    expect(page.locator(".item .name")).to_have_text(["budget.xlsx"])

    # Carl, who was shown nothing of it, sees nothing.
    expect(badge(other)).to_have_count(0)
    bell(other).click()
    expect(other.get_by_role("dialog", name="Notifications")).to_contain_text("Nothing new")
    assert unread(carl) == 0


def test_the_bell_is_live_for_the_owner_when_a_recipient_edits(
    make_page: MakePage, server: Server
) -> None:
    anna, ben = person(server, "anna"), person(server, "ben")
    with anna.api() as a:
        put(a, "/Team/plan.txt", b"v1")
        assert a.post("/shares", json={"path": "/Team", "user": ben.name, "role": "editor"}
                      ).status_code == 201
    page = make_page(anna, path="/files/Team")
    expect(page.locator(".item .name")).to_have_text(["plan.txt"])
    page.wait_for_timeout(300)
    # Anna's own edits (another device of hers) ring her tab but tell her nothing.
    with anna.api() as a:
        put(a, "/Team/mine.txt", b"m")
    expect(page.locator(".item .name")).to_have_text(["mine.txt", "plan.txt"])
    expect(badge(page)).to_have_count(0)
    started = time.monotonic()
    with ben.api() as b:
        put(b, f"{SHARED}/Team/plan.txt", b"v2")
    expect(badge(page)).to_have_text("1", timeout=LIVE_MS)
    assert time.monotonic() - started < LIVE_MS / 1000 + 1
    bell(page).click()
    expect(page.locator(".notif-open bdi")).to_have_text([f"{ben.name} edited plan.txt"])


def test_the_bell_is_in_reach_on_a_phone(make_page: MakePage, server: Server) -> None:
    anna, ben = person(server, "anna"), person(server, "ben")
    with anna.api() as a:
        put(a, "/Photos/beach.jpg", b"j")
    page = make_page(ben, phone=True)
    expect(page.locator("[data-loaded=true]")).to_be_visible()
    page.wait_for_timeout(300)
    with anna.api() as a:
        assert a.post("/shares", json={"path": "/Photos", "user": ben.name, "role": "viewer"}
                      ).status_code == 201
    expect(badge(page)).to_have_text("1", timeout=LIVE_MS)
    button = bell(page)
    box = button.bounding_box()
    assert box is not None and box["y"] > 700 and box["height"] >= 44  # the bottom bar
    button.tap()
    panel = page.get_by_role("dialog", name="Notifications")
    expect(panel.locator(".notif-open bdi")).to_have_text([f"{anna.name} shared Photos with you"])
    inside = panel.bounding_box()
    assert inside is not None and inside["x"] >= 0 and inside["x"] + inside["width"] <= 391
    assert run_axe(page) == []
    panel.locator(".notif-open").tap()
    expect(page).to_have_url(re.compile(r"/files/Shared%20with%20me/Photos$"))
    expect(badge(page)).to_have_count(0)

