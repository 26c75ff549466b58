"""Public links on the real server: pages, passwords and their rate limit,
expiry, download limits, revocation, file drops, folder zips, and attempts to
reach anything outside the linked node through any link route."""

from __future__ import annotations

import io
import re
import time
import zipfile

import httpx
import pytest

from selfdrive.core.clock import FakeClock
from selfdrive.core.conflicts import numbered_name
from selfdrive.core.errors import TooManyAttempts
from selfdrive.http.zipstream import safe_name
from selfdrive.services.attempts import Attempts
from tests.conftest import Server
from tests.http.linkkit import PASSWORD, Person, new_folder, raw_get


def _raw_drop(visitor: httpx.Client, url: str, filename: bytes) -> httpx.Response:
    """A file drop whose file name is sent byte for byte (httpx would escape it)."""
    body = (b"--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" + filename
            + b"\"\r\nContent-Type: text/plain\r\n\r\nEVIL\r\n--xyz--\r\n")
    return visitor.post(f"{url}/upload", content=body,
                        headers={"Content-Type": "multipart/form-data; boundary=xyz"})


def _drop(visitor: httpx.Client, url: object, *files: tuple[str, bytes],
          headers: dict[str, str] | None = None) -> httpx.Response:
    return visitor.post(f"{url}/upload", files=[("file", f) for f in files], headers=headers)


# -- pages and downloads ------------------------------------------------------------------


def test_a_file_link_has_a_safe_page_and_downloads_the_file(
    alice: Person, visitor: httpx.Client,
) -> None:
    folder = new_folder(alice, "page")
    name = '<script>alert("x")<img src=x onerror=alert(1)> & co.txt'
    alice.put(f"{folder}/{name}", b"hello, world")
    link = alice.link(f"{folder}/{name}")
    token = str(link["token"])
    assert link["url"] == f"/s/{token}" and link["path"] == f"{folder}/{name}"
    assert link["kind"] == "file" and link["has_password"] is False and link["downloads"] == 0
    assert link["state"] == "active" and link["allow_upload"] is False
    # at least 128 random bits, URL-safe, and a new one for every link
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token) and len(token) * 6 >= 128
    assert alice.link(f"{folder}/{name}")["token"] != token

    page = visitor.get(str(link["url"]))
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    for rule in ("default-src 'none'", "script-src 'self'", "style-src 'self'",
                 "form-action 'self'", "frame-ancestors 'none'"):
        assert rule in csp
    assert "unsafe" not in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    # no script on a file's page, and the name is text, never markup
    assert "<script" not in page.text and "<img" not in page.text
    escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;img src=x onerror=alert(1)&gt; &amp; co.txt"
    assert escaped in page.text
    assert "12 bytes" in page.text and f'href="{token}/download"' in page.text
    assert "<form" not in page.text  # no password, no upload
    assert "hello, world" in page.text  # a text file's preview

    r = visitor.get(f"{link['url']}/download")
    assert r.status_code == 200 and r.content == b"hello, world"
    assert r.headers["content-disposition"].startswith("attachment")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    r = visitor.get(f"{link['url']}/download", headers={"Range": "bytes=7-"})
    assert r.status_code == 206 and r.content == b"world"
    mine = {x["id"]: x for x in alice.c.get("/links").json()["links"]}
    assert mine[link["id"]]["downloads"] == 1  # a resumed download is the same download


def test_a_folder_downloads_as_a_zip_of_only_what_it_holds(
    alice: Person, visitor: httpx.Client,
) -> None:
    top = new_folder(alice, "zip")
    alice.put(f"{top}/outside.txt", b"not in the link")
    alice.put(f"{top}/Trip/plan.txt", b"day 1")
    alice.put(f"{top}/Trip/photos/beach.jpg", b"\xff\xd8" + b"j" * 3000)
    alice.put(f"{top}/Trip/odd\\name:x.txt", b"odd")
    assert alice.c.post("/files/mkdir", json={"path": f"{top}/Trip/empty"}).status_code == 201
    alice.put(f"{top}/Trip/deleted.txt", b"gone")
    assert alice.c.post("/files/delete", json={"path": f"{top}/Trip/deleted.txt"}
                        ).status_code == 200
    link = alice.link(f"{top}/Trip")
    assert link["kind"] == "folder"

    page = visitor.get(str(link["url"]))
    assert page.status_code == 200
    assert "2 files, 2 folders" in page.text and "Download all (.zip)" in page.text
    assert "plan.txt" in page.text and "outside.txt" not in page.text
    assert "deleted.txt" not in page.text  # in the trash

    r = visitor.get(f"{link['url']}/download")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert 'filename="Trip.zip"' in r.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        assert z.testzip() is None
        names = sorted(z.namelist())
        assert names == ["empty/", "odd_name_x.txt", "photos/", "photos/beach.jpg", "plan.txt"]
        assert z.read("plan.txt") == b"day 1"
        assert z.read("photos/beach.jpg") == b"\xff\xd8" + b"j" * 3000
        assert z.read("odd_name_x.txt") == b"odd"
        assert all(i.compress_type == zipfile.ZIP_STORED for i in z.infolist())
    # HEAD tells what it is without counting as a download
    head = visitor.head(f"{link['url']}/download")
    assert head.status_code == 200 and head.headers["content-type"] == "application/zip"
    assert "content-length" not in head.headers  # not known before it is made
    mine = {x["id"]: x for x in alice.c.get("/links").json()["links"]}
    assert mine[link["id"]]["downloads"] == 1


def test_a_link_follows_its_node_and_dies_with_it_in_the_trash(
    alice: Person, visitor: httpx.Client,
) -> None:
    top = new_folder(alice, "trash")
    alice.put(f"{top}/a/file.txt", b"data")
    link = alice.link(f"{top}/a/file.txt")
    alice.c.post("/files/move", json={"from_path": f"{top}/a", "to_path": f"{top}/b"})
    assert visitor.get(f"{link['url']}/download").content == b"data"
    mine = {x["id"]: x for x in alice.c.get("/links").json()["links"]}
    assert mine[link["id"]]["path"] == f"{top}/b/file.txt"

    alice.c.post("/files/delete", json={"path": f"{top}/b"})  # the folder above it
    for url in (str(link["url"]), f"{link['url']}/download"):
        assert visitor.get(url).status_code == 404
    mine = {x["id"]: x for x in alice.c.get("/links").json()["links"]}
    assert mine[link["id"]]["state"] == "unavailable" and mine[link["id"]]["path"] is None
    trash = alice.c.get("/trash").json()["entries"]
    entry = next(e for e in trash if e["path"] == f"{top}/b")
    assert alice.c.post("/trash/restore", json={"id": entry["id"]}).status_code == 200
    assert visitor.get(f"{link['url']}/download").content == b"data"
    # Purged for good, the link goes with it.
    alice.c.post("/files/delete", json={"path": f"{top}/b"})
    entry = next(e for e in alice.c.get("/trash").json()["entries"] if e["path"] == f"{top}/b")
    assert alice.c.post("/trash/purge", json={"ids": [entry["id"]]}).status_code == 200
    assert link["id"] not in [x["id"] for x in alice.c.get("/links").json()["links"]]
    assert visitor.get(str(link["url"])).status_code == 404


# -- passwords and their rate limit --------------------------------------------------------


def test_a_password_is_needed_by_header_or_by_the_form(
    alice: Person, visitor: httpx.Client,
) -> None:
    top = new_folder(alice, "secret")
    alice.put(f"{top}/secret.txt", b"the plans")
    link = alice.link(f"{top}/secret.txt", password=PASSWORD)
    url, token = str(link["url"]), str(link["token"])
    assert link["has_password"] is True

    page = visitor.get(url)
    assert page.status_code == 200 and 'type="password"' in page.text
    assert "secret.txt" not in page.text  # nothing is told before the password
    r = visitor.get(f"{url}/download")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"
    assert "Bearer" not in r.headers["www-authenticate"]
    r = visitor.get(f"{url}/download", headers={"X-Link-Password": "wrong password"})
    assert r.status_code == 401
    r = visitor.get(f"{url}/download", headers={"X-Link-Password": PASSWORD})
    assert r.status_code == 200 and r.content == b"the plans"

    # The form: a wrong password shows the form again with 401 ...
    r = visitor.post(url, data={"password": "not it"})
    assert r.status_code == 401 and 'type="password"' in r.text and not visitor.cookies
    # ... a right one sets a grant cookie for this link only, and goes back to the page.
    r = visitor.post(url, data={"password": PASSWORD})
    assert r.status_code == 303 and r.headers["location"] == token
    cookie = r.headers["set-cookie"]
    assert f"Path=/s/{token}" in cookie and "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower() and "Max-Age=43200" in cookie
    page = visitor.get(url)
    assert page.status_code == 200 and "secret.txt" in page.text
    assert visitor.get(f"{url}/download").content == b"the plans"

    # The grant is bound to its link and cannot be forged or moved.
    grant = str(visitor.cookies["sd_link"])
    other = alice.link(f"{top}/secret.txt", password=PASSWORD)
    r = httpx.get(f"{visitor.base_url}{other['url']}/download", cookies={"sd_link": grant})
    assert r.status_code == 401
    expires, _, mac = grant.partition(".")
    forged = f"{int(expires) + 10**9}.{mac}"
    for bad in (forged, "garbage", f"{expires}.{'A' * len(mac)}", "9" * 40 + ".x", "²²."):
        r = httpx.get(f"{visitor.base_url}{url}/download",
                      headers={b"Cookie": b"sd_link=" + bad.encode()})
        assert r.status_code == 401, bad
    # A header carries any password as UTF-8.
    unicode = alice.link(f"{top}/secret.txt", password="pässwörd 密码")
    r = visitor.get(f"{unicode['url']}/download",
                    headers={b"X-Link-Password": "pässwörd 密码".encode()})
    assert r.status_code == 200
    # A password that is too short is refused when the link is made.
    r = alice.c.post("/links", json={"path": f"{top}/secret.txt", "password": "short"})
    assert r.status_code == 400


def test_wrong_passwords_are_rate_limited_per_link(
    server: Server, alice: Person, visitor: httpx.Client,
) -> None:
    top = new_folder(alice, "limit")
    alice.put(f"{top}/f.txt", b"x")
    link = alice.link(f"{top}/f.txt", password=PASSWORD)
    other = alice.link(f"{top}/f.txt", password=PASSWORD)
    url = str(link["url"])
    # A visitor who gave the right password before keeps access.
    assert visitor.post(url, data={"password": PASSWORD}).status_code == 303
    with httpx.Client(base_url=server.base_url, timeout=30) as attacker:
        for _ in range(5):
            r = attacker.get(f"{url}/download", headers={"X-Link-Password": "guess"})
            assert r.status_code == 401
        r = attacker.get(f"{url}/download", headers={"X-Link-Password": "guess"})
        assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(r.headers["retry-after"]) <= 15 * 60
        # Now even the right password waits, by header or form ...
        r = attacker.get(f"{url}/download", headers={"X-Link-Password": PASSWORD})
        assert r.status_code == 429
        r = attacker.post(url, data={"password": PASSWORD})
        assert r.status_code == 429 and "retry-after" in r.headers
        assert 'type="password"' in r.text and not attacker.cookies
        # ... while another link, and the visitor with a grant, are not held up.
        r = attacker.get(f"{other['url']}/download", headers={"X-Link-Password": PASSWORD})
        assert r.status_code == 200
    assert visitor.get(f"{url}/download").content == b"x"


# -- expiry, download limits, revocation -------------------------------------------------------


def test_a_link_expires(alice: Person, visitor: httpx.Client) -> None:
    top = new_folder(alice, "expiry")
    alice.put(f"{top}/soon.txt", b"soon gone")
    now_ms = int(time.time() * 1000)
    r = alice.c.post("/links", json={"path": f"{top}/soon.txt", "expires_at": now_ms - 1000})
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request"
    # 4 s: room for a password check (Argon2) and a download on a busy machine
    link = alice.link(f"{top}/soon.txt", expires_at=now_ms + 4000, password=PASSWORD)
    assert link["expires_at"] == now_ms + 4000
    r = visitor.post(str(link["url"]), data={"password": PASSWORD})
    assert r.status_code == 303
    max_age = int(re.findall(r"Max-Age=(\d+)", r.headers["set-cookie"])[0])
    assert max_age <= 4  # a grant lives no longer than its link
    assert visitor.get(f"{link['url']}/download").status_code == 200
    time.sleep(max(0.0, (now_ms + 4100) / 1000 - time.time()))
    for url in (str(link["url"]), f"{link['url']}/download"):
        r = visitor.get(url, headers={"X-Link-Password": PASSWORD})
        assert r.status_code == 410, url
    assert visitor.get(f"{link['url']}/download").json()["error"]["code"] == "link_gone"
    mine = {x["id"]: x for x in alice.c.get("/links").json()["links"]}
    assert mine[link["id"]]["state"] == "expired"


def test_max_downloads_counts_downloads_started(alice: Person, visitor: httpx.Client) -> None:
    top = new_folder(alice, "limits")
    alice.put(f"{top}/twice.txt", b"only twice")
    for bad in (0, -1):
        r = alice.c.post("/links", json={"path": f"{top}/twice.txt", "max_downloads": bad})
        assert r.status_code == 400
    link = alice.link(f"{top}/twice.txt", max_downloads=2)
    url = f"{link['url']}/download"
    assert visitor.head(url).status_code == 200  # a HEAD downloads nothing
    assert visitor.get(url).content == b"only twice"
    assert visitor.get(url, headers={"Range": "bytes=0-3"}).status_code == 206
    r = visitor.get(url)
    assert r.status_code == 410 and r.json()["error"]["code"] == "link_gone"
    assert visitor.get(str(link["url"])).status_code == 410
    mine = {x["id"]: x for x in alice.c.get("/links").json()["links"]}
    assert mine[link["id"]]["downloads"] == 2 and mine[link["id"]]["state"] == "used_up"


def test_revoking_a_link_and_only_mine(alice: Person, bob: Person, visitor: httpx.Client) -> None:
    top = new_folder(alice, "revoke")
    alice.put(f"{top}/f.txt", b"f")
    link = alice.link(f"{top}/f.txt")
    assert link["id"] not in [x["id"] for x in bob.c.get("/links").json()["links"]]
    assert bob.c.delete(f"/links/{link['id']}").status_code == 404
    assert visitor.get(f"{link['url']}/download").status_code == 200
    assert alice.c.delete(f"/links/{link['id']}").status_code == 204
    for url in (str(link["url"]), f"{link['url']}/download", f"{link['url']}/upload"):
        r = visitor.get(url) if not url.endswith("upload") else _drop(visitor, url[:-7],
                                                                       ("x.txt", b"x"))
        assert r.status_code == 404, url
    assert alice.c.delete(f"/links/{link['id']}").status_code == 404
    assert link["id"] not in [x["id"] for x in alice.c.get("/links").json()["links"]]
    assert visitor.get("/s/" + "A" * 32).status_code == 404  # never existed
    r = httpx.get(f"{visitor.base_url}/api/v1/links")
    assert r.status_code == 401


def test_who_may_make_a_link(server: Server, alice: Person, bob: Person,
                             visitor: httpx.Client) -> None:
    top = new_folder(alice, "rights")
    alice.put(f"{top}/view/v.txt", b"v")
    alice.put(f"{top}/edit/e.txt", b"e")
    for sub, role in (("view", "viewer"), ("edit", "editor")):
        r = alice.c.post("/shares", json={"path": f"{top}/{sub}", "user": bob.name, "role": role})
        assert r.status_code == 201, r.text
    mount = top.lstrip("/")
    shared = "/Shared with me"
    r = bob.c.post("/links", json={"path": f"{shared}/view/v.txt"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    link = bob.link(f"{shared}/edit/e.txt")
    assert link["path"] == f"{shared}/edit/e.txt"
    assert visitor.get(f"{link['url']}/download").content == b"e"
    assert link["id"] not in [x["id"] for x in alice.c.get("/links").json()["links"]]
    # When the editor loses the share, the link stops working.
    share = next(s for s in alice.c.get("/shares").json()["shared_by_me"]
                 if s["path"] == f"{top}/edit")
    assert alice.c.delete(f"/shares/{share['id']}").status_code == 204
    assert visitor.get(f"{link['url']}/download").status_code == 404
    mine = {x["id"]: x for x in bob.c.get("/links").json()["links"]}
    assert mine[link["id"]]["state"] == "unavailable"
    # Not the whole tree, not what does not exist, not someone else's file.
    assert alice.c.post("/links", json={"path": "/"}).status_code == 400
    assert alice.c.post("/links", json={"path": f"{top}/nope"}).status_code == 404
    assert bob.c.post("/links", json={"path": f"/{mount}/view/v.txt"}).status_code == 404
    assert alice.c.post("/links", json={"path": f"{top}/../x"}).status_code == 400


# -- file drops ---------------------------------------------------------------------------------


def test_a_file_drop_takes_files_and_shows_nothing(alice: Person, visitor: httpx.Client) -> None:
    top = new_folder(alice, "drop")
    alice.put(f"{top}/Inbox/report.txt", b"alice's own")
    alice.put(f"{top}/Inbox/secret-plans.txt", b"private")
    r = alice.c.post("/links", json={"path": f"{top}/Inbox/report.txt", "allow_upload": True})
    assert r.status_code == 400  # a file cannot be a drop
    r = alice.c.post("/links", json={"path": f"{top}/Inbox", "allow_upload": True,
                                     "max_downloads": 3})
    assert r.status_code == 400
    link = alice.link(f"{top}/Inbox", allow_upload=True)
    url = str(link["url"])
    assert link["allow_upload"] is True

    page = visitor.get(url)
    assert page.status_code == 200 and 'enctype="multipart/form-data"' in page.text
    assert "secret-plans" not in page.text and "download" not in page.text
    assert "2 files" not in page.text
    for r in (visitor.get(f"{url}/download"), visitor.head(f"{url}/download")):
        assert r.status_code == 403

    r = _drop(visitor, url, ("report.txt", b"from a visitor"), ("notes.md", b"# hi"))
    assert r.status_code == 201, r.text
    assert r.json() == {"files": [{"name": "report.txt", "size": 14},
                                  {"name": "notes.md", "size": 4}]}
    r = _drop(visitor, url, ("report.txt", b"again"))
    assert r.status_code == 201
    assert sorted(alice.names(f"{top}/Inbox")) == [
        "notes.md", "report (2).txt", "report (3).txt", "report.txt", "secret-plans.txt"]
    own = alice.c.get("/files/content", params={"path": f"{top}/Inbox/report.txt"})
    assert own.content == b"alice's own"  # never replaced
    revs = alice.c.get("/files/list_revisions", params={"path": f"{top}/Inbox/report (2).txt"})
    assert revs.json()["revisions"][0]["device"] == f"link {link['id']}"
    # A browser's form gets a page back.
    r = _drop(visitor, url, ("from-browser.txt", b"b"), headers={"Accept": "text/html"})
    assert r.status_code == 201 and "from-browser.txt" in r.text
    assert r.headers["content-type"].startswith("text/html")
    # An empty form, and a link that is not a drop, take nothing.
    assert visitor.post(f"{url}/upload", files={"note": (None, b"text")}).status_code == 400
    plain = alice.link(f"{top}/Inbox")
    assert _drop(visitor, plain["url"], ("x.txt", b"x")).status_code == 403


def test_a_password_protected_file_drop(alice: Person, visitor: httpx.Client) -> None:
    top = new_folder(alice, "pdrop")
    link = alice.link(top, allow_upload=True, password=PASSWORD)
    r = _drop(visitor, link["url"], ("a.txt", b"a"))
    assert r.status_code == 401
    r = _drop(visitor, link["url"], ("a.txt", b"a"), headers={"X-Link-Password": PASSWORD})
    assert r.status_code == 201
    assert visitor.post(str(link["url"]), data={"password": PASSWORD}).status_code == 303
    assert _drop(visitor, link["url"], ("b.txt", b"b")).status_code == 201
    assert sorted(alice.names(top)) == ["a.txt", "b.txt"]


def test_a_file_drop_counts_toward_the_owners_quota(server: Server,
                                                    visitor: httpx.Client) -> None:
    name, token = server.add_user(quota="10KB")
    with server.client(token) as c:
        owner = Person(name, c)
        top = new_folder(owner, "full")
        link = owner.link(top, allow_upload=True)
        r = _drop(visitor, link["url"], ("big.bin", b"x" * 20_000))
        assert r.status_code == 507 and r.json()["error"]["code"] == "quota_exceeded"
        assert owner.names(top) == []


# -- nothing outside the linked node ---------------------------------------------------------------


def test_no_link_route_reaches_outside_its_node(
    server: Server, alice: Person, visitor: httpx.Client,
) -> None:
    top = new_folder(alice, "traversal")
    alice.put(f"{top}/private.txt", b"PRIVATE")
    alice.put(f"{top}/public/shown.txt", b"shown")
    file_link = alice.link(f"{top}/public/shown.txt")
    drop = alice.link(f"{top}/public", allow_upload=True)
    folder = alice.link(f"{top}/public")
    t, d = str(file_link["token"]), str(drop["token"])

    # Dot segments, encoded slashes and extra path or query parts in the URL.
    targets = [
        f"/s/{t}/../../api/v1/me", f"/s/{t}/..%2f..%2fapi%2fv1%2fme", f"/s/{t}%2f..%2f{d}",
        f"/s/{t}/download/../../private.txt", f"/s/{t}/download/..%2fprivate.txt",
        f"/s/{t}/download%2f..%2f..%2fprivate.txt", f"/s/..%2f{t}/download",
        f"/s/{t}/private.txt", "/s/%2e%2e/download", f"/s/{t}/%2e%2e/download",
    ]
    for target in targets:
        status, body = raw_get(server, target)
        assert b"PRIVATE" not in body, target
        assert status in (400, 404, 405), (target, status)
    # ?path= names what is below a folder link, and nothing else.
    for query, status in (("path=/private.txt", 404), (f"path={top}/private.txt", 404),
                          ("path=../private.txt&rev=1", 400), ("path=/", 200), ("rev=1", 200)):
        r = visitor.get(f"/s/{t}/download?{query}")
        assert r.status_code == status, query
        assert b"PRIVATE" not in r.content
    r = visitor.get(f"{folder['url']}/download", params={"path": "../private.txt"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_path"
    r = visitor.get(f"{folder['url']}/download")
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        assert z.namelist() == ["shown.txt"]

    # File names that try to leave the drop folder are refused, and nothing is stored.
    before = sorted(alice.names(top))
    for bad in (b"../escaped.txt", b"..", b".", b"a/b.txt", b"..\\escaped.txt", b"/abs.txt",
                b"sub/../../escaped.txt", b"ctl\x01.txt", b"nul\x00.txt", b"x" * 300):
        r = _raw_drop(visitor, f"/s/{d}", bad)
        assert r.status_code == 400, bad
        assert r.json()["error"]["code"] in ("invalid_path", "bad_request"), bad
    assert sorted(alice.names(top)) == before
    assert alice.names(f"{top}/public") == ["shown.txt"]
    root = alice.c.get("/files/list", params={"path": "/"}).json()["entries"]
    assert not any(e["name"].startswith("escaped") or e["name"] == "abs.txt" for e in root)
    # A file link takes no uploads; a drop shows nothing to download.
    assert _drop(visitor, f"/s/{t}", ("x.txt", b"x")).status_code == 403
    assert visitor.get(f"/s/{d}/download").status_code == 403
    # Tokens that are not tokens.
    for token in ("..", "%00", "a" * 200, "../api"):
        status, _ = raw_get(server, f"/s/{token}")
        assert status == 404, token


# -- the parts, without a server ------------------------------------------------------------------


def test_the_rate_limit_window_slides() -> None:
    clock = FakeClock()
    attempts = Attempts(clock, limit=5, window_s=900, what="this link")
    for _ in range(5):
        attempts.begin(1)
        clock.advance(10)
    with pytest.raises(TooManyAttempts) as caught:
        attempts.begin(1)
    assert caught.value.details["retry_after_s"] == 900 - 50
    attempts.begin(2)  # another link is not held up
    clock.advance(850)  # the first failure leaves the window: one more try
    stamp = attempts.begin(1)
    attempts.forgive(1, stamp)  # it was right: it does not count
    attempts.begin(1)
    with pytest.raises(TooManyAttempts):
        attempts.begin(1)


def test_names_in_a_zip_are_made_safe() -> None:
    assert safe_name("a/b.txt") == "a/b.txt"
    assert safe_name('x\\..\\y:z*?"<>|.txt') == "x_.._y_z______.txt"
    assert safe_name("../a") == "__/a" and safe_name("./a") == "_/a"


def test_numbered_names_keep_the_extension_and_fit() -> None:
    assert numbered_name("report.txt", 1) == "report.txt"
    assert numbered_name("report.txt", 2) == "report (2).txt"
    assert numbered_name(".bashrc", 3) == ".bashrc (3)"
    long = numbered_name("x" * 250 + ".txt", 12)
    assert long.endswith("x (12).txt") and len(long.encode()) <= 255


def test_a_disabled_accounts_links_stop_until_it_is_enabled(
        server: Server, visitor: httpx.Client) -> None:
    """Disabling an account (the admin page) stops its public links, whether it
    owns the item or made the link as an editor of someone's share, as
    Nextcloud does; enabling it again brings them back."""
    owner_name, owner_token = server.add_user()
    editor_name, editor_token = server.add_user()
    admin = server.client(server.token())
    users = {u["username"]: u["id"] for u in admin.get("/admin/users").json()["users"]}
    with server.client(owner_token) as oc, server.client(editor_token) as ec:
        owner, editor = Person(owner_name, oc), Person(editor_name, ec)
        owner.put("/Team/plan.txt", b"plan")
        own_link = owner.link("/Team/plan.txt")
        share = oc.post("/shares", json={"path": "/Team", "user": editor_name, "role": "editor"})
        assert share.status_code == 201, share.text
        their_link = editor.link("/Shared with me/Team/plan.txt")
        for who, stopped, alive in ((editor_name, their_link, own_link),
                                    (owner_name, own_link, their_link)):
            r = admin.patch(f"/admin/users/{users[who]}", json={"disabled": True})
            assert r.status_code == 200, r.text
            for suffix in ("", "/download"):
                assert visitor.get(f"{stopped['url']}{suffix}").status_code == 404
            if who == editor_name:  # the owner's own link does not depend on the editor
                assert visitor.get(f"{alive['url']}/download").content == b"plan"
            assert admin.patch(f"/admin/users/{users[who]}",
                               json={"disabled": False}).status_code == 200
            assert visitor.get(f"{stopped['url']}/download").content == b"plan"
    admin.close()
