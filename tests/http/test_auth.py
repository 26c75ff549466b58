"""Device tokens and the 401 answer for everything without one."""

from __future__ import annotations

import re

import httpx

from tests.conftest import ADMIN_PASSWORD, Server


def test_token_create_list_revoke(server: Server) -> None:
    name, token = server.add_user()
    with server.client(token) as c:
        other = server.token(name, "user-password-1", device="phone")
        devices = c.get("/auth/tokens").json()["devices"]
        assert [d["name"] for d in devices] == ["pytest", "phone"]
        assert [d["current"] for d in devices] == [True, False]
        phone_id = devices[1]["id"]
        assert c.delete(f"/auth/tokens/{phone_id}").status_code == 204
        assert [d["name"] for d in c.get("/auth/tokens").json()["devices"]] == ["pytest"]
    with server.client(other) as revoked:
        r = revoked.get("/me")
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "unauthenticated"


def test_cannot_revoke_someone_elses_device(server: Server) -> None:
    _, a = server.add_user()
    _, b = server.add_user()
    with server.client(b) as cb:
        b_device = cb.get("/auth/tokens").json()["devices"][0]["id"]
    with server.client(a) as ca:
        assert ca.delete(f"/auth/tokens/{b_device}").status_code == 404
    with server.client(b) as cb:
        assert cb.get("/me").status_code == 200


def test_wrong_password_and_unknown_user_look_the_same(server: Server) -> None:
    url = server.base_url + "/api/v1/auth/tokens"
    wrong = httpx.post(url, json={"username": "admin", "password": "nope-nope",
                                  "device_name": "x"})
    unknown = httpx.post(url, json={"username": "nobody", "password": "nope-nope",
                                    "device_name": "x"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


def test_token_request_validation(server: Server) -> None:
    url = server.base_url + "/api/v1/auth/tokens"
    r = httpx.post(url, json={"username": "admin", "password": ADMIN_PASSWORD})
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request"
    r = httpx.post(url, json={"username": "admin", "password": ADMIN_PASSWORD,
                              "device_name": ""})
    assert r.status_code == 400
    r = httpx.post(url, content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400
    r = httpx.post(url, content=b"username=admin",
                   headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400


def test_every_route_but_token_creation_needs_a_token(server: Server) -> None:
    spec = httpx.get(server.base_url + "/api/v1/openapi.json").json()
    checked = 0
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if "security" not in op:
                continue
            url = server.base_url + re.sub(
                r"\{[a-z_]+\}", "1", path.replace("{block_id}", "0" * 64)
            )
            for headers in ({}, {"Authorization": "Bearer sdt_forged"},
                            {"Authorization": "Basic YWRtaW46eA=="}):
                r = httpx.request(method.upper(), url, headers=headers)
                assert r.status_code == 401, (method, path, headers, r.text)
                if method != "head":  # HEAD answers carry no body
                    assert r.json()["error"]["code"] == "unauthenticated"
                checked += 1
    assert checked >= 3 * 15


def test_me_reports_quota(server: Server) -> None:
    _, token = server.add_user(quota="5MB")
    with server.client(token) as c:
        me = c.get("/me").json()
        assert me["quota_bytes"] == 5_000_000
        assert me["used_bytes"] == 0
        assert me["is_admin"] is False
        c.put("/files/content", params={"path": "/a.bin"}, content=b"x" * 1000)
        assert c.get("/me").json()["used_bytes"] == 1000
