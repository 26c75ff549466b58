"""The account page and the upload panel's controls: sessions and devices
listed and signed out, sign out everywhere, repeated wrong passwords slowed
down, pause / resume / cancel of an upload, and a clear message when an
upload does not fit the quota."""

from __future__ import annotations

import os
import re
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from tests.conftest import Server
from tests.web.conftest import PASSWORD, MakePage, User


def _throttle(page: Page, bytes_per_s: int) -> None:
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": bytes_per_s},
    )


def test_account_lists_sessions_and_devices_and_signs_out_everywhere(
    make_page: MakePage, user: User
) -> None:
    laptop = make_page(user)
    phone = make_page(user, phone=True)
    expect(phone.locator(".files")).to_be_visible()
    laptop.get_by_role("link", name="Account").click()
    table = laptop.locator("table.devices")
    expect(table.get_by_role("row")).to_have_count(4)  # header, 2 browsers, the test's token
    expect(table).to_contain_text("this one")
    expect(table).to_contain_text("Device")
    # sign out everywhere, apps too: the other browser is sent to sign-in
    laptop.get_by_label(re.compile("Also sign out desktop and phone apps")).check()
    laptop.get_by_role("button", name="Sign out everywhere").click()
    expect(laptop.get_by_role("heading", name="Sign in to selfdrive")).to_be_visible()
    phone.reload()
    expect(phone.get_by_role("heading", name="Sign in to selfdrive")).to_be_visible()
    with user.api() as c:
        assert c.get("/me").status_code == 401  # the device token is gone too


def test_revoking_one_session_leaves_the_others(make_page: MakePage, user: User) -> None:
    first = make_page(user)
    second = make_page(user, path="/account")
    rows = second.locator("table.devices tbody tr")
    expect(rows).to_have_count(3)
    other = rows.filter(has_not_text="this one").filter(has_text="Browser session")
    other.get_by_role("button", name=re.compile("^Sign out")).click()
    expect(rows).to_have_count(2)
    first.reload()
    expect(first.get_by_role("heading", name="Sign in to selfdrive")).to_be_visible()
    second.reload()
    expect(second.get_by_role("heading", name="Account")).to_be_visible()


def test_repeated_wrong_passwords_are_slowed_down(browser: Browser, server: Server) -> None:
    name, _ = server.add_user()
    context = browser.new_context(base_url=server.base_url)
    page = context.new_page()
    page.goto("/login")
    for _ in range(11):
        page.get_by_label("Username").fill(name)
        page.get_by_label("Password").fill("wrong-password")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("button", name="Sign in")).to_be_enabled()
    expect(page.get_by_role("alert")).to_have_text(
        re.compile(r"Too many failed attempts\. Try again in \d+ min\.")
    )
    context.close()


def test_pause_resume_and_cancel_an_upload(make_page: MakePage, user: User, tmp_path: Path) -> None:
    first, second = tmp_path / "first.bin", tmp_path / "second.bin"
    first.write_bytes(os.urandom(6 * 1024 * 1024))
    second.write_bytes(os.urandom(6 * 1024 * 1024))
    page = make_page(user)
    expect(page.locator(".files")).to_be_visible()
    _throttle(page, 1024 * 1024)
    page.locator("input[type=file]:not([webkitdirectory])").set_input_files([first, second])
    bar = page.get_by_label("Progress of first.bin")
    page.wait_for_function(
        "() => { const p = document.querySelector('[data-name=\"first.bin\"] progress');"
        " return p && p.value > 0 }"
    )
    page.get_by_role("button", name="Pause first.bin").click()
    expect(page.locator('[data-name="first.bin"] .upload-detail')).to_have_text("Paused")
    held = float(bar.get_attribute("value") or 0)
    page.wait_for_timeout(1500)
    assert float(bar.get_attribute("value") or 0) == held  # nothing moves while paused
    page.get_by_role("button", name="Cancel upload second.bin").click()
    expect(page.locator('[data-name="second.bin"] .upload-detail')).to_have_text("Canceled")
    page.get_by_role("button", name="Resume first.bin").click()
    expect(page.locator('[data-name="first.bin"] .upload-detail')).to_have_text(
        "Done", timeout=60_000
    )
    with user.api() as c:
        assert c.get("/files/content", params={"path": "/first.bin"}).content == first.read_bytes()
        assert c.get("/files/metadata", params={"path": "/second.bin"}).status_code == 404


def test_an_upload_over_the_quota_says_so_and_stores_nothing(
    make_page: MakePage, server: Server, tmp_path: Path
) -> None:
    name, token = server.add_user(quota="1MB", password=PASSWORD)
    user = User(name, token, server)
    big = tmp_path / "too-big.bin"
    big.write_bytes(os.urandom(3 * 1000 * 1000))
    page = make_page(user)
    expect(page.locator(".files")).to_be_visible()
    page.locator("input[type=file]:not([webkitdirectory])").set_input_files(big)
    detail = page.locator('[data-name="too-big.bin"] .upload-detail')
    expect(detail).to_contain_text(re.compile("quota", re.I), timeout=30_000)
    expect(page.get_by_role("button", name="Retry too-big.bin")).to_be_visible()
    with user.api() as c:
        assert c.get("/files/metadata", params={"path": "/too-big.bin"}).status_code == 404
