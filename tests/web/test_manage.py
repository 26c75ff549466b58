"""Managing files in the browser: new folder, rename in place, move by drag
and drop and with the folder picker, delete with undo, the trash, revisions,
keyboard-only use, and a cross-site form post that changes nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import expect

from tests.conftest import Server
from tests.web.conftest import MakePage, User, hostile_site, screenshot


def put(client: httpx.Client, path: str, data: bytes = b"x") -> None:
    r = client.put("/files/content", params={"path": path}, content=data)
    assert r.status_code == 201, r.text


def names(client: httpx.Client, folder: str) -> list[str]:
    r = client.get("/files/list", params={"path": folder})
    assert r.status_code == 200, r.text
    return sorted(e["name"] for e in r.json()["entries"])


def test_new_folder_rename_in_place_and_keyboard_only(make_page: MakePage, user: User) -> None:
    with user.api() as c:
        put(c, "/draft.txt", b"d")
    page = make_page(user)
    expect(page.locator(".item")).to_have_count(1)
    page.keyboard.press("Shift+N")
    dialog = page.get_by_role("dialog", name="New folder")
    dialog.get_by_label("Folder name").fill("Projects")
    page.keyboard.press("Enter")
    expect(page.locator(".item .name")).to_have_text(["Projects", "draft.txt"])
    # keyboard only: down to the file, F2, type, Enter
    page.locator(".listing").focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("F2")
    box = page.get_by_label("New name for draft.txt")
    expect(box).to_be_focused()
    box.fill("final.txt")
    page.keyboard.press("Enter")
    expect(page.locator(".item .name")).to_have_text(["Projects", "final.txt"])
    with user.api() as c:
        assert names(c, "/") == ["Projects", "final.txt"]
        before = c.get("/files/metadata", params={"path": "/final.txt"}).json()
    # Enter opens the focused folder; Backspace goes back up
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/files/Projects$"))
    page.keyboard.press("Backspace")
    expect(page).to_have_url(re.compile(r"/files$"))
    assert before["rev"] == 1  # a rename keeps the file and its revisions


def test_drag_onto_a_folder_and_the_picker_move_and_copy(make_page: MakePage, user: User) -> None:
    with user.api() as c:
        put(c, "/a.txt", b"a")
        put(c, "/b.txt", b"b")
        c.post("/files/mkdir", json={"path": "/Archive"})
        c.post("/files/mkdir", json={"path": "/Other"})
    page = make_page(user)
    expect(page.locator(".item")).to_have_count(4)
    page.locator(".item", has_text="a.txt").drag_to(page.locator(".item", has_text="Archive"))
    expect(page.locator(".item .name")).to_have_text(["Archive", "Other", "b.txt"])
    page.get_by_role("button", name="Actions for b.txt").click()
    page.get_by_role("menuitem", name="Copy to…").click()
    picker = page.get_by_role("dialog")
    picker.get_by_role("button", name="Other").click()
    picker.get_by_role("button", name="Copy here").click()
    expect(page.get_by_text("Copied.")).to_be_visible()
    page.get_by_role("button", name="Archive", exact=True).click()
    expect(page.locator(".item .name")).to_have_text(["a.txt"])
    # drag onto a breadcrumb moves up
    page.locator(".item", has_text="a.txt").drag_to(
        page.get_by_role("navigation", name="Folder path").get_by_role("link", name="My files")
    )
    expect(page.locator(".item")).to_have_count(0)
    with user.api() as c:
        assert names(c, "/") == ["Archive", "Other", "a.txt", "b.txt"]
        assert names(c, "/Other") == ["b.txt"]


def test_delete_with_undo_then_trash_restore_and_purge(make_page: MakePage, user: User) -> None:
    with user.api() as c:
        put(c, "/keep.txt", b"k")
        put(c, "/one.txt", b"1")
        put(c, "/two.txt", b"2")
    page = make_page(user)
    expect(page.locator(".item")).to_have_count(3)
    page.locator(".item", has_text="one.txt").click(position={"x": 5, "y": 10})
    page.locator(".item", has_text="two.txt").click(
        position={"x": 5, "y": 10}, modifiers=["Control"]
    )
    expect(page.get_by_role("toolbar", name="2 selected")).to_be_visible()
    page.keyboard.press("Delete")
    expect(page.locator(".item .name")).to_have_text(["keep.txt"])
    page.get_by_role("button", name="Undo").click()
    expect(page.locator(".item .name")).to_have_text(["keep.txt", "one.txt", "two.txt"])
    # now delete for real and use the trash page
    page.get_by_role("button", name="Actions for one.txt").click()
    page.get_by_role("menuitem", name="Delete").click()
    expect(page.locator(".item")).to_have_count(2)
    page.get_by_role("link", name="Trash").click()
    expect(page.get_by_role("heading", name="Trash")).to_be_visible()
    row = page.get_by_role("row", name=re.compile("one.txt"))
    expect(row).to_be_visible()
    screenshot(page, "trash-desktop-light")
    row.get_by_role("button", name="Restore").click()
    expect(page.get_by_text("The trash is empty.")).to_be_visible()
    with user.api() as c:
        assert names(c, "/") == ["keep.txt", "one.txt", "two.txt"]
        c.post("/files/delete", json={"path": "/two.txt"})
    page.reload()
    page.get_by_role("button", name="Empty trash").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete forever").click()
    expect(page.get_by_text("The trash is empty.")).to_be_visible()
    with user.api() as c:
        assert c.get("/trash").json()["entries"] == []


def test_revisions_panel_lists_downloads_and_restores(make_page: MakePage, user: User) -> None:
    with user.api() as c:
        put(c, "/essay.txt", b"first draft")
        put(c, "/essay.txt", b"second draft")
    page = make_page(user)
    page.get_by_role("button", name="Actions for essay.txt").click()
    page.get_by_role("menuitem", name="Details and revisions").click()
    panel = page.get_by_role("dialog")
    revisions = panel.get_by_role("list", name="Revisions").get_by_role("listitem")
    expect(revisions).to_have_count(2)
    expect(revisions.first).to_contain_text("Revision 2")
    with page.expect_download() as download:
        panel.get_by_role("button", name="Download revision 1").click()
    assert download.value.path().read_bytes() == b"first draft"
    panel.get_by_role("button", name="Restore revision 1").click()
    expect(revisions).to_have_count(3)
    with user.api() as c:
        r = c.get("/files/content", params={"path": "/essay.txt"})
        assert r.content == b"first draft"
        assert c.get("/files/metadata", params={"path": "/essay.txt"}).json()["rev"] == 3


@pytest.fixture
def evil_site(server: Server) -> Iterator[str]:
    with hostile_site(
        "<!doctype html><form id=f method=post enctype=text/plain action='"
        + server.base_url
        + "/api/v1/files/mkdir'>"
        '<input name=\'{"path":"/pwned","x":"\' value=\'"}\'></form>'
        "<script>document.getElementById('f').submit()</script>") as url:
        yield url


def test_a_cross_site_form_post_changes_nothing(
    make_page: MakePage, user: User, evil_site: str
) -> None:
    page = make_page(user)
    expect(page.locator(".files")).to_be_visible()
    evil = page.context.new_page()
    with evil.expect_navigation():
        evil.goto(evil_site)
    evil.wait_for_load_state()
    with user.api() as c:
        assert "pwned" not in names(c, "/")
