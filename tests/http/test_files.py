"""Upload, download, revisions and tree operations through the real server."""

from __future__ import annotations

import os

import httpx
import pytest

from tests.conftest import Server


def put(c: httpx.Client, path: str, data: bytes, **params: int) -> httpx.Response:
    return c.put("/files/content", params={"path": path, **params}, content=data)


def test_upload_creates_parents_and_downloads_back(api: httpx.Client) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    r = put(api, "/a/b/c.bin", data)
    assert r.status_code == 201, r.text
    entry = r.json()
    assert entry["path"] == "/a/b/c.bin" and entry["rev"] == 1 and entry["size"] == len(data)
    got = api.get("/files/content", params={"path": "/a/b/c.bin"})
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-length"] == str(len(data))
    assert got.headers["etag"] == f'"{entry["content_hash"]}"'
    listing = api.get("/files/list", params={"path": "/a"}).json()
    assert [(e["name"], e["kind"]) for e in listing["entries"]] == [("b", "folder")]


def test_streamed_body_without_length(api: httpx.Client) -> None:
    chunks = [os.urandom(100_000) for _ in range(30)]
    r = api.put("/files/content", params={"path": "/chunked.bin"}, content=iter(chunks))
    assert r.status_code == 201, r.text
    assert api.get("/files/content", params={"path": "/chunked.bin"}).content == b"".join(chunks)


def test_empty_file(api: httpx.Client) -> None:
    r = put(api, "/empty", b"")
    assert r.status_code == 201 and r.json()["size"] == 0
    got = api.get("/files/content", params={"path": "/empty"})
    assert got.status_code == 200 and got.content == b""


def test_media_and_multipart_uploads(api: httpx.Client) -> None:
    r = api.post("/files/upload", params={"uploadType": "media", "path": "/m/one.txt"},
                 content=b"one")
    assert r.status_code == 201, r.text
    assert [e["path"] for e in r.json()["entries"]] == ["/m/one.txt"]
    big = os.urandom(2_500_000)
    r = api.post("/files/upload", params={"uploadType": "multipart", "path": "/form"},
                 data={"note": "ignored"},
                 files=[("file", ("a.txt", b"alpha", "text/plain")),
                        ("file", ("b.bin", big, "application/octet-stream")),
                        ("file", ("sub/c.txt", b"gamma", "text/plain"))])
    assert r.status_code == 201, r.text
    assert [e["path"] for e in r.json()["entries"]] == ["/form/a.txt", "/form/b.bin",
                                                        "/form/sub/c.txt"]
    assert api.get("/files/content", params={"path": "/form/b.bin"}).content == big
    assert api.get("/files/content", params={"path": "/form/sub/c.txt"}).content == b"gamma"


def test_bad_upload_requests(api: httpx.Client) -> None:
    r = api.post("/files/upload", params={"uploadType": "bogus", "path": "/x"}, content=b"x")
    assert r.status_code == 400
    r = api.post("/files/upload", params={"uploadType": "multipart", "path": "/x"},
                 content=b"not a form", headers={"content-type": "text/plain"})
    assert r.status_code == 400
    r = api.post("/files/upload", params={"uploadType": "multipart", "path": "/x"},
                 content=b"--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a\""
                         b"\r\n\r\ntruncated", headers={"content-type":
                                                        "multipart/form-data; boundary=b"})
    assert r.status_code == 400
    assert api.get("/files/metadata", params={"path": "/x/a"}).status_code == 404


def test_new_revision_and_base_rev_conflict(api: httpx.Client) -> None:
    assert put(api, "/doc.txt", b"v1").json()["rev"] == 1
    assert put(api, "/doc.txt", b"v2", base_rev=1).json()["rev"] == 2
    r = put(api, "/doc.txt", b"v3 from a stale device", base_rev=1)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "conflict"
    assert r.json()["error"]["current_rev"] == 2
    assert api.get("/files/content", params={"path": "/doc.txt"}).content == b"v2"
    r = put(api, "/new.txt", b"x", base_rev=0)
    assert r.status_code == 201
    assert put(api, "/new.txt", b"y", base_rev=0).status_code == 409
    revs = api.get("/files/list_revisions", params={"path": "/doc.txt"}).json()["revisions"]
    assert [r["rev"] for r in revs] == [2, 1]
    assert revs[0]["author"] and revs[0]["device"] == "pytest"
    assert api.get("/files/content", params={"path": "/doc.txt", "rev": 1}).content == b"v1"
    r = api.get("/files/content", params={"path": "/doc.txt", "rev": 9})
    assert r.status_code == 404 and r.json()["error"]["code"] == "revision_not_found"
    limited = api.get("/files/list_revisions", params={"path": "/doc.txt", "limit": 1}).json()
    assert [r["rev"] for r in limited["revisions"]] == [2]


def test_file_and_folder_in_the_way(api: httpx.Client) -> None:
    put(api, "/f.txt", b"file")
    r = put(api, "/f.txt/inner.txt", b"x")
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_a_folder"
    api.post("/files/mkdir", json={"path": "/dir"})
    r = put(api, "/dir", b"x")
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_a_file"
    r = api.get("/files/list", params={"path": "/f.txt"})
    assert r.status_code == 409
    r = api.get("/files/content", params={"path": "/dir"})
    assert r.status_code == 409


@pytest.mark.parametrize("bad", [
    "relative.txt", "/a/../b", "/a/./b", "/a//b", "/a\x00b", "/a\x01b", "/" + "n" * 256,
    "/a/\x7f",
])
def test_bad_paths_are_refused(api: httpx.Client, bad: str) -> None:
    r = put(api, bad, b"x")
    assert r.status_code == 400, (bad, r.text)
    assert r.json()["error"]["code"] == "invalid_path"
    assert api.get("/files/list", params={"path": "/"}).json()["entries"] == []


def test_nfc_normalisation(api: httpx.Client) -> None:
    put(api, "/cafe\u0301.txt", b"nfd")
    assert api.get("/files/content", params={"path": "/caf\u00e9.txt"}).content == b"nfd"
    names = [e["name"] for e in api.get("/files/list", params={"path": "/"}).json()["entries"]]
    assert names == ["caf\u00e9.txt"]


def test_long_but_valid_name(api: httpx.Client) -> None:
    name = "é" * 127  # 254 bytes in UTF-8
    assert put(api, "/" + name, b"x").status_code == 201


def test_ranges_and_etags(api: httpx.Client) -> None:
    data = os.urandom(5 * 1024 * 1024)
    etag = f'"{put(api, "/r.bin", data).json()["content_hash"]}"'

    def get(**headers: str) -> httpx.Response:
        return api.get("/files/content", params={"path": "/r.bin"}, headers=headers)

    r = get(Range="bytes=100-199")
    assert r.status_code == 206 and r.content == data[100:200]
    assert r.headers["content-range"] == f"bytes 100-199/{len(data)}"
    r = get(Range="bytes=1048000-3000000")  # across block boundaries
    assert r.status_code == 206 and r.content == data[1048000:3000001]
    r = get(Range="bytes=-10")
    assert r.content == data[-10:]
    r = get(Range=f"bytes={len(data) - 5}-")
    assert r.content == data[-5:]
    r = get(Range=f"bytes=0-{len(data) * 2}")
    assert r.status_code == 206 and r.content == data
    r = get(Range=f"bytes={len(data)}-")
    assert r.status_code == 416
    assert r.headers["content-range"] == f"bytes */{len(data)}"
    assert r.json()["error"]["code"] == "invalid_range"
    r = get(Range="bytes=0-1,5-6")  # several ranges: the whole file
    assert r.status_code == 200 and len(r.content) == len(data)
    r = get(Range="pages=1-2")
    assert r.status_code == 200
    assert get(**{"If-None-Match": etag}).status_code == 304
    assert get(**{"If-None-Match": '"other"'}).status_code == 200
    r = get(Range="bytes=0-9", **{"If-Range": '"stale"'})
    assert r.status_code == 200 and len(r.content) == len(data)
    r = get(Range="bytes=0-9", **{"If-Range": etag})
    assert r.status_code == 206


def test_content_is_never_a_page(api: httpx.Client) -> None:
    evil = b"<html><script>alert(document.cookie)</script></html>"
    for name in ("evil.html", "evil.svg", "evil.xml", "noext", "evil.htm"):
        put(api, "/" + name, evil)
        r = api.get("/files/content", params={"path": "/" + name})
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in r.headers["content-security-policy"]
        assert r.headers["content-disposition"].startswith("attachment")
        assert r.headers["content-type"] == "application/octet-stream"
    put(api, "/photo.png", b"\x89PNG fake")
    r = api.get("/files/content", params={"path": "/photo.png"})
    assert r.headers["content-type"] == "image/png"
    assert r.headers["content-disposition"].startswith("inline")
    assert "sandbox" in r.headers["content-security-policy"]
    r = api.get("/files/download", params={"path": "/photo.png"})
    assert r.headers["content-disposition"].startswith("attachment")
    put(api, "/naïve \"quote\".txt", b"x")
    r = api.get("/files/download", params={"path": "/naïve \"quote\".txt"})
    assert "filename*=UTF-8''na%C3%AFve%20%22quote%22.txt" in r.headers["content-disposition"]


def test_mkdir_move_copy_delete(api: httpx.Client) -> None:
    assert api.post("/files/mkdir", json={"path": "/p/q"}).status_code == 201
    assert api.post("/files/mkdir", json={"path": "/p/q"}).status_code == 409
    put(api, "/p/q/a.txt", b"aaa")
    put(api, "/p/b.txt", b"bbb")
    r = api.post("/files/move", json={"from_path": "/p/q", "to_path": "/moved/q2"})
    assert r.status_code == 200 and r.json()["path"] == "/moved/q2"
    assert api.get("/files/content", params={"path": "/moved/q2/a.txt"}).content == b"aaa"
    assert api.get("/files/metadata", params={"path": "/p/q"}).status_code == 404
    r = api.post("/files/move", json={"from_path": "/moved", "to_path": "/moved/q2/inside"})
    assert r.status_code == 400
    r = api.post("/files/move", json={"from_path": "/p/b.txt", "to_path": "/moved/q2/a.txt"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_exists"
    r = api.post("/files/move", json={"from_path": "/nope", "to_path": "/x"})
    assert r.status_code == 404

    used = api.get("/me").json()["used_bytes"]
    r = api.post("/files/copy", json={"from_path": "/moved", "to_path": "/copy"})
    assert r.status_code == 201, r.text
    assert api.get("/files/content", params={"path": "/copy/q2/a.txt"}).content == b"aaa"
    assert api.get("/me").json()["used_bytes"] == used + 3
    copied = api.get("/files/blocklist", params={"path": "/copy/q2/a.txt"}).json()
    original = api.get("/files/blocklist", params={"path": "/moved/q2/a.txt"}).json()
    assert copied["blocks"] == original["blocks"]
    put(api, "/copy/q2/a.txt", b"changed")
    assert api.get("/files/content", params={"path": "/moved/q2/a.txt"}).content == b"aaa"

    r = api.post("/files/delete", json={"path": "/copy"})
    assert r.status_code == 200
    assert api.get("/files/metadata", params={"path": "/copy/q2/a.txt"}).status_code == 404
    assert api.post("/files/delete", json={"path": "/copy"}).status_code == 404
    assert api.post("/files/delete", json={"path": "/"}).status_code == 400
    # the name is free again after a delete
    assert put(api, "/copy", b"new file where the folder was").status_code == 201


def test_listing_pages(api: httpx.Client) -> None:
    for i in range(25):
        put(api, f"/many/{i:03d}.txt", b"x")
    seen: list[str] = []
    after = None
    while True:
        params: dict[str, str | int] = {"path": "/many", "limit": 10}
        if after:
            params["after"] = after
        page = api.get("/files/list", params=params).json()
        seen += [e["name"] for e in page["entries"]]
        after = page["next_after"]
        if after is None:
            break
    assert seen == [f"{i:03d}.txt" for i in range(25)]


def test_quota_is_enforced_and_nothing_is_stored(server: Server) -> None:
    _, token = server.add_user(quota="1MB")
    with server.client(token) as c:
        assert put(c, "/fits.bin", os.urandom(600_000)).status_code == 201
        r = put(c, "/too-big.bin", os.urandom(600_000))
        assert r.status_code == 507 and r.json()["error"]["code"] == "quota_exceeded"
        r = c.put("/files/content", params={"path": "/chunked-too-big.bin"},
                  content=iter([os.urandom(100_000) for _ in range(6)]))
        assert r.status_code == 507
        assert [e["name"] for e in c.get("/files/list", params={"path": "/"}).json()["entries"]] \
            == ["fits.bin"]
        assert c.get("/me").json()["used_bytes"] == 600_000
        # replacing a file only needs room for the difference
        assert put(c, "/fits.bin", os.urandom(900_000)).status_code == 201
        r = c.post("/files/copy", json={"from_path": "/fits.bin", "to_path": "/copy.bin"})
        assert r.status_code == 507


def test_users_cannot_see_each_other(server: Server) -> None:
    _, a = server.add_user()
    _, b = server.add_user()
    with server.client(a) as ca, server.client(b) as cb:
        put(ca, "/secret.txt", b"alice's secret")
        assert cb.get("/files/content", params={"path": "/secret.txt"}).status_code == 404
        assert cb.get("/files/list", params={"path": "/"}).json()["entries"] == []


def _block_files(server: Server) -> set[str]:
    return {p.name for p in (server.data_dir / "blocks").rglob("*") if p.is_file()}


def test_same_content_twice_or_copied_stores_no_new_block(server: Server) -> None:
    _, token = server.add_user()
    data = os.urandom(3_000_000)
    with server.client(token) as c:
        put(c, "/one.bin", data)
        before = _block_files(server)
        put(c, "/two.bin", data)
        put(c, "/one.bin", data)  # a new revision, same content
        c.post("/files/copy", json={"from_path": "/one.bin", "to_path": "/three.bin"})
        assert _block_files(server) == before
        assert len(c.get("/files/list_revisions", params={"path": "/one.bin"}).json()[
            "revisions"]) == 2


def test_every_change_is_journaled_in_its_transaction(server: Server) -> None:
    import sqlite3

    name, token = server.add_user()
    with server.client(token) as c:
        put(c, "/j/a.txt", b"1")
        put(c, "/j/a.txt", b"2")
        c.post("/files/move", json={"from_path": "/j/a.txt", "to_path": "/j/b.txt"})
        c.post("/files/copy", json={"from_path": "/j/b.txt", "to_path": "/k/c.txt"})
        c.post("/files/delete", json={"path": "/j"})
        put(c, "/refused.txt", b"x", base_rev=5)  # a 409 journals nothing
    db = sqlite3.connect(f"file:{server.data_dir / 'meta.db'}?mode=ro", uri=True)
    rows = db.execute(
        "SELECT c.op, c.path, c.old_path, c.rev FROM changes c JOIN users u ON u.id = c.user_id"
        " WHERE u.name = ? ORDER BY c.seq", (name,)).fetchall()
    db.close()
    assert rows == [
        ("mkdir", "/j", None, None),
        ("add", "/j/a.txt", None, 1),
        ("modify", "/j/a.txt", None, 2),
        ("move", "/j/b.txt", "/j/a.txt", 2),
        ("mkdir", "/k", None, None),
        ("add", "/k/c.txt", None, 1),
        ("delete", "/j", None, None),
    ]
