"""Restore, pins, and the trash through the HTTP API."""

from __future__ import annotations

import httpx

from tests.conftest import Server


def put(c: httpx.Client, path: str, data: bytes) -> httpx.Response:
    return c.put("/files/content", params={"path": path}, content=data)


def content(c: httpx.Client, path: str, rev: int | None = None) -> bytes:
    params: dict[str, str | int] = {"path": path}
    if rev:
        params["rev"] = rev
    r = c.get("/files/content", params=params)
    assert r.status_code == 200, r.text
    return r.content


def test_restore_revision(api: httpx.Client) -> None:
    put(api, "/r.txt", b"first")
    put(api, "/r.txt", b"second")
    r = api.post("/files/restore", json={"path": "/r.txt", "rev": 1})
    assert r.status_code == 201 and r.json()["rev"] == 3
    assert content(api, "/r.txt") == b"first"
    assert content(api, "/r.txt", 2) == b"second"
    revs = api.get("/files/list_revisions", params={"path": "/r.txt"}).json()["revisions"]
    assert [x["rev"] for x in revs] == [3, 2, 1]
    assert revs[0]["content_hash"] == revs[2]["content_hash"]
    assert api.post("/files/restore", json={"path": "/r.txt", "rev": 7}).status_code == 404
    assert api.post("/files/restore", json={"path": "/nope", "rev": 1}).status_code == 404
    assert api.post("/files/restore", json={"path": "/r.txt", "rev": 0}).status_code == 400
    api.post("/files/mkdir", json={"path": "/d"})
    assert api.post("/files/restore", json={"path": "/d", "rev": 1}).status_code == 409


def test_pin_revision(api: httpx.Client) -> None:
    put(api, "/p.txt", b"1")
    put(api, "/p.txt", b"2")
    r = api.post("/files/pin_revision", json={"path": "/p.txt", "rev": 1})
    assert r.status_code == 200 and r.json()["pinned"] is True
    revs = api.get("/files/list_revisions", params={"path": "/p.txt"}).json()["revisions"]
    assert [x["pinned"] for x in revs] == [False, True]
    r = api.post("/files/pin_revision", json={"path": "/p.txt", "rev": 1, "pinned": False})
    assert r.json()["pinned"] is False
    assert api.post("/files/pin_revision", json={"path": "/p.txt", "rev": 5}).status_code == 404


def test_trash_list_restore_purge(server: Server) -> None:
    name, token = server.add_user()
    with server.client(token) as c:
        put(c, "/docs/a.txt", b"aaaa")
        put(c, "/docs/sub/b.txt", b"bb")
        put(c, "/c.txt", b"c")
        assert c.post("/files/delete", json={"path": "/docs"}).status_code == 200
        assert c.post("/files/delete", json={"path": "/c.txt"}).status_code == 200
        entries = c.get("/trash").json()["entries"]
        assert [(e["path"], e["kind"], e["size"]) for e in entries] == [
            ("/c.txt", "file", 1), ("/docs", "folder", 6)]
        assert all(e["deleted_by"] == name and e["deleted_at"] > 0 for e in entries)
        assert c.get("/me").json()["used_bytes"] == 7, "the trash counts toward the quota"

        # restore a folder: it comes back whole, at its path
        docs = next(e for e in entries if e["path"] == "/docs")
        r = c.post("/trash/restore", json={"id": docs["id"]})
        assert r.status_code == 200 and r.json()["path"] == "/docs"
        assert content(c, "/docs/sub/b.txt") == b"bb"
        assert [e["path"] for e in c.get("/trash").json()["entries"]] == ["/c.txt"]

        # restore where the name is taken now: beside it, as "(restored)"
        put(c, "/c.txt", b"new c")
        c_entry = c.get("/trash").json()["entries"][0]
        r = c.post("/trash/restore", json={"id": c_entry["id"]})
        assert r.json()["path"] == "/c (restored).txt"
        assert content(c, "/c (restored).txt") == b"c"
        assert content(c, "/c.txt") == b"new c"

        # restore into a folder that no longer exists: it is made again
        put(c, "/gone/deep/x.txt", b"x")
        c.post("/files/delete", json={"path": "/gone/deep/x.txt"})
        c.post("/files/delete", json={"path": "/gone"})
        x_entry = next(e for e in c.get("/trash").json()["entries"]
                       if e["path"] == "/gone/deep/x.txt")
        r = c.post("/trash/restore", json={"id": x_entry["id"]})
        assert r.json()["path"] == "/gone/deep/x.txt"
        assert content(c, "/gone/deep/x.txt") == b"x"

        # purge chosen entries, then all
        used = c.get("/me").json()["used_bytes"]
        gone_entry = c.get("/trash").json()["entries"][0]
        assert gone_entry["path"] == "/gone"
        r = c.post("/trash/purge", json={"ids": [gone_entry["id"]]})
        assert r.status_code == 200 and r.json() == {"files": 0, "bytes": 0}
        c.post("/files/delete", json={"path": "/docs"})
        r = c.post("/trash/purge", json={"all": True})
        assert r.json() == {"files": 2, "bytes": 6}
        assert c.get("/trash").json()["entries"] == []
        assert c.get("/me").json()["used_bytes"] == used - 6
        assert c.get("/files/metadata", params={"path": "/docs"}).status_code == 404


def test_trash_bad_requests(server: Server) -> None:
    _, a = server.add_user()
    _, b = server.add_user()
    with server.client(a) as ca, server.client(b) as cb:
        put(ca, "/mine.txt", b"x")
        ca.post("/files/delete", json={"path": "/mine.txt"})
        entry = ca.get("/trash").json()["entries"][0]
        # another user cannot see, restore or purge it
        assert cb.get("/trash").json()["entries"] == []
        assert cb.post("/trash/restore", json={"id": entry["id"]}).status_code == 404
        assert cb.post("/trash/purge", json={"ids": [entry["id"]]}).status_code == 404
        assert ca.post("/trash/purge", json={}).status_code == 400
        assert ca.post("/trash/purge", json={"ids": [1], "all": True}).status_code == 400
        assert ca.post("/trash/purge", json={"ids": [entry["id"], 999999]}).status_code == 404
        assert len(ca.get("/trash").json()["entries"]) == 1, "a refused purge purges nothing"


def test_a_file_deleted_before_its_folder_is_its_own_entry(server: Server) -> None:
    _, token = server.add_user()
    with server.client(token) as c:
        put(c, "/a/b/f.txt", b"f" * 1000)
        put(c, "/a/g.txt", b"g" * 10)
        put(c, "/a/h.txt", b"h" * 5)
        c.post("/files/delete", json={"path": "/a/b/f.txt"})
        c.post("/files/delete", json={"path": "/a/g.txt"})
        c.post("/files/delete", json={"path": "/a"})
        entries = {e["path"]: e["size"] for e in c.get("/trash").json()["entries"]}
        # three deletes, three entries; the folder counts only what it still held
        assert entries == {"/a": 5, "/a/g.txt": 10, "/a/b/f.txt": 1000}
        assert sum(entries.values()) == c.get("/me").json()["used_bytes"] == 1015
        a = next(e for e in c.get("/trash").json()["entries"] if e["path"] == "/a")
        c.post("/trash/restore", json={"id": a["id"]})
        assert c.get("/files/metadata", params={"path": "/a/g.txt"}).status_code == 404
        assert content(c, "/a/h.txt") == b"h" * 5
        assert {e["path"] for e in c.get("/trash").json()["entries"]} == {"/a/g.txt",
                                                                           "/a/b/f.txt"}
        assert c.post("/trash/purge", json={"all": True}).json() == {"files": 2, "bytes": 1010}
        assert c.get("/me").json()["used_bytes"] == 5
