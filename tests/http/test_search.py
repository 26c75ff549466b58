"""GET /files/search on the real server: case and accents, below a folder,
ordering and paging, the trash, shares, and never another user's files."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Server


def put(c: httpx.Client, *paths: str) -> None:
    for path in paths:
        assert c.put("/files/content", params={"path": path}, content=b"x").status_code == 201


def search(c: httpx.Client, q: str, **params: Any) -> list[str]:
    r = c.get("/files/search", params={"q": q, **params})
    assert r.status_code == 200, r.text
    return [e["path"] for e in r.json()["entries"]]


def test_case_accents_and_forms(api: httpx.Client) -> None:
    put(api, "/CV/Résumé.pdf", "/CV/resume-2019.TXT", "/CV/re\u0301sume\u0301 (nfd).doc",
        "/Straße.txt", "/other.txt")
    # path order, by code point: "R" < "r", "e" < "é"; the NFD name is stored NFC
    expected = ["/CV/Résumé.pdf", "/CV/resume-2019.TXT", "/CV/résumé (nfd).doc"]
    assert search(api, "resume") == expected
    assert search(api, "RÉSUMÉ") == expected
    assert search(api, "re\u0301sume\u0301") == expected
    assert search(api, "STRASSE") == ["/Straße.txt"]
    assert search(api, "ß") == ["/Straße.txt"]
    assert search(api, "nothing like it") == []


def test_entries_have_the_listing_shape(api: httpx.Client) -> None:
    put(api, "/Photos/2024/beach.jpg")
    r = api.get("/files/search", params={"q": "2024"})
    body = r.json()
    assert body["folder"]["path"] == "/" and body["next_after"] is None
    assert [e["path"] for e in body["entries"]] == ["/Photos/2024"]
    assert body["entries"][0]["kind"] == "folder"
    beach = api.get("/files/search", params={"q": "BEACH"}).json()["entries"][0]
    listed = api.get("/files/list", params={"path": "/Photos/2024"}).json()["entries"][0]
    assert beach == listed


def test_below_a_folder_only(api: httpx.Client) -> None:
    put(api, "/a/report.txt", "/a/b/report.txt", "/ab/report.txt", "/report.txt")
    assert search(api, "report", path="/a") == ["/a/b/report.txt", "/a/report.txt"]
    assert search(api, "report") == ["/a/b/report.txt", "/a/report.txt", "/ab/report.txt",
                                     "/report.txt"]
    assert search(api, "a", path="/a") == []  # not the folder itself
    assert search(api, "b", path="/a") == ["/a/b"]
    r = api.get("/files/search", params={"q": "x", "path": "/report.txt"})
    assert r.status_code == 409
    assert api.get("/files/search", params={"q": "x", "path": "/nope"}).status_code == 404


def test_paging(api: httpx.Client) -> None:
    put(api, *[f"/many/f{i:03d}.log" for i in range(25)])
    seen: list[str] = []
    after = None
    while True:
        params: dict[str, Any] = {"q": ".LOG", "limit": 10}
        if after is not None:
            params["after"] = after
        body = api.get("/files/search", params=params).json()
        seen += [e["path"] for e in body["entries"]]
        after = body["next_after"]
        if after is None:
            break
        assert len(body["entries"]) == 10
    assert seen == [f"/many/f{i:03d}.log" for i in range(25)]


def test_the_trash_is_not_searched(api: httpx.Client) -> None:
    put(api, "/keep/photo1.jpg", "/gone/photo2.jpg", "/keep/photo3.jpg")
    assert api.post("/files/delete", json={"path": "/gone"}).status_code == 200
    assert api.post("/files/delete", json={"path": "/keep/photo3.jpg"}).status_code == 200
    assert search(api, "photo") == ["/keep/photo1.jpg"]


def test_bad_queries(api: httpx.Client) -> None:
    cases: list[dict[str, Any]] = [{"q": ""}, {"q": "x" * 256}, {}, {"q": "a", "limit": 0},
             {"q": "a", "limit": 1001}, {"q": "a", "path": "/a", "after": "/b/c"}]
    for params in cases:
        r = api.get("/files/search", params=params)
        assert r.status_code == 400, (params, r.text)
        assert r.json()["error"]["code"] == "bad_request"
    assert api.get("/files/search", params={"q": "x" * 255}).status_code == 200


def test_shares_and_other_users(server: Server) -> None:
    owner_name, owner_token = server.add_user()
    viewer_name, viewer_token = server.add_user()
    with server.client(owner_token) as owner, server.client(viewer_token) as viewer:
        put(owner, "/Team/plan-secret.txt", "/Team/sub/plan-b.txt", "/private-plan.txt")
        put(viewer, "/my-plan.txt")
        assert search(viewer, "plan") == ["/my-plan.txt"]  # never the owner's
        r = owner.post("/shares", json={"path": "/Team", "user": viewer_name,
                                        "role": "viewer"})
        assert r.status_code == 201, r.text
        inside = ["/Shared with me/Team/plan-secret.txt", "/Shared with me/Team/sub/plan-b.txt"]
        assert search(viewer, "PLAN", path="/Shared with me/Team") == inside
        assert search(viewer, "plan", path="/Shared with me/Team/sub") == [inside[1]]
        assert search(viewer, "plan", path="/Shared with me") == inside
        assert search(viewer, "plan") == ["/Shared with me/Team/plan-secret.txt",
                                          "/Shared with me/Team/sub/plan-b.txt",
                                          "/my-plan.txt"]
        assert search(viewer, "team") == ["/Shared with me/Team"]
        assert "/private-plan.txt" not in search(owner, "plan", path="/Team")
        assert search(owner, "plan") == ["/Team/plan-secret.txt", "/Team/sub/plan-b.txt",
                                         "/private-plan.txt"]
        assert viewer.get("/files/search", params={"q": "plan", "path": "/Team"}
                          ).status_code == 404
    assert owner_name


def test_needs_sign_in(server: Server) -> None:
    r = httpx.get(server.base_url + "/api/v1/files/search", params={"q": "a"})
    assert r.status_code == 401


def test_matches_say_the_callers_role_and_marks_as_listings_do(server: Server) -> None:
    """A search from / finds the caller's own files (owner, with their
    sharing marks) and files in shares (the share's role and owner) with the
    same fields as a listing of their folder, so the web UI offers the same
    actions on a match as in its folder."""
    anna, anna_token = server.add_user()
    ben, ben_token = server.add_user()
    with server.client(anna_token) as a, server.client(ben_token) as b:
        put(a, "/Plans/budget-2025.txt", "/Plans/budget-2026.txt")
        for path, role in (("/Plans/budget-2025.txt", "viewer"),
                           ("/Plans/budget-2026.txt", "editor")):
            assert a.post("/shares", json={"path": path, "user": ben, "role": role}
                          ).status_code == 201
        put(b, "/budget-mine.txt")
        found = b.get("/files/search", params={"q": "budget"}).json()["entries"]
        assert {e["path"]: (e["role"], e.get("owner")) for e in found} == {
            "/Shared with me/budget-2025.txt": ("viewer", anna),
            "/Shared with me/budget-2026.txt": ("editor", anna),
            "/budget-mine.txt": ("owner", None),
        }
        for e in found:
            folder = e["path"].rsplit("/", 1)[0] or "/"
            listed = {x["path"]: x for x in b.get("/files/list", params={"path": folder}
                                                  ).json()["entries"]}
            assert e == listed[e["path"]]
        mine = a.get("/files/search", params={"q": "budget"}).json()["entries"]
        assert [(e["role"], e["shared"]) for e in mine] == [("owner", True), ("owner", True)]
