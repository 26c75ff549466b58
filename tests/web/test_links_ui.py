"""Public links from the share dialog and the Links page: a link with a
password, an expiry date and a download limit made in the dialog, copied
with one click (the Clipboard API, and the fallback when it is refused),
its QR code drawn as SVG from the link's full address; the file drop option
only for folders; the Links page lists the links with their state and
counts and revokes them, after which a fresh visitor with no cookies gets
the revoked page."""

from __future__ import annotations

import datetime
import re

import httpx
from playwright.sync_api import Browser, Page, expect

from tests.conftest import Server
from tests.web.conftest import MakePage, User, run_axe


def put(c: httpx.Client, path: str, data: bytes) -> None:
    r = c.put("/files/content", params={"path": path}, content=data)
    assert r.status_code == 201, r.text


def open_share(page: Page, name: str) -> None:
    page.get_by_role("button", name=f"Actions for {name}", exact=True).click()
    page.get_by_role("menuitem", name="Share…").click()
    expect(page.get_by_role("dialog", name=f"Share {name}")).to_be_visible()


QR_MATCHES = """async (svg) => {
  const { encode } = await import('/vendor/uqr/index.mjs')
  const qr = encode(svg.dataset.text, { ecc: 'M', border: 4 })
  let d = ''
  qr.data.forEach((row, y) => row.forEach((on, x) => { if (on) d += `M${x} ${y}h1v1h-1z` }))
  const shown = svg.querySelector('path').getAttribute('d')
  const box = svg.getAttribute('viewBox')
  return { same: shown === d, size: qr.size, box, dark: shown.split('M').length - 1 }
}"""


def test_link_with_password_expiry_and_limit(make_page: MakePage, user: User, server: Server,
                                             browser: Browser) -> None:
    with user.api() as c:
        put(c, "/photo.txt", b"a picture, in words")
        assert c.post("/files/mkdir", json={"path": "/Drop"}).status_code == 201
    page = make_page(user)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    expect(page.locator(".item")).to_have_count(2)

    open_share(page, "photo.txt")
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("No public link yet.", exact=False)).to_be_visible()
    dialog.get_by_text("Password, expiry, download limit, file drop").click()
    expect(dialog.get_by_label("File drop", exact=False)).to_have_count(0)  # a file: no drop
    dialog.get_by_label("Ask for a password").check()
    dialog.get_by_label("Password", exact=True).fill("short")
    dialog.get_by_role("button", name="Create link").click()
    expect(dialog.get_by_role("alert").filter(has_text="8 characters")).to_be_visible()
    dialog.get_by_label("Password", exact=True).fill("open sesame")
    day = datetime.date.today() + datetime.timedelta(days=3)
    dialog.get_by_label("Expires after (optional)").fill(day.isoformat())
    dialog.get_by_label("Download limit (optional)").fill("2")
    dialog.get_by_role("button", name="Create link").click()
    row = dialog.locator(".link-row")
    expect(row).to_have_count(1)
    expect(page.get_by_text("Link created and copied.")).to_be_visible()
    url = row.get_by_label("Link address").input_value()
    assert re.fullmatch(re.escape(server.base_url) + r"/s/[A-Za-z0-9_-]{32}", url), url
    assert page.evaluate("navigator.clipboard.readText()") == url
    expect(row.locator(".link-facts")).to_contain_text("Active")
    expect(row.locator(".link-facts")).to_contain_text("Password · 0 of 2 downloads · expires")
    with user.api() as c:
        [made] = c.get("/links").json()["links"]
    assert made["has_password"] and made["max_downloads"] == 2 and not made["allow_upload"]
    end_of_day = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time())
    assert made["expires_at"] == int(end_of_day.timestamp() * 1000) - 1  # the day, here
    assert url.endswith(made["url"])

    # the QR code: SVG elements drawn from the full address, shown for the new link
    qr = row.get_by_role("img", name=f"QR code of {url}")
    expect(qr).to_be_visible()
    got = qr.evaluate(QR_MATCHES)
    assert got["same"] and got["box"] == f"0 0 {got['size']} {got['size']}" and got["dark"] > 100
    row.get_by_role("button", name="QR code").click()
    expect(qr).to_have_count(0)

    # copy, with one click; and again with the Clipboard API refused (plain HTTP)
    page.evaluate("navigator.clipboard.writeText('something else')")
    row.get_by_role("button", name="Copy link").click()
    expect(page.get_by_text("Link copied.")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == url
    page.evaluate("navigator.clipboard.writeText('something else')")
    page.evaluate("() => { navigator.clipboard.writeText = () => Promise.reject(new Error('no')) }")
    row.get_by_role("button", name="Copy link").click()
    expect(page.get_by_text("Link copied.")).to_have_count(2)
    assert page.evaluate("navigator.clipboard.readText()") == url
    dialog.get_by_role("button", name="Done").click()
    mark = page.locator(".item", has_text="photo.txt").locator(".share-mark")
    expect(mark.get_by_role("img", name="Has a public link")).to_be_visible()

    # a folder may be a file drop, which has no download limit
    open_share(page, "Drop")
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Password, expiry, download limit, file drop").click()
    drop = dialog.get_by_label("File drop", exact=False)
    expect(drop).to_be_visible()
    drop.check()
    expect(dialog.get_by_label("Download limit (optional)")).to_have_count(0)
    dialog.get_by_role("button", name="Create link").click()
    expect(dialog.locator(".link-row .link-facts")).to_have_text(re.compile(r"Active · File drop$"))
    assert run_axe(page) == []
    dialog.get_by_role("button", name="Done").click()

    # a link used up, made by the API, shows as such
    with user.api() as c:
        put(c, "/once.txt", b"once")
        once = c.post("/links", json={"path": "/once.txt", "max_downloads": 1}).json()
    assert httpx.get(server.base_url + once["url"] + "/download").status_code == 200

    # the Links page
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Links").click()
    expect(page).to_have_url(re.compile(r"/links$"))
    expect(page.get_by_role("heading", name="Public links")).to_be_visible()
    rows = page.locator(".links-table tbody tr")
    expect(rows).to_have_count(3)
    photo = rows.filter(has_text="/photo.txt")
    expect(photo).to_contain_text("Active")
    expect(photo).to_contain_text("Password · 0 of 2 downloads · expires")
    expect(rows.filter(has_text="/Drop")).to_contain_text("File drop")
    used = rows.filter(has_text="/once.txt")
    expect(used).to_contain_text("Used up")
    expect(used).to_contain_text("1 of 1 downloads")
    assert run_axe(page) == []

    # a visitor with no cookies: the password page, then after revoking, nothing
    visitor = browser.new_context(base_url=server.base_url)
    try:
        seen = visitor.new_page()
        seen.goto(url)  # the password first, nothing of the file before it
        expect(seen.get_by_text("photo.txt")).to_have_count(0)
        expect(seen.locator("input[type=password]")).to_be_visible()
        photo.get_by_role("button", name="Revoke the link to photo.txt").click()
        confirm = page.get_by_role("dialog", name="Revoke link")
        confirm.get_by_role("button", name="Revoke link").click()
        expect(page.get_by_text("Link revoked. It no longer works.")).to_be_visible()
        expect(rows).to_have_count(2)
        expect(rows.filter(has_text="/photo.txt")).to_have_count(0)
        r = seen.goto(url)
        assert r is not None and r.status == 404
        expect(seen.locator("input[type=password]")).to_have_count(0)
    finally:
        visitor.close()
    with user.api() as c:
        assert [k["path"] for k in c.get("/links").json()["links"]] == ["/Drop", "/once.txt"]
