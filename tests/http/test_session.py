"""A browser's sign-in: the session cookie, its CSRF rules, sign-out, and
that nothing but the API takes the cookie (docs/api.md, "Web sessions")."""

from __future__ import annotations

import base64
import hashlib
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from selfdrive.http.browser import safe_next
from selfdrive.services.sessions import browser_name
from tests.conftest import Server

PASSWORD = "user-password-1"
CHROME_LINUX = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"
                " Chrome/126.0.0.0 Safari/537.36")
EVIL = "https://evil.example"


@dataclass
class Browser:
    """A signed-in browser: its cookie, its CSRF token, and a client that
    sends the cookie (and nothing else) with every request."""

    server: Server
    session: str
    csrf: str
    login: httpx.Response

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.server.base_url + "/api/v1", timeout=60,
                            headers={"Cookie": f"sd_session={self.session}"})

    @property
    def origin(self) -> str:
        return self.server.base_url

    def unsafe(self, **extra: str) -> dict[str, str]:
        """The headers the UI sends with an unsafe request."""
        return {"X-CSRF-Token": self.csrf, "Origin": self.origin,
                "Sec-Fetch-Site": "same-origin", **extra}


def login(server: Server, username: str, password: str = PASSWORD,
          headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(server.base_url + "/api/v1/auth/login",
                      json={"username": username, "password": password},
                      headers={"User-Agent": CHROME_LINUX, **(headers or {})})


def sign_in(server: Server, username: str) -> Browser:
    r = login(server, username, headers={"Origin": server.base_url,
                                          "Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 200, r.text
    return Browser(server, r.cookies["sd_session"], r.json()["csrf_token"], r)


@pytest.fixture
def user(server: Server) -> tuple[str, str]:
    """A fresh user: (name, device token)."""
    return server.add_user(password=PASSWORD)


@pytest.fixture
def browser(server: Server, user: tuple[str, str]) -> Iterator[tuple[Browser, httpx.Client]]:
    """The fresh user signed in in a browser, and that user's bearer client."""
    with server.client(user[1]) as bearer:
        yield sign_in(server, user[0]), bearer


def set_cookie_attributes(response: httpx.Response) -> dict[str, str]:
    [header] = response.headers.get_list("set-cookie")
    name_value, *attrs = [part.strip() for part in header.split(";")]
    out = {"": name_value}
    for attr in attrs:
        key, _, value = attr.partition("=")
        out[key.lower()] = value
    return out


def tus_meta(**fields: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in fields.items())


# -- sign-in ------------------------------------------------------------------------------


def test_login_sets_a_session_cookie_and_answers_user_and_csrf_token(
    server: Server, user: tuple[str, str]
) -> None:
    name, token = user
    r = login(server, name)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    attrs = set_cookie_attributes(r)
    cookie_name, _, session = attrs[""].partition("=")
    assert cookie_name == "sd_session" and session.startswith("sds_")
    assert len(base64.urlsafe_b64decode(session[4:] + "=")) >= 16  # >= 128 random bits
    assert "httponly" in attrs and "secure" not in attrs  # plain HTTP here
    assert attrs["samesite"].lower() == "lax" and attrs["path"] == "/"
    assert attrs["max-age"] == str(90 * 24 * 3600)
    body = r.json()
    assert re.fullmatch(r"[0-9a-f]{64}", body["csrf_token"])
    with server.client(token) as bearer:
        me = bearer.get("/me").json()
        devices = bearer.get("/auth/tokens").json()["devices"]
    assert body["user"] == {**me, "device_id": devices[1]["id"]}
    assert [(d["name"], d["kind"], d["current"]) for d in devices] == [
        ("pytest", "device", True), ("Chrome on Linux", "web", False)]
    # Only the SHA-256 of the session's secret is kept.
    with sqlite3.connect(f"file:{server.data_dir / 'meta.db'}?mode=ro", uri=True) as db:
        [(kind, stored)] = db.execute("SELECT kind, token_hash FROM devices WHERE id = ?",
                                      (devices[1]["id"],)).fetchall()
    db.close()
    assert kind == "web" and stored == hashlib.sha256(session.encode()).digest()


def test_a_browser_keeps_the_cookie_by_itself(server: Server, user: tuple[str, str]) -> None:
    with httpx.Client(base_url=server.base_url + "/api/v1") as jar:
        r = jar.post("/auth/login", json={"username": user[0], "password": PASSWORD})
        assert r.status_code == 200
        assert jar.get("/me").json()["username"] == user[0]
        csrf = jar.get("/auth/session").json()["csrf_token"]
        assert csrf == r.json()["csrf_token"]
        assert jar.post("/files/mkdir", json={"path": "/a"},
                        headers={"X-CSRF-Token": csrf}).status_code == 201


def test_wrong_credentials_are_401_with_a_clear_message(server: Server,
                                                         user: tuple[str, str]) -> None:
    wrong = login(server, user[0], "not-the-password")
    unknown = login(server, "nobody-at-all", "not-the-password")
    for r in (wrong, unknown):
        assert r.status_code == 401
        assert r.json()["error"] == {"code": "wrong_credentials",
                                     "message": "wrong username or password"}
        assert "set-cookie" not in r.headers
    r = httpx.post(server.base_url + "/api/v1/auth/login", json={"username": user[0]})
    assert r.status_code == 400


def test_wrong_passwords_are_throttled_like_device_tokens(server: Server) -> None:
    name, _ = server.add_user(password=PASSWORD)
    for _ in range(10):
        assert login(server, name, "wrong-password").status_code == 401
    for r in (login(server, name, "wrong-password"), login(server, name, PASSWORD),
              httpx.post(server.base_url + "/api/v1/auth/tokens", json={
                  "username": name, "password": PASSWORD, "device_name": "x"})):
        assert r.status_code == 429, r.text
        assert r.json()["error"]["code"] == "rate_limited"
        assert int(r.headers["retry-after"]) > 0


def test_login_refuses_other_sites(server: Server, user: tuple[str, str]) -> None:
    """Login CSRF: another site must not sign the browser in (as the attacker)."""
    for headers in ({"Origin": EVIL}, {"Sec-Fetch-Site": "cross-site"},
                    {"Sec-Fetch-Site": "same-site"}, {"Origin": "null"},
                    {"Origin": server.base_url.replace("127.0.0.1", "localhost")}):
        r = login(server, user[0], headers=headers)
        assert r.status_code == 403, headers
        assert r.json()["error"]["code"] == "csrf"
        assert "set-cookie" not in r.headers
    assert login(server, user[0], headers={"Sec-Fetch-Site": "none"}).status_code == 200
    r = httpx.post(server.base_url + "/api/v1/auth/login",
                   content=f"username={user[0]}&password={PASSWORD}",
                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400 and "set-cookie" not in r.headers


# -- the cookie on every route --------------------------------------------------------------


def test_the_cookie_authenticates_reads(browser: tuple[Browser, httpx.Client]) -> None:
    b, bearer = browser
    assert bearer.put("/files/content", params={"path": "/doc.txt"},
                      content=b"hello").status_code == 201
    with b.client() as c:
        assert c.get("/me").json()["device_id"] == b.login.json()["user"]["device_id"]
        names = [e["name"] for e in c.get("/files/list", params={"path": "/"}).json()["entries"]]
        assert names == ["doc.txt"]
        r = c.get("/files/download", params={"path": "/doc.txt"})
        assert r.status_code == 200 and r.content == b"hello"
        assert c.get("/files/content", params={"path": "/doc.txt"}).content == b"hello"
        assert c.get("/changes/latest").status_code == 200
        session = c.get("/auth/session")
        assert session.status_code == 200 and session.headers["cache-control"] == "no-store"
        assert session.json() == {"user": c.get("/me").json(), "csrf_token": b.csrf}
        assert c.get("/auth/tokens").json()["devices"][1]["current"] is True


def test_writes_with_the_csrf_token_work(browser: tuple[Browser, httpx.Client]) -> None:
    b, bearer = browser
    with b.client() as c:
        r = c.put("/files/content", params={"path": "/w.txt"}, content=b"w",
                  headers=b.unsafe())
        assert r.status_code == 201, r.text
        # Origin and Sec-Fetch-Site are optional (older browsers, privacy add-ons).
        r = c.post("/files/mkdir", json={"path": "/f"}, headers={"X-CSRF-Token": b.csrf})
        assert r.status_code == 201
        r = c.post("/uploads", headers=b.unsafe(**{
            "Tus-Resumable": "1.0.0", "Upload-Length": "5",
            "Upload-Metadata": tus_meta(filename="t.txt", folder="/f")}))
        assert r.status_code == 201, r.text
        upload = b.server.base_url + r.headers["location"]
        r = c.post(upload, content=b"hello", headers=b.unsafe(**{
            "X-HTTP-Method-Override": "PATCH", "Tus-Resumable": "1.0.0",
            "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}))
        assert r.status_code == 204, r.text
    rev = bearer.get("/files/list_revisions", params={"path": "/w.txt"}).json()
    assert rev["revisions"][0]["device"] == "Chrome on Linux"
    assert bearer.get("/files/content", params={"path": "/f/t.txt"}).content == b"hello"


def test_unsafe_requests_without_the_csrf_token_change_nothing(
    browser: tuple[Browser, httpx.Client],
) -> None:
    b, bearer = browser
    bearer.put("/files/content", params={"path": "/keep.txt"}, content=b"keep")
    wrong = "0" * 64
    with b.client() as c:
        attempts = [
            c.put("/files/content", params={"path": "/new.txt"}, content=b"x"),
            c.put("/files/content", params={"path": "/new.txt"}, content=b"x",
                  headers={"X-CSRF-Token": wrong}),
            c.post("/files/mkdir", json={"path": "/new"}, headers={"X-CSRF-Token": ""}),
            c.post("/files/delete", json={"path": "/keep.txt"},
                   headers={"X-CSRF-Token": b.csrf.upper()}),
            c.post("/files/delete", json={"path": "/keep.txt"},
                   headers={"X-CSRF-Token": b.csrf, "Origin": EVIL}),
            c.post("/files/delete", json={"path": "/keep.txt"},
                   headers={"X-CSRF-Token": b.csrf, "Sec-Fetch-Site": "cross-site"}),
            c.post("/files/delete", json={"path": "/keep.txt"},
                   headers={"X-CSRF-Token": b.csrf, "Sec-Fetch-Site": "same-site"}),
            c.post("/files/delete", json={"path": "/keep.txt"}, headers=b.unsafe(
                Origin=b.origin.replace("http:", "https:"))),
            c.post("/uploads", headers={"Tus-Resumable": "1.0.0", "Upload-Length": "1",
                                        "Upload-Metadata": tus_meta(path="/tus.txt")}),
            c.post("/links", json={"path": "/keep.txt"}),
            c.post("/auth/logout"),
            c.delete(f"/auth/tokens/{b.login.json()['user']['device_id']}"),
        ]
        for r in attempts:
            assert r.status_code == 403, (r.request.method, r.request.url, r.text)
            assert r.json()["error"]["code"] == "csrf"
        assert c.get("/me").status_code == 200  # the session lives on
    assert bearer.get("/files/metadata", params={"path": "/new.txt"}).status_code == 404
    assert bearer.get("/files/metadata", params={"path": "/new"}).status_code == 404
    assert bearer.get("/files/metadata", params={"path": "/keep.txt"}).status_code == 200
    assert bearer.get("/links").json()["links"] == []
    assert bearer.get("/trash").json()["entries"] == []


def test_tus_patch_and_its_override_need_the_token(browser: tuple[Browser, httpx.Client]) -> None:
    b, bearer = browser
    r = bearer.post("/uploads", headers={"Tus-Resumable": "1.0.0", "Upload-Length": "3",
                                         "Upload-Metadata": tus_meta(path="/p.txt")})
    assert r.status_code == 201
    upload = b.server.base_url + r.headers["location"]
    octets = {"Tus-Resumable": "1.0.0", "Upload-Offset": "0",
              "Content-Type": "application/offset+octet-stream"}
    with b.client() as c:
        for r in (c.patch(upload, content=b"abc", headers=octets),
                  c.post(upload, content=b"abc", headers={**octets,
                                                          "X-HTTP-Method-Override": "PATCH"}),
                  c.post(upload, headers={"X-HTTP-Method-Override": "DELETE"}),
                  c.delete(upload)):
            assert r.status_code == 403 and r.json()["error"]["code"] == "csrf"
        assert c.head(upload).headers["upload-offset"] == "0"  # HEAD is safe
    assert bearer.get(upload).json()["offset"] == 0


def test_a_cross_site_form_post_changes_nothing(browser: tuple[Browser, httpx.Client]) -> None:
    """What a hostile page can make a browser send: a form, with the cookie."""
    b, bearer = browser
    bearer.put("/files/content", params={"path": "/keep.txt"}, content=b"keep")
    form = {"Content-Type": "application/x-www-form-urlencoded", "Origin": EVIL,
            "Sec-Fetch-Site": "cross-site"}
    with b.client() as c:
        for path, body in (("/files/delete", "path=/keep.txt"), ("/files/mkdir", "path=/x"),
                           ("/auth/logout_all", "devices=true"),
                           ("/files/delete", '{"path": "/keep.txt"}')):
            r = c.post(path, content=body, headers=form)
            assert r.status_code == 403 and r.json()["error"]["code"] == "csrf"
            # even from a browser that sends neither Origin nor Sec-Fetch-Site
            r = c.post(path, content=body,
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
            assert r.status_code == 403
        assert c.get("/me").status_code == 200
    assert bearer.get("/files/metadata", params={"path": "/keep.txt"}).status_code == 200
    assert bearer.get("/files/metadata", params={"path": "/x"}).status_code == 404


def test_bearer_requests_are_not_csrf_checked(server: Server,
                                              browser: tuple[Browser, httpx.Client]) -> None:
    b, bearer = browser
    hostile = {"Origin": EVIL, "Sec-Fetch-Site": "cross-site"}
    r = bearer.put("/files/content", params={"path": "/b.txt"}, content=b"b", headers=hostile)
    assert r.status_code == 201
    # With both, the Authorization header decides (here: another user's token).
    _, other = server.add_user()
    with b.client() as c:
        r = c.post("/files/mkdir", json={"path": "/o"},
                   headers={"Authorization": f"Bearer {other}", **hostile})
        assert r.status_code == 201
        assert c.get("/me", headers={"Authorization": f"Bearer {other}"}).json()[
            "username"] != b.login.json()["user"]["username"]
        r = c.get("/me", headers={"Authorization": "Bearer sdt_forged"})
        assert r.status_code == 401  # a bad token is not rescued by the cookie
    assert bearer.get("/files/metadata", params={"path": "/o"}).status_code == 404


def test_credentials_do_not_stand_in_for_each_other(
    server: Server, browser: tuple[Browser, httpx.Client], user: tuple[str, str]
) -> None:
    b, _ = browser
    _, token = user
    cases = [
        httpx.get(server.base_url + "/api/v1/me", headers={"Authorization": f"Bearer {b.session}"}),
        httpx.get(server.base_url + "/api/v1/me", headers={"Cookie": f"sd_session={token}"}),
        httpx.get(server.base_url + "/api/v1/me", params={"access_token": token}),
        httpx.get(server.base_url + "/api/v1/me", params={"sd_session": b.session}),
        httpx.get(server.base_url + "/api/v1/auth/session",
                  headers={"Authorization": f"Bearer {token}"}),
        httpx.get(server.base_url + "/api/v1/me", headers={"Cookie": "sd_session=sds_forged"}),
    ]
    for r in cases:
        assert r.status_code == 401, (r.request.url, r.request.headers)
        assert r.json()["error"]["code"] == "unauthenticated"


def test_webdav_ignores_the_cookie(server: Server, browser: tuple[Browser, httpx.Client],
                                   user: tuple[str, str]) -> None:
    b, bearer = browser
    bearer.put("/files/content", params={"path": "/d.txt"}, content=b"d")
    cookie = {"Cookie": f"sd_session={b.session}"}
    dav = server.base_url + "/dav/"
    for method, url, headers in (
        ("PROPFIND", dav, {**cookie, "Depth": "1"}),
        ("GET", dav + "d.txt", cookie),
        ("PUT", dav + "e.txt", {**cookie, "X-CSRF-Token": b.csrf}),
        ("DELETE", dav + "d.txt", {**cookie, "X-CSRF-Token": b.csrf}),
        ("GET", dav + "d.txt", {"Authorization": f"Bearer {b.session}"}),
    ):
        r = httpx.request(method, url, headers=headers, content=b"e" if method == "PUT" else None)
        assert r.status_code == 401, (method, url, r.text)
    basic = base64.b64encode(f"{user[0]}:{b.session}".encode()).decode()
    assert httpx.get(dav + "d.txt", headers={"Authorization": f"Basic {basic}"}
                     ).status_code == 401
    assert bearer.get("/files/metadata", params={"path": "/d.txt"}).status_code == 200
    assert bearer.get("/files/metadata", params={"path": "/e.txt"}).status_code == 404


# -- sign-out -------------------------------------------------------------------------------


def test_logout_ends_the_session_at_once(browser: tuple[Browser, httpx.Client]) -> None:
    b, bearer = browser
    with b.client() as c:
        r = c.post("/auth/logout", headers=b.unsafe())
        assert r.status_code == 204
        attrs = set_cookie_attributes(r)
        assert attrs[""] in ('sd_session=""', "sd_session=") and attrs["max-age"] == "0"
        for r in (c.get("/me"), c.get("/auth/session"),
                  c.post("/auth/logout", headers=b.unsafe())):
            assert r.status_code == 401
    assert [d["kind"] for d in bearer.get("/auth/tokens").json()["devices"]] == ["device"]
    r = bearer.post("/auth/logout")
    assert r.status_code == 400  # a device token is revoked with DELETE /auth/tokens/{id}


def test_logout_all_ends_every_session_and_with_devices_every_token(
    server: Server, user: tuple[str, str]
) -> None:
    name, token = user
    first, second = sign_in(server, name), sign_in(server, name)
    _, stranger = server.add_user()
    other = sign_in(server, server.add_user(password=PASSWORD)[0])
    with first.client() as c:
        assert c.post("/auth/logout_all", json={}, headers=first.unsafe()).status_code == 204
    for b in (first, second):
        with b.client() as c:
            assert c.get("/me").status_code == 401
    with server.client(token) as bearer:
        assert bearer.get("/me").status_code == 200  # device tokens stay
    with other.client() as c:
        assert c.get("/me").status_code == 200  # another user's sessions stay
    third = sign_in(server, name)
    with third.client() as c:
        r = c.post("/auth/logout_all", json={"devices": True}, headers=third.unsafe())
        assert r.status_code == 204
        assert set_cookie_attributes(r)["max-age"] == "0"
        assert c.get("/me").status_code == 401
    with server.client(token) as bearer:
        assert bearer.get("/me").status_code == 401
    with server.client(stranger) as c:
        assert c.get("/me").status_code == 200


def test_a_session_is_listed_and_revoked_like_a_device(
    server: Server, browser: tuple[Browser, httpx.Client]
) -> None:
    b, bearer = browser
    devices = bearer.get("/auth/tokens").json()["devices"]
    web = [d for d in devices if d["kind"] == "web"]
    assert [d["name"] for d in web] == ["Chrome on Linux"] and not web[0]["current"]
    assert bearer.delete(f"/auth/tokens/{web[0]['id']}").status_code == 204
    with b.client() as c:
        assert c.get("/me").status_code == 401
    # ...and a browser may revoke a device token (with its CSRF token).
    again = sign_in(server, b.login.json()["user"]["username"])
    device_id = devices[0]["id"]
    with again.client() as c:
        assert c.delete(f"/auth/tokens/{device_id}", headers=again.unsafe()).status_code == 204
    assert bearer.get("/me").status_code == 401


def test_a_new_sign_in_replaces_the_browsers_old_session(
    server: Server, browser: tuple[Browser, httpx.Client]
) -> None:
    b, bearer = browser
    r = login(server, b.login.json()["user"]["username"],
              headers={"Cookie": f"sd_session={b.session}"})
    assert r.status_code == 200
    with b.client() as c:
        assert c.get("/me").status_code == 401
    assert [d["kind"] for d in bearer.get("/auth/tokens").json()["devices"]] == ["device", "web"]


def test_openapi_names_the_cookie(server: Server) -> None:
    spec = httpx.get(server.base_url + "/api/v1/openapi.json").json()
    scheme = spec["components"]["securitySchemes"]["session"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "cookie", "sd_session")
    assert "security" not in spec["paths"]["/api/v1/auth/login"]["post"]
    for path in ("/api/v1/auth/session", "/api/v1/files/list"):
        [op] = spec["paths"][path].values()
        assert op["security"] == [{"bearer": []}, {"session": []}]


# -- HTTPS behind a trusted proxy -------------------------------------------------------------


def test_https_behind_a_trusted_proxy(tmp_path: Path) -> None:
    config = tmp_path / "selfdrive.toml"
    config.write_text('[server]\ntrusted_proxies = ["127.0.0.1"]\n')
    server = Server(data_dir=tmp_path / "data", env={"SELFDRIVE_CONFIG": str(config)})
    server.start()
    try:
        name, _ = server.add_user(password=PASSWORD)
        proxy = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "drive.example.com",
                 "X-Forwarded-For": "203.0.113.9"}
        origin = "https://drive.example.com"
        r = login(server, name, headers={**proxy, "Origin": origin})
        assert r.status_code == 200, r.text
        assert "secure" in set_cookie_attributes(r)
        session, csrf = r.cookies["sd_session"], r.json()["csrf_token"]
        api = server.base_url + "/api/v1"
        headers = {**proxy, "Cookie": f"sd_session={session}", "X-CSRF-Token": csrf}
        for wrong in ("http://drive.example.com", "https://drive.example.com:8443",
                      "https://evil.drive.example.com", server.base_url):
            r = httpx.post(api + "/files/mkdir", json={"path": "/x"},
                           headers={**headers, "Origin": wrong})
            assert r.status_code == 403, wrong
        for right in (origin, "https://Drive.Example.com:443"):
            r = httpx.post(api + "/files/mkdir", json={"path": "/x" + right[-3:]},
                           headers={**headers, "Origin": right})
            assert r.status_code == 201, r.text
        plain = login(server, name)  # no proxy headers: plain HTTP, no Secure
        assert "secure" not in set_cookie_attributes(plain)
        assert login(server, name, headers={**proxy, "Origin": server.base_url}
                     ).status_code == 403
    finally:
        server.stop()


# -- pure functions ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", [
    "/", "/files", "/files/My%20Docs?sort=name#top", "/a/b/../c", "/ünïcode", "/x:y",
    "/javascript:alert(1)",
])
def test_safe_next_keeps_paths_on_this_server(value: str) -> None:
    assert safe_next(value) == value


@pytest.mark.parametrize("value", [
    "", "files", "//evil.example", "///evil.example", "/\\evil.example", "\\\\evil.example",
    "https://evil.example/", "javascript:alert(1)", "data:text/html,x", " /files",
    "/\t/evil.example", "/\n/evil.example", "/\r\n/evil.example", "/a\x00b", "/a\x7fb",
    "/a\\..\\..\\evil", "/\u202eevil", "/a b", "/" + "a" * 3000, "http:/evil.example",
    "/\u2028//evil",
])
def test_safe_next_refuses_everything_else(value: str) -> None:
    assert safe_next(value) == "/"


@pytest.mark.parametrize(("agent", "name"), [
    (CHROME_LINUX, "Chrome on Linux"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15"
     " (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "Safari on iPhone"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko)"
     " Version/17.5 Safari/605.1.15", "Safari on macOS"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0",
     "Firefox on Windows"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
     " Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0", "Edge on Windows"),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko)"
     " Chrome/126.0.0.0 Mobile Safari/537.36", "Chrome on Android"),
    ("curl/8.5.0", "Web browser"),
    ("", "Web browser"),
    ("<script>" * 500, "Web browser"),
])
def test_a_sessions_name_comes_from_its_user_agent(agent: str, name: str) -> None:
    assert browser_name(agent) == name
