"""The admin API (docs/api.md, "Administration"): users listed with quota and
use, added, given a new password, a new quota, admin rights, disabled and
re-enabled; the server's status.  Every route refuses non-admins (403), bad
input gets a clear 400/404/409, and a disabled user is locked out at once on
every way in: device token, browser session, WebDAV (password and token)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Server, free_port

PASSWORD = "user-password-1"

ROUTES = [
    ("GET", "/admin/users", None),
    ("POST", "/admin/users", {"username": "nobody-new", "password": "long-enough-1"}),
    ("PATCH", "/admin/users/1", {"quota_bytes": 1}),
    ("POST", "/admin/users/1/password", {"password": "long-enough-1"}),
    ("GET", "/admin/status", None),
]


@pytest.fixture(scope="module")
def admin(server: Server, admin_token: str) -> Iterator[httpx.Client]:
    with server.client(admin_token) as c:
        yield c


def _user(admin: httpx.Client, name: str) -> dict[str, object]:
    users = admin.get("/admin/users").json()["users"]
    return next(u for u in users if u["username"] == name)


def _error(r: httpx.Response, status: int, code: str) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    message: str = body["error"]["message"]
    assert message
    return message


def _browser(server: Server, name: str, password: str = PASSWORD) -> httpx.Client:
    """A signed-in browser: the session cookie, and the CSRF token as the UI sends it."""
    r = httpx.post(server.base_url + "/api/v1/auth/login",
                   json={"username": name, "password": password},
                   headers={"Origin": server.base_url, "Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 200, r.text
    return httpx.Client(base_url=server.base_url + "/api/v1", timeout=30, headers={
        "Cookie": f"sd_session={r.cookies['sd_session']}", "Origin": server.base_url,
        "Sec-Fetch-Site": "same-origin", "X-CSRF-Token": r.json()["csrf_token"]})


def test_every_admin_route_refuses_non_admins(server: Server, admin: httpx.Client) -> None:
    name, token = server.add_user(password=PASSWORD)
    with server.client(token) as c:
        for method, path, body in ROUTES:
            r = c.request(method, path, json=body)
            _error(r, 403, "forbidden")
        # refused before the body is read: a bad body is still 403, not 400
        _error(c.post("/admin/users", content=b"not json"), 403, "forbidden")
        assert c.get("/me").json()["is_admin"] is False
    with _browser(server, name) as b:
        for method, path, body in ROUTES:
            _error(b.request(method, path, json=body), 403, "forbidden")
    for method, path, body in ROUTES:  # no credentials at all
        r = httpx.request(method, server.base_url + "/api/v1" + path, json=body)
        _error(r, 401, "unauthenticated")
    assert "nobody-new" not in {u["username"] for u in admin.get("/admin/users").json()["users"]}


def test_list_add_and_sign_in(server: Server, admin: httpx.Client) -> None:
    r = admin.post("/admin/users", json={"username": "carol", "password": "carol-password",
                                         "quota_bytes": 5_000_000})
    assert r.status_code == 201, r.text
    carol = r.json()
    assert carol["username"] == "carol" and carol["quota_bytes"] == 5_000_000
    assert carol["is_admin"] is False and carol["disabled_at"] is None
    assert carol["used_bytes"] == 0
    token = server.token("carol", "carol-password")
    with server.client(token) as c:
        assert c.put("/files/content", params={"path": "/a.bin"},
                     content=b"x" * 1000).status_code == 201
    listed = admin.get("/admin/users").json()["users"]
    assert [u["username"] for u in listed] == sorted(u["username"] for u in listed)
    row = _user(admin, "carol")
    assert row["used_bytes"] == 1000 and row["quota_bytes"] == 5_000_000
    assert _user(admin, "admin")["is_admin"] is True
    # the default quota when none is given; an admin made by an admin
    r = admin.post("/admin/users", json={"username": "dave", "password": "dave-password",
                                         "is_admin": True})
    assert r.status_code == 201 and r.json()["is_admin"] is True
    assert r.json()["quota_bytes"] == _user(admin, "admin")["quota_bytes"]
    with server.client(server.token("dave", "dave-password")) as c:
        assert c.get("/admin/status").status_code == 200


def test_add_user_bad_input(admin: httpx.Client) -> None:
    good = {"username": "erin", "password": "erin-password"}
    assert admin.post("/admin/users", json=good).status_code == 201
    assert "already exists" in _error(admin.post("/admin/users", json=good), 409,
                                      "already_exists")
    for body, words in [
        ({**good, "username": "bad name"}, "username"),
        ({**good, "username": ""}, "username"),
        ({**good, "username": "-dash"}, "username"),
        ({**good, "username": "frank", "password": "short"}, "8 characters"),
        ({**good, "username": "frank", "password": "p" * 2000}, "at most"),
        ({**good, "username": "frank", "quota_bytes": -1}, "quota_bytes"),
        ({**good, "username": "frank", "quota_bytes": "10GB"}, "quota_bytes"),
        ({**good, "username": "frank", "admin": True}, "admin"),
        ({"username": "frank"}, "password"),
    ]:
        message = _error(admin.post("/admin/users", json=body), 400, "bad_request")
        assert words in message, (body, message)
    _error(admin.post("/admin/users", content=b"{", headers={"Content-Type": "application/json"}),
           400, "bad_request")
    assert "frank" not in {u["username"] for u in admin.get("/admin/users").json()["users"]}


def test_reset_password(server: Server, admin: httpx.Client) -> None:
    name, token = server.add_user(password=PASSWORD)
    uid = _user(admin, name)["id"]
    r = admin.post(f"/admin/users/{uid}/password", json={"password": "brand-new-password"})
    assert r.status_code == 200 and r.json()["username"] == name
    bad = httpx.post(server.base_url + "/api/v1/auth/tokens", json={
        "username": name, "password": PASSWORD, "device_name": "x"})
    _error(bad, 401, "unauthenticated")
    assert server.token(name, "brand-new-password")
    with server.client(token) as c:  # a reset is not a lockout: devices go on
        assert c.get("/me").status_code == 200
    _error(admin.post(f"/admin/users/{uid}/password", json={"password": "short"}), 400,
           "bad_request")
    _error(admin.post(f"/admin/users/{uid}/password", json={}), 400, "bad_request")
    _error(admin.post("/admin/users/999999/password", json={"password": "long-enough-1"}),
           404, "not_found")
    assert admin.post("/admin/users/abc/password", json={"password": "x"}).status_code == 404


def test_quota_change_is_enforced_on_the_next_upload(server: Server,
                                                      admin: httpx.Client) -> None:
    name, token = server.add_user(password=PASSWORD)
    uid = _user(admin, name)["id"]
    with server.client(token) as c:
        assert c.put("/files/content", params={"path": "/one.bin"},
                     content=os.urandom(3000)).status_code == 201
        r = admin.patch(f"/admin/users/{uid}", json={"quota_bytes": 4000})
        assert r.status_code == 200 and r.json()["quota_bytes"] == 4000
        assert r.json()["used_bytes"] == 3000
        assert c.get("/me").json()["quota_bytes"] == 4000
        r = c.put("/files/content", params={"path": "/two.bin"}, content=os.urandom(2000))
        _error(r, 507, "quota_exceeded")
        assert c.put("/files/content", params={"path": "/small.bin"},
                     content=os.urandom(900)).status_code == 201
        admin.patch(f"/admin/users/{uid}", json={"quota_bytes": 10_000})
        assert c.put("/files/content", params={"path": "/two.bin"},
                     content=os.urandom(2000)).status_code == 201


def test_change_user_bad_input(admin: httpx.Client) -> None:
    uid = _user(admin, "admin")["id"]
    for body, words in [
        ({}, "nothing to change"),
        ({"quota_bytes": -5}, "quota_bytes"),
        ({"quota_bytes": 2**63}, "quota_bytes"),
        ({"disabled": "yes"}, "disabled"),
        ({"name": "x"}, "name"),
    ]:
        message = _error(admin.patch(f"/admin/users/{uid}", json=body), 400, "bad_request")
        assert words in message, (body, message)
    _error(admin.patch("/admin/users/999999", json={"quota_bytes": 1}), 404, "not_found")


def test_an_admin_cannot_lock_themself_out(server: Server, admin: httpx.Client) -> None:
    me = _user(admin, "admin")
    for body in ({"disabled": True}, {"is_admin": False}, {"is_admin": False, "quota_bytes": 1}):
        message = _error(admin.patch(f"/admin/users/{me['id']}", json=body), 409,
                         "admin_lockout")
        assert "your own" in message
    after = _user(admin, "admin")
    assert after == me  # nothing of a refused change was made
    # another admin may be demoted, and may then no longer use the admin API
    admin.post("/admin/users", json={"username": "gina", "password": "gina-password",
                                     "is_admin": True})
    gina = _user(admin, "gina")
    with server.client(server.token("gina", "gina-password")) as g:
        assert g.get("/admin/users").status_code == 200
        r = admin.patch(f"/admin/users/{gina['id']}", json={"is_admin": False})
        assert r.status_code == 200 and r.json()["is_admin"] is False
        _error(g.get("/admin/users"), 403, "forbidden")
        assert g.get("/me").json()["is_admin"] is False


def test_disabled_user_is_locked_out_everywhere_and_keeps_files(
        server: Server, admin: httpx.Client) -> None:
    name, token = server.add_user(password=PASSWORD)
    uid = _user(admin, name)["id"]
    with server.client(token) as c:
        assert c.put("/files/content", params={"path": "/keep.txt"},
                     content=b"mine").status_code == 201
    browser = _browser(server, name)
    dav = httpx.Client(base_url=server.base_url + "/dav/", auth=(name, PASSWORD), timeout=30)
    dav_token = httpx.Client(base_url=server.base_url + "/dav/", auth=(name, token), timeout=30)
    assert browser.get("/me").status_code == 200
    assert dav.get("keep.txt").content == b"mine"  # the password is now remembered
    assert dav_token.get("keep.txt").status_code == 200

    r = admin.patch(f"/admin/users/{uid}", json={"disabled": True})
    assert r.status_code == 200 and r.json()["disabled_at"] is not None
    with server.client(token) as c:
        _error(c.get("/me"), 401, "unauthenticated")
    _error(browser.get("/me"), 401, "unauthenticated")
    _error(browser.get("/auth/session"), 401, "unauthenticated")
    assert dav.get("keep.txt").status_code in (401, 403)  # not from the password cache
    assert dav_token.get("keep.txt").status_code == 401
    # signing in again: the right password says why, a wrong one says nothing
    message = _error(httpx.post(server.base_url + "/api/v1/auth/tokens", json={
        "username": name, "password": PASSWORD, "device_name": "x"}), 403, "forbidden")
    assert "disabled" in message
    _error(httpx.post(server.base_url + "/api/v1/auth/login",
                      json={"username": name, "password": PASSWORD},
                      headers={"Origin": server.base_url}), 403, "forbidden")
    _error(httpx.post(server.base_url + "/api/v1/auth/login",
                      json={"username": name, "password": "wrong-password"},
                      headers={"Origin": server.base_url}), 401, "wrong_credentials")
    # disabling twice keeps the first time
    again = admin.patch(f"/admin/users/{uid}", json={"disabled": True}).json()
    assert again["disabled_at"] == r.json()["disabled_at"]

    r = admin.patch(f"/admin/users/{uid}", json={"disabled": False})
    assert r.status_code == 200 and r.json()["disabled_at"] is None
    with server.client(token) as c:  # the old token ended for good
        _error(c.get("/me"), 401, "unauthenticated")
    with server.client(server.token(name, PASSWORD)) as c:  # the files are all there
        assert c.get("/files/content", params={"path": "/keep.txt"}).content == b"mine"
    assert dav.get("keep.txt").content == b"mine"
    browser.close()
    dav.close()
    dav_token.close()


def test_disabling_rings_the_users_long_poll(server: Server, admin: httpx.Client) -> None:
    """An open page learns at once: its long poll answers, and its next call is 401."""
    name, token = server.add_user(password=PASSWORD)
    uid = _user(admin, name)["id"]
    with server.client(token) as c:
        cursor = c.get("/changes/latest").json()["cursor"]
        started = time.monotonic()
        with c.stream("GET", "/changes/wait", params={"cursor": cursor, "timeout": 30}) as r:
            assert r.status_code == 200  # the head comes as the wait starts
            assert admin.patch(f"/admin/users/{uid}", json={"disabled": True}).status_code == 200
            body = r.read()
        assert time.monotonic() - started < 10
        assert b'"changes":true' in body
        _error(c.get("/changes", params={"cursor": cursor}), 401, "unauthenticated")


def test_status(server: Server, admin: httpx.Client) -> None:
    before = admin.get("/admin/status").json()
    _, token = server.add_user(password=PASSWORD)
    data = os.urandom(100_000)  # one block
    with server.client(token) as c:
        for path in ("/a.bin", "/b.bin", "/c.bin"):
            assert c.put("/files/content", params={"path": path}, content=data).status_code == 201
    s = admin.get("/admin/status").json()
    assert s["version"] and s["users"] == before["users"] + 1
    store = s["store"]
    assert store["blocks"] == before["store"]["blocks"] + 1  # stored once
    assert store["block_bytes"] - before["store"]["block_bytes"] == len(data)
    assert store["logical_bytes"] - before["store"]["logical_bytes"] == 3 * len(data)
    assert store["dedup_ratio"] == pytest.approx(store["logical_bytes"] / store["block_bytes"],
                                                 rel=1e-3)
    assert store["dedup_ratio"] > 1
    disk = s["disk"]
    assert disk["path"].endswith("data")
    assert 0 < disk["free_bytes"] <= disk["total_bytes"]
    assert disk["used_bytes"] <= disk["total_bytes"] and disk["database_bytes"] > 0
    m = s["maintenance"]
    assert m["runs_failed"] == 0 and m["last_error"] is None and m["interval_s"] > 0
    assert s["backup"] is None  # none configured


@pytest.fixture(scope="module")
def backup_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server whose backup bucket cannot be reached (nothing listens there)."""
    env = {"SELFDRIVE_BACKUP_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
           "SELFDRIVE_BACKUP_BUCKET": "gone", "SELFDRIVE_BACKUP_ACCESS_KEY_ID": "test",
           "SELFDRIVE_BACKUP_SECRET_ACCESS_KEY": "test", "SELFDRIVE_BACKUP_MAX_BACKOFF_S": "1"}
    srv = Server(data_dir=tmp_path_factory.mktemp("backup-srv") / "data", env=env)
    srv.start()
    yield srv
    srv.stop()


def test_status_shows_the_backup_and_its_last_error(backup_server: Server) -> None:
    with backup_server.client(backup_server.token()) as admin:
        with backup_server.client(backup_server.token()) as c:
            c.put("/files/content", params={"path": "/x.bin"}, content=os.urandom(5000))
        deadline = time.monotonic() + 30
        while True:
            backup = admin.get("/admin/status").json()["backup"]
            primary = backup["targets"][0]
            # the error is on record a moment before the loop marks the bucket down
            down = primary["last_error"] and not primary["healthy"]
            if down or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert primary["name"] == "primary" and "gone" in primary["where"]
    assert primary["last_error"] and primary["last_error_at"]
    assert primary["healthy"] is False
    assert primary["pending_blocks"] >= 1 and primary["pending_bytes"] > 0
