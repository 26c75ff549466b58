"""A folder's details panel: its size and what it holds at any depth (GET
/files/folder_size, asked when the panel opens), a loading and an error
state, and its activity; opened from the item menu, by keyboard too."""

from __future__ import annotations

from playwright.sync_api import Route, expect

from tests.conftest import Server
from tests.web.conftest import PASSWORD, MakePage, User, run_axe


def _put(user: User, path: str, size: int) -> None:
    with user.api() as api:
        r = api.put("/files/content", params={"path": path}, content=b"x" * size)
        assert r.status_code == 201, r.text


def test_a_folders_details_show_its_size_by_keyboard(make_page: MakePage, user: User) -> None:
    _put(user, "/Photos/a.jpg", 1200)
    _put(user, "/Photos/trip/b.jpg", 300)
    _put(user, "/Photos/old.jpg", 5000)
    with user.api() as api:
        assert api.post("/files/delete", json={"path": "/Photos/old.jpg"}).status_code == 200
    page = make_page(user, path="/files")
    page.get_by_role("button", name="Actions for Photos").press("Enter")
    expect(page.get_by_role("menuitem", name="Details and revisions")).to_have_count(0)
    page.get_by_role("menuitem", name="Details", exact=True).press("Enter")
    panel = page.get_by_role("dialog", name="Photos")
    # the trashed old.jpg is not counted
    expect(panel.locator(".folder-size")).to_have_text("1.5 KB in 2 files and 1 folder")
    expect(panel.locator(".folder-size")).to_have_attribute("aria-busy", "false")
    expect(panel.get_by_role("list", name="Activity").locator("li").first).to_contain_text(
        f"{user.name} created it")
    assert run_axe(page) == []
    page.keyboard.press("Escape")
    expect(panel).to_have_count(0)
    # a file's details are as they were
    page.goto("/files/Photos")
    page.locator(".item", has_text="a.jpg").click(button="right")
    page.get_by_role("menuitem", name="Details and revisions").click()
    expect(page.get_by_role("dialog", name="a.jpg").get_by_role(
        "list", name="Revisions").locator("li")).to_have_count(1)


def test_loading_then_error_then_retry(make_page: MakePage, user: User) -> None:
    _put(user, "/Music/song.mp3", 2_500_000)
    page = make_page(user, path="/files")
    held: list[Route] = []
    # held, then sent on to the server as it is
    page.route("**/api/v1/files/folder_size?*", lambda route: held.append(route))
    page.locator(".item", has_text="Music").click(button="right")
    page.get_by_role("menuitem", name="Details", exact=True).click()
    size = page.get_by_role("dialog", name="Music").locator(".folder-size")
    expect(size).to_have_text("Adding up…")
    expect(size).to_have_attribute("aria-busy", "true")
    assert run_axe(page) == []
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    assert len(held) == 1
    held[0].continue_()
    page.unroute("**/api/v1/files/folder_size?*")
    expect(size).to_have_text("2.5 MB in 1 file and 0 folders")
    # gone meanwhile (another device deleted it): the server's 404, and a retry
    with user.api() as api:
        assert api.post("/files/delete", json={"path": "/Music"}).status_code == 200
    page.keyboard.press("Escape")
    page.locator(".item", has_text="Music").click(button="right")
    page.get_by_role("menuitem", name="Details", exact=True).click()
    alert = size.get_by_role("alert")
    expect(alert).to_contain_text("Could not add up this folder")
    assert run_axe(page) == []
    with user.api() as api:
        assert api.post("/files/mkdir", json={"path": "/Music/new"}).status_code == 201
    size.get_by_role("button", name="Try again").click()
    expect(size).to_have_text("0 B in 0 files and 1 folder")


def test_a_viewer_sees_the_size_of_a_shared_folder(make_page: MakePage, server: Server) -> None:
    anna = User(*server.add_user(password=PASSWORD), server)
    ben = User(*server.add_user(password=PASSWORD), server)
    _put(anna, "/Team/plan.txt", 2000)
    _put(anna, "/Team/a/b/notes.txt", 48)
    with anna.api() as api:
        r = api.post("/shares", json={"path": "/Team", "user": ben.name, "role": "viewer"})
        assert r.status_code == 201, r.text
    page = make_page(ben, path="/files/Shared%20with%20me")
    page.locator(".item", has_text="Team").click(button="right")
    page.get_by_role("menuitem", name="Details", exact=True).click()
    panel = page.get_by_role("dialog", name="Team")
    expect(panel.locator(".folder-size")).to_have_text("2.0 KB in 2 files and 2 folders")
    # /Shared with me adds up every share in it; it has no activity of its own
    page.goto("/files")
    page.locator(".item", has_text="Shared with me").click(button="right")
    page.get_by_role("menuitem", name="Details", exact=True).click()
    shared = page.get_by_role("dialog", name="Shared with me")
    expect(shared.locator(".folder-size")).to_have_text("2.0 KB in 2 files and 3 folders")
    expect(shared.get_by_role("list", name="Activity")).to_have_count(0)
    expect(shared.get_by_role("alert")).to_have_count(0)
