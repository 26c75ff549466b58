"""GET /files/list?recursive=true: everything under a folder, in path-segment
order, paged by path, against the real server."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Server

SHARED = "/Shared with me"


def _put(api: httpx.Client, *paths: str) -> None:
    for path in paths:
        r = api.put("/files/content", params={"path": path}, content=path.encode())
        assert r.status_code == 201, r.text


def _list(api: httpx.Client, path: str, limit: int = 10_000) -> list[dict[str, Any]]:
    """Every entry, page by page, passing next_after on."""
    out: list[dict[str, Any]] = []
    params: dict[str, Any] = {"path": path, "recursive": "true", "limit": limit}
    while True:
        r = api.get("/files/list", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["entries"]) <= limit
        out += body["entries"]
        if body["next_after"] is None:
            return out
        assert body["next_after"] == body["entries"][-1]["path"]
        params["after"] = body["next_after"]


def test_order_is_by_path_segments_and_a_folder_precedes_its_contents(
    api: httpx.Client,
) -> None:
    _put(api, "/t/a-b", "/t/a b", "/t/a/b", "/t/a/b c/d", "/t/a.b", "/t/B", "/t/é/x",
         "/t/e/x", "/t/a/b-c")
    api.post("/files/mkdir", json={"path": "/t/empty"})
    expected = ["/t/B", "/t/a", "/t/a/b", "/t/a/b c", "/t/a/b c/d", "/t/a/b-c", "/t/a b",
                "/t/a-b", "/t/a.b", "/t/e", "/t/e/x", "/t/empty", "/t/é", "/t/é/x"]
    everything = _list(api, "/t")
    assert [e["path"] for e in everything] == expected
    assert {e["kind"] for e in everything if e["path"] in ("/t/a", "/t/e", "/t/empty")} == {
        "folder"}
    assert all(e["id"] > 0 for e in everything)
    r = api.get("/files/list", params={"path": "/t", "recursive": "true"}).json()
    assert r["folder"]["path"] == "/t" and r["next_after"] is None
    # Every page size gives the same entries, across folder boundaries.
    for limit in (1, 2, 3, 5):
        assert [e["path"] for e in _list(api, "/t", limit)] == expected
    # The root lists the same, one level up.
    assert [e["path"] for e in _list(api, "/", 4)] == ["/t", *expected]
    # A one-level listing is unchanged.
    flat = api.get("/files/list", params={"path": "/t", "limit": 2}).json()
    assert [e["name"] for e in flat["entries"]] == ["B", "a"] and flat["next_after"] == "a"


def test_paging_goes_on_after_the_last_path_even_if_it_is_gone(api: httpx.Client) -> None:
    _put(api, "/p/a/1", "/p/a/2", "/p/b/1", "/p/c")
    first = api.get("/files/list", params={"path": "/p", "recursive": "true", "limit": 2}).json()
    assert [e["path"] for e in first["entries"]] == ["/p/a", "/p/a/1"]
    assert first["next_after"] == "/p/a/1"
    api.post("/files/delete", json={"path": "/p/a"})  # between two pages
    _put(api, "/p/a0")  # sorts after /p/a/...: the next page has it
    r = api.get("/files/list", params={"path": "/p", "recursive": "true",
                                        "after": first["next_after"]}).json()
    assert [e["path"] for e in r["entries"]] == ["/p/a0", "/p/b", "/p/b/1", "/p/c"]


def test_bad_recursive_listings(api: httpx.Client) -> None:
    _put(api, "/q/f.txt", "/other/g.txt")

    def get(**params: Any) -> httpx.Response:
        return api.get("/files/list", params={"recursive": "true", **params})

    r = get(path="/q", after="/other/g.txt")
    assert r.status_code == 400 and "inside" in r.json()["error"]["message"]
    assert get(path="/q", after="f.txt").status_code == 400  # a name is no path
    r = get(path="/q/f.txt")
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_a_folder"
    assert get(path="/nope").status_code == 404
    assert get(path="/q", recursive="perhaps").status_code == 400
    assert [e["path"] for e in get(path="/q", after="/q").json()["entries"]] == ["/q/f.txt"]


def test_shares_are_listed_under_shared_with_me(server: Server, api: httpx.Client) -> None:
    me = api.get("/me").json()["username"]
    _put(api, "/Zeta/z", "/alpha")
    _, token = server.add_user()
    with server.client(token) as theirs:
        _put(theirs, "/Trip/plan.txt", "/Trip/maps/m1", "/notes.txt", "/private.txt")
        for path in ("/Trip", "/notes.txt"):
            r = theirs.post("/shares", json={"path": path, "user": me, "role": "viewer"})
            assert r.status_code == 201, r.text
        trip_id = theirs.get("/files/metadata", params={"path": "/Trip"}).json()["id"]
    expected_shared = [SHARED, f"{SHARED}/Trip", f"{SHARED}/Trip/maps", f"{SHARED}/Trip/maps/m1",
                       f"{SHARED}/Trip/plan.txt", f"{SHARED}/notes.txt"]
    expected = [*expected_shared, "/Zeta", "/Zeta/z", "/alpha"]
    for limit in (1, 2, 4, 100):
        got = _list(api, "/", limit)
        assert [e["path"] for e in got] == expected, limit
    by_path = {e["path"]: e for e in _list(api, "/")}
    assert by_path[SHARED]["id"] == 0 and by_path[SHARED]["kind"] == "folder"
    assert by_path[f"{SHARED}/Trip"]["id"] == trip_id
    assert by_path[f"{SHARED}/Trip"]["name"] == "Trip"
    assert by_path[f"{SHARED}/notes.txt"]["kind"] == "file"

    for limit in (1, 3, 100):
        assert [e["path"] for e in _list(api, SHARED, limit)] == expected_shared[1:]
    assert [e["path"] for e in _list(api, f"{SHARED}/Trip", 1)] == expected_shared[2:5]
    # A page that ends inside a share goes on inside it.
    r = api.get("/files/list", params={"path": "/", "recursive": "true",
                                        "after": f"{SHARED}/Trip/maps"}).json()
    assert [e["path"] for e in r["entries"]] == expected[3:]
    # Below another folder, shares are not listed.
    assert [e["path"] for e in _list(api, "/Zeta")] == ["/Zeta/z"]
