"""GET /users?q=: the usernames the share dialog suggests.  A signed-in
user learns other users' usernames by their first letters and nothing else;
the caller is never suggested; people they share with come first."""

from __future__ import annotations

import secrets

import httpx

from tests.conftest import Server


def _names(c: httpx.Client, q: str, **params: str | int) -> list[str]:
    r = c.get("/users", params={"q": q, **params})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"users"}
    for u in body["users"]:
        assert set(u) == {"username"}  # nothing else about anyone
    return [u["username"] for u in body["users"]]


def test_a_prefix_finds_usernames_any_case_never_the_caller(server: Server) -> None:
    stem = "p" + secrets.token_hex(3)
    _, token = server.add_user(f"{stem}me")
    others = [server.add_user(f"{stem}{x}")[0] for x in ("anna", "Anton", "ben")]
    server.add_user("zz" + stem)  # holds the stem, does not start with it
    with server.client(token) as c:
        assert _names(c, stem) == sorted(others)
        assert _names(c, f"{stem}AN") == [f"{stem}Anton", f"{stem}anna"]
        assert _names(c, f"{stem}me") == []
        assert _names(c, stem, limit=2) == sorted(others)[:2]


def test_like_wildcards_in_q_are_plain_characters(server: Server) -> None:
    stem = "w" + secrets.token_hex(3)
    _, token = server.add_user(f"{stem}_x")
    other = server.add_user(f"{stem}_y")[0]
    server.add_user(f"{stem}ay")  # '_' must not match 'a'
    with server.client(token) as c:
        assert _names(c, f"{stem}_") == [other]
        assert _names(c, f"{stem}%") == []


def test_people_i_share_with_come_first(server: Server) -> None:
    stem = "k" + secrets.token_hex(3)
    _, token = server.add_user(f"{stem}owner")
    names = [server.add_user(f"{stem}{x}")[0] for x in ("a", "b", "c")]
    with server.client(token) as c:
        assert c.post("/files/mkdir", json={"path": "/Box"}).status_code == 201
        r = c.post("/shares", json={"path": "/Box", "user": names[2], "role": "viewer"})
        assert r.status_code == 201, r.text
        assert _names(c, stem) == [names[2], names[0], names[1]]
    # and the other way round: someone who shares with me
    with server.client(server.token(names[2], "user-password-1")) as c:
        assert _names(c, stem)[0] == f"{stem}owner"


def test_at_most_ten_by_default_and_up_to_twenty_when_asked(server: Server) -> None:
    stem = "m" + secrets.token_hex(3)
    _, token = server.add_user(f"{stem}00")
    for i in range(1, 13):
        server.add_user(f"{stem}{i:02d}")
    with server.client(token) as c:
        assert len(_names(c, stem)) == 10
        assert len(_names(c, stem, limit=20)) == 12
        assert c.get("/users", params={"q": stem, "limit": 21}).status_code == 400


def test_bad_queries_are_400(server: Server) -> None:
    _, token = server.add_user()
    with server.client(token) as c:
        assert c.get("/users").status_code == 400
        assert c.get("/users", params={"q": ""}).status_code == 400
        assert c.get("/users", params={"q": "x" * 65}).status_code == 400


def test_nobody_signed_in_gets_401(server: Server) -> None:
    name, _ = server.add_user()
    with server.client() as c:
        r = c.get("/users", params={"q": name[:2]})
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "unauthenticated"
        assert name not in r.text
    with server.client("not-a-token") as c:
        assert c.get("/users", params={"q": name[:2]}).status_code == 401


def test_disabled_accounts_are_not_suggested(server: Server, admin_token: str) -> None:
    stem = "d" + secrets.token_hex(3)
    _, token = server.add_user(f"{stem}me")
    gone = server.add_user(f"{stem}gone")[0]
    with server.client(admin_token) as admin, server.client(token) as c:
        assert _names(c, stem) == [gone]
        [row] = [u for u in admin.get("/admin/users").json()["users"] if u["username"] == gone]
        assert admin.patch(f"/admin/users/{row['id']}", json={"disabled": True}).status_code == 200
        assert _names(c, stem) == []
