"""A file's details panel lists its recent activity: who did what, when and
from which device (GET /files/activity), for its owner and for whom it is
shared with."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.conftest import Server
from tests.web.conftest import PASSWORD, MakePage, User, run_axe


def test_details_show_an_edit_with_the_editors_name_and_device(
    make_page: MakePage, server: Server
) -> None:
    anna = User(*server.add_user(password=PASSWORD), server)
    ben_name, _ = server.add_user(password=PASSWORD)
    ben = server.client(server.token(ben_name, PASSWORD, device="Ben's phone"))
    with anna.api() as a:
        assert a.put("/files/content", params={"path": "/Budget/budget.xlsx"},
                     content=b"v1").status_code == 201
        assert a.post("/shares", json={"path": "/Budget", "user": ben_name, "role": "editor"}
                      ).status_code == 201
    with ben:
        assert ben.put("/files/content", params={"path": "/Shared with me/Budget/budget.xlsx"},
                       content=b"v2").status_code == 201
    page = make_page(anna, path="/files/Budget")
    item = page.locator(".item", has_text="budget.xlsx")
    item.click(button="right")
    page.get_by_role("menuitem", name="Details and revisions").click()
    panel = page.get_by_role("dialog", name="budget.xlsx")
    activity = panel.get_by_role("list", name="Activity").locator("li")
    expect(activity.first.locator(".activity-what")).to_have_text(f"{ben_name} edited it")
    expect(activity.first).to_contain_text("Ben's phone")
    expect(activity.nth(1)).to_contain_text(f"{anna.name} shared it with {ben_name}")
    expect(activity.last).to_contain_text(f"{anna.name} created it")
    expect(activity.last).to_contain_text(re.compile("pytest"))  # Anna's device token
    assert run_axe(page) == []
    # Ben, on his own browser, sees the same edit, and the share as made with him.
    page_ben = make_page(User(ben_name, "", server), path="/files/Shared%20with%20me/Budget")
    page_ben.locator(".item", has_text="budget.xlsx").click(button="right")
    page_ben.get_by_role("menuitem", name="Details and revisions").click()
    theirs = page_ben.get_by_role("dialog", name="budget.xlsx").get_by_role(
        "list", name="Activity").locator(".activity-what")
    expect(theirs).to_have_text([f"{ben_name} edited it", f"{anna.name} shared it with you"])
