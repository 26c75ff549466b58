"""The share dialog in the browser, with three users in separate browser
contexts: the owner shares a folder as viewer (suggestions as they type),
the recipient finds it under Shared with me marked with the owner's name,
can open and download but is offered no write (and the API refuses each),
then as editor can upload, rename and delete; removed, the folder is gone;
a third user sees nothing throughout."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import FilePayload, Page, expect

from tests.conftest import Server
from tests.web.conftest import PASSWORD, MakePage, User, run_axe, screenshot

SHARED = "/Shared with me"
SHARED_URL = "/files/Shared%20with%20me"


def put(c: httpx.Client, path: str, data: bytes) -> None:
    r = c.put("/files/content", params={"path": path}, content=data)
    assert r.status_code == 201, r.text


def names(c: httpx.Client, folder: str) -> list[str]:
    r = c.get("/files/list", params={"path": folder})
    assert r.status_code == 200, r.text
    return sorted(e["name"] for e in r.json()["entries"])


def open_share(page: Page, name: str) -> None:
    page.get_by_role("button", name=f"Actions for {name}", exact=True).click()
    page.get_by_role("menuitem", name="Share…").click()
    expect(page.get_by_role("dialog", name=re.compile(f"Share {re.escape(name)}"))).to_be_visible()


WRITE_ACTIONS = ("Rename", "Move to…", "Delete")


def test_share_as_viewer_then_editor_then_remove(make_page: MakePage, user: User,
                                                 server: Server) -> None:
    friend = User(*server.add_user("fr" + user.name, password=PASSWORD), server=server)
    stranger = User(*server.add_user("st" + user.name, password=PASSWORD), server=server)
    with user.api() as c:
        assert c.post("/files/mkdir", json={"path": "/Holidays"}).status_code == 201
        put(c, "/Holidays/plan.txt", b"beach first")
        put(c, "/notes.txt", b"mine")

    owner = make_page(user)
    expect(owner.locator(".item")).to_have_count(2)
    expect(owner.locator(".item", has_text="Holidays").locator(".share-mark")).to_have_count(0)
    open_share(owner, "Holidays")
    dialog = owner.get_by_role("dialog")
    expect(dialog.get_by_test_id("access-summary")).to_have_text("Yours · not shared with anyone")
    # suggestions as one types: the first letters of the friend's name
    box = dialog.get_by_role("combobox", name="Username to share with")
    box.press_sequentially(friend.name[:4], delay=30)
    option = dialog.get_by_role("option", name=friend.name)
    expect(option).to_be_visible()
    mine = dialog.get_by_role("option", name=user.name, exact=True)
    expect(mine).to_have_count(0)  # never oneself
    box.press("ArrowDown")
    expect(box).to_have_attribute("aria-activedescendant", re.compile("share-suggestion-"))
    option.click()
    expect(box).to_have_value(friend.name)
    dialog.get_by_role("button", name="Share", exact=True).click()
    row = dialog.locator(f'.person[data-user="{friend.name}"]')
    expect(row).to_be_visible()
    expect(row.get_by_role("combobox", name=f"Role of {friend.name}")).to_have_value("viewer")
    expect(dialog.get_by_test_id("access-summary")).to_have_text("Yours · shared with 1 person")
    assert run_axe(owner) == []
    screenshot(owner, "share-dialog")
    dialog.get_by_role("button", name="Done").click()
    # my listing marks the shared folder
    mark = owner.locator(".item", has_text="Holidays").locator(".share-mark")
    expect(mark).to_be_visible()
    expect(mark.get_by_role("img", name="Shared")).to_be_visible()
    expect(owner.locator(".item", has_text="notes.txt").locator(".share-mark")).to_have_count(0)

    # the recipient: under Shared with me, with the owner's name
    them = make_page(friend, path=SHARED_URL)
    item = them.locator(".item", has_text="Holidays")
    expect(item).to_be_visible()
    expect(item.locator(".owner-mark")).to_have_text(f"Shared by {user.name}")
    expect(them.get_by_role("button", name="Upload files")).to_have_count(0)
    expect(them.get_by_role("button", name="New folder")).to_have_count(0)
    them.get_by_role("button", name="Actions for Holidays", exact=True).click()
    menu = them.get_by_role("menu")
    for label in WRITE_ACTIONS:
        expect(menu.get_by_role("menuitem", name=label, exact=True)).to_have_count(0)
    them.keyboard.press("Escape")
    item.locator(".name-button").click()
    expect(them).to_have_url(re.compile(r"/files/Shared%20with%20me/Holidays$"))
    expect(them.locator(".item .name")).to_have_text(["plan.txt"])
    expect(them.get_by_role("button", name="Upload files")).to_have_count(0)
    expect(them.get_by_role("button", name="Upload folder")).to_have_count(0)
    expect(them.get_by_role("button", name="New folder")).to_have_count(0)
    them.get_by_role("button", name="Actions for plan.txt").click()
    menu = them.get_by_role("menu")
    expect(menu.get_by_role("menuitem", name="Download")).to_be_visible()
    for label in WRITE_ACTIONS:
        expect(menu.get_by_role("menuitem", name=label, exact=True)).to_have_count(0)
    with them.expect_download() as got:
        menu.get_by_role("menuitem", name="Download").click()
    assert got.value.path().read_bytes() == b"beach first"
    # the selection bar has no move or delete; the keys do nothing
    them.locator(".item", has_text="plan.txt").locator(".pick").check()
    bar = them.get_by_role("toolbar", name="1 selected")
    expect(bar.get_by_role("button", name="Download")).to_be_visible()
    expect(bar.get_by_role("button", name="Move")).to_have_count(0)
    expect(bar.get_by_role("button", name="Delete")).to_have_count(0)
    them.keyboard.press("Delete")
    them.keyboard.press("F2")
    them.keyboard.press("Shift+N")
    expect(them.get_by_role("dialog")).to_have_count(0)
    expect(them.get_by_label("New name for plan.txt")).to_have_count(0)
    # details: revisions can be downloaded, not restored
    with user.api() as c:
        put(c, "/Holidays/plan.txt", b"beach second")
    them.reload()
    them.get_by_role("button", name="Actions for plan.txt").click()
    them.get_by_role("menuitem", name="Details and revisions").click()
    details = them.get_by_role("dialog")
    expect(details.get_by_role("button", name="Download revision 1")).to_be_visible()
    expect(details.get_by_role("button", name="Restore revision 1")).to_have_count(0)
    details.get_by_role("button", name="Close").click()
    # and the API refuses every write
    inside = f"{SHARED}/Holidays"
    with friend.api() as c:
        writes = [
            c.put("/files/content", params={"path": f"{inside}/new.txt"}, content=b"n"),
            c.post("/files/upload", params={"uploadType": "resumable"},
                   json={"path": f"{inside}/big.bin", "size": 10}),
            c.post("/files/mkdir", json={"path": f"{inside}/Sub"}),
            c.post("/files/move", json={"from_path": f"{inside}/plan.txt",
                                        "to_path": f"{inside}/renamed.txt"}),
            c.post("/files/delete", json={"path": f"{inside}/plan.txt"}),
            c.post("/files/restore", json={"path": f"{inside}/plan.txt", "rev": 1}),
            c.post("/links", json={"path": f"{inside}/plan.txt"}),
        ]
        for r in writes:
            assert r.status_code == 403, (r.request.url, r.text)
            assert r.json()["error"]["code"] == "forbidden"
    with user.api() as c:
        assert names(c, "/Holidays") == ["plan.txt"]

    # the owner makes them an editor
    owner.reload()
    open_share(owner, "Holidays")
    dialog = owner.get_by_role("dialog")
    dialog.get_by_role("combobox", name=f"Role of {friend.name}").select_option("editor")
    expect(owner.get_by_text(f"{friend.name} is now editor.")).to_be_visible()
    dialog.get_by_role("button", name="Done").click()
    them.reload()
    expect(them.locator(".item .name")).to_have_text(["plan.txt"])
    expect(them.get_by_role("button", name="Upload files")).to_be_visible()
    them.locator('input[type=file]:not([webkitdirectory])').set_input_files(
        files=[FilePayload(name="from-friend.txt", mimeType="text/plain", buffer=b"hello")])
    expect(them.locator(".item .name")).to_have_text(["from-friend.txt", "plan.txt"])
    them.get_by_role("button", name="Actions for plan.txt").click()
    them.get_by_role("menuitem", name="Rename", exact=True).click()
    them.get_by_label("New name for plan.txt").fill("itinerary.txt")
    them.keyboard.press("Enter")
    expect(them.locator(".item .name")).to_have_text(["from-friend.txt", "itinerary.txt"])
    them.get_by_role("button", name="Actions for from-friend.txt").click()
    them.get_by_role("menuitem", name="Delete", exact=True).click()
    expect(them.locator(".item .name")).to_have_text(["itinerary.txt"])
    with user.api() as c:
        assert names(c, "/Holidays") == ["itinerary.txt"]
        trash = c.get("/trash").json()["entries"]
        assert [e["name"] for e in trash] == ["from-friend.txt"]

    # a third user sees nothing of it
    third = make_page(stranger)
    expect(third.locator(".item")).to_have_count(0)
    with stranger.api() as c:
        assert names(c, "/") == []
        assert c.get("/files/list", params={"path": f"{SHARED}/Holidays"}).status_code == 404
        assert c.get("/shares").json() == {"shared_by_me": [], "shared_with_me": []}

    # removed, it disappears
    owner.reload()
    open_share(owner, "Holidays")
    dialog = owner.get_by_role("dialog")
    dialog.get_by_role("button", name=f"Remove {friend.name}").click()
    expect(dialog.locator(".person[data-user]")).to_have_count(0)
    expect(dialog.get_by_test_id("access-summary")).to_have_text("Yours · not shared with anyone")
    dialog.get_by_role("button", name="Done").click()
    expect(owner.locator(".item", has_text="Holidays").locator(".share-mark")).to_have_count(0)
    them.goto(SHARED_URL)
    expect(them.locator(".item")).to_have_count(0)
    them.goto("/")
    expect(them.locator(".item", has_text="Shared with me")).to_have_count(0)
    with friend.api() as c:
        assert c.get("/files/list", params={"path": f"{SHARED}/Holidays"}).status_code == 404


def test_shortcut_selection_bar_details_and_leaving(make_page: MakePage, user: User,
                                                   server: Server) -> None:
    friend = User(*server.add_user("lv" + user.name, password=PASSWORD), server=server)
    with user.api() as c:
        put(c, "/report.pdf", b"%PDF-1.4 not really")
    page = make_page(user)
    expect(page.locator(".item")).to_have_count(1)
    # the keyboard: S shares the focused item
    page.locator(".listing").focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("s")
    dialog = page.get_by_role("dialog", name="Share report.pdf")
    expect(dialog).to_be_visible()
    dialog.get_by_role("combobox", name="Role for the new person").select_option("editor")
    box = dialog.get_by_role("combobox", name="Username to share with")
    box.fill("nobody-" + user.name)
    box.press("Enter")
    expect(dialog.locator("#share-user-error")).to_have_text(
        f"There is no user named nobody-{user.name}.")
    box.fill(friend.name)
    box.press("Enter")
    row = dialog.locator(f'.person[data-user="{friend.name}"]')
    expect(row.get_by_role("combobox")).to_have_value("editor")
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    # the selection bar and the details panel open the same dialog
    page.locator(".item", has_text="report.pdf").locator(".pick").check()
    page.get_by_role("toolbar", name="1 selected").get_by_role("button", name="Share").click()
    expect(page.get_by_role("dialog", name="Share report.pdf")).to_be_visible()
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Actions for report.pdf").click()
    page.get_by_role("menuitem", name="Details and revisions").click()
    page.get_by_role("dialog").get_by_role("button", name="Share").click()
    dialog = page.get_by_role("dialog", name="Share report.pdf")
    expect(dialog.locator(f'.person[data-user="{friend.name}"]')).to_be_visible()
    page.keyboard.press("Escape")

    # the recipient sees the owner and their role, and may leave
    them = make_page(friend, path=SHARED_URL)
    expect(them.locator(".item .owner-mark")).to_have_text(f"Shared by {user.name}")
    them.get_by_role("button", name="Actions for report.pdf").click()
    them.get_by_role("menuitem", name="Share…").click()
    dialog = them.get_by_role("dialog", name="Share report.pdf")
    expect(dialog.get_by_test_id("access-summary")).to_contain_text(f"Owned by {user.name}")
    expect(dialog.locator(".person").nth(1)).to_contain_text("Editor")
    expect(dialog.get_by_role("combobox", name="Username to share with")).to_have_count(0)
    assert run_axe(them) == []
    dialog.get_by_role("button", name="Leave this share").click()
    them.get_by_role("dialog", name="Leave this share").get_by_role(
        "button", name="Leave this share").click()
    expect(them.locator(".item")).to_have_count(0)
    with user.api() as c:
        assert c.get("/shares").json()["shared_by_me"] == []
