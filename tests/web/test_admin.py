"""The admin page (/admin): an admin adds a user who then signs in in another
browser, resets their password, changes their quota, and disables them while
their page is open (it is signed out without a reload); a non-admin sees no
admin link and gets a plain "not allowed" page; axe-core finds no serious or
critical violation."""

from __future__ import annotations

import os
import re
import secrets

import httpx
from playwright.sync_api import Browser, Page, expect

from tests.conftest import Server
from tests.web.conftest import PASSWORD, MakePage, User, run_axe, screenshot


def _admin(server: Server) -> User:
    """A second admin, made through the admin API, with the tests' password."""
    name = "boss-" + secrets.token_hex(3)
    with server.client(server.token()) as c:
        r = c.post("/admin/users", json={"username": name, "password": PASSWORD,
                                         "is_admin": True})
        assert r.status_code == 201, r.text
    return User(name, server.token(name, PASSWORD), server)


def _sign_in(browser: Browser, server: Server, name: str, password: str) -> Page:
    """A fresh browser context signing in through the sign-in form."""
    page = browser.new_context(base_url=server.base_url).new_page()
    page.goto("/login")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    return page


def test_admin_adds_resets_requotas_and_disables_a_user(
    make_page: MakePage, browser: Browser, server: Server
) -> None:
    page = make_page(_admin(server))
    expect(page.locator(".files")).to_be_visible()
    page.get_by_role("navigation").get_by_role("link", name="Admin").click()
    expect(page).to_have_url(re.compile(r"/admin$"))
    expect(page.get_by_role("heading", name="Administration")).to_be_visible()

    # add a user, who signs in in a browser of their own
    name = "newbie-" + secrets.token_hex(3)
    form = page.get_by_role("form", name="Add a user")
    form.get_by_label("Username").fill(name)
    form.get_by_label("Password").fill("newbie-password")
    form.get_by_label("Quota (GB)").fill("2")
    form.get_by_role("button", name="Add user").click()
    row = page.locator(f'tr[data-user="{name}"]')
    expect(row).to_contain_text("0 B of 2.0 GB used")
    theirs = _sign_in(browser, server, name, "newbie-password")
    expect(theirs.locator(".files")).to_be_visible()

    # a new password: the old one no longer signs in, the new one does
    page.get_by_role("button", name=f"Reset password of {name}").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("New password").fill("short")
    dialog.get_by_role("button", name="Set password").click()
    expect(dialog.get_by_role("alert")).to_have_text("The password needs 8 characters or more.")
    dialog.get_by_label("New password").fill("second-password")
    dialog.get_by_role("button", name="Set password").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.get_by_role("status")).to_contain_text(f"{name} has a new password.")
    old = _sign_in(browser, server, name, "newbie-password")
    expect(old.get_by_role("alert")).to_have_text("Wrong username or password.")
    old.context.close()
    again = _sign_in(browser, server, name, "second-password")
    expect(again.locator(".files")).to_be_visible()
    again.context.close()

    # a new quota, which the server now holds
    page.get_by_role("button", name=f"Change quota of {name}").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_label("Quota (GB)")).to_have_value("2")
    dialog.get_by_label("Quota (GB)").fill("0.5")
    dialog.get_by_role("button", name="Save").click()
    expect(row).to_contain_text("0 B of 500 MB used")
    token = server.token(name, "second-password")
    with server.client(token) as c:
        assert c.get("/me").json()["quota_bytes"] == 500_000_000
        assert c.put("/files/content", params={"path": "/photos.bin"},
                     content=os.urandom(60_000_000)).status_code == 201
    page.get_by_role("button", name="Refresh").click()
    expect(row).to_contain_text("60 MB of 500 MB used")
    expect(page.locator(".toast")).to_have_count(0, timeout=10_000)
    screenshot(page, "admin")

    # disable: their open page goes to sign-in by itself, and they cannot sign in
    page.get_by_role("button", name=f"Disable {name}").click()
    page.get_by_role("dialog").get_by_role("button", name="Disable").click()
    expect(row).to_contain_text("Disabled")
    expect(theirs.get_by_role("heading", name="Sign in to selfdrive")).to_be_visible(
        timeout=10_000)
    expect(theirs.get_by_role("alert")).to_have_text("Your session has ended. Sign in again.")
    theirs.get_by_label("Username").fill(name)
    theirs.get_by_label("Password").fill("second-password")
    theirs.get_by_role("button", name="Sign in").click()
    expect(theirs.get_by_role("alert")).to_have_text(
        "This account is disabled. Ask an administrator.")
    with server.client(token) as c:
        assert c.get("/me").status_code == 401
    # and enabled again
    row.get_by_role("button", name=f"Enable {name}").click()
    expect(row).not_to_contain_text("Disabled")
    theirs.get_by_role("button", name="Sign in").click()
    expect(theirs.locator(".files")).to_be_visible()
    theirs.context.close()
    # an admin cannot disable themself: there is no button for it
    me = page.locator("tr", has=page.locator(".user-tag", has_text="you"))
    expect(me.get_by_role("button", name=re.compile("^Disable"))).to_have_count(0)


def test_admin_page_status_and_accessibility(make_page: MakePage, server: Server) -> None:
    boss = _admin(server)
    for dark in (False, True):
        page = make_page(boss, dark=dark, path="/admin")
        expect(page.locator(".admin[data-loaded=true]")).to_be_visible()
        status = page.locator("dl.status")
        expect(status).to_contain_text("Version")
        expect(status).to_contain_text(re.compile("\u00d7" + r"\d+\.\d\d"))  # the dedup ratio
        expect(status).to_contain_text("Not configured")  # no backup bucket
        expect(status).to_contain_text(re.compile(r"\d+ runs? done, 0 failed"))
        assert run_axe(page) == []
        page.get_by_role("button", name=re.compile("^Change quota of")).first.click()
        expect(page.get_by_role("dialog")).to_be_visible()
        assert run_axe(page) == []


def test_non_admins_get_no_link_and_a_not_allowed_page(make_page: MakePage, user: User) -> None:
    page = make_page(user)
    expect(page.locator(".files")).to_be_visible()
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Account")).to_be_visible()
    expect(nav.get_by_role("link", name="Admin")).to_have_count(0)
    page.goto("/admin")
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(page.get_by_text("This page is for administrators only.")).to_be_visible()
    expect(page.get_by_role("button", name="Add user")).to_have_count(0)
    assert run_axe(page) == []
    r = page.request.get("/api/v1/admin/users")
    assert r.status == 403 and r.json()["error"]["code"] == "forbidden"
    with httpx.Client(base_url=user.server.base_url) as c:  # the shell itself is no secret
        assert c.get("/admin").status_code == 200
