"""What the desktop sync client needs of the API, against the real server:
stable node ids, the executable bit, deletes and moves guarded by base_rev."""

from __future__ import annotations

import base64
from typing import Any

import httpx

from selfdrive.core.blockhash import block_id
from tests.conftest import Server

TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = {"Content-Type": "application/offset+octet-stream", **TUS}


def _put(api: httpx.Client, path: str, data: bytes, **params: Any) -> dict[str, Any]:
    r = api.put("/files/content", params={"path": path, **params}, content=data)
    assert r.status_code == 201, r.text
    return dict(r.json())


def _meta(api: httpx.Client, path: str) -> dict[str, Any]:
    r = api.get("/files/metadata", params={"path": path})
    assert r.status_code == 200, r.text
    return dict(r.json())


def _changes(api: httpx.Client, cursor: str) -> list[dict[str, Any]]:
    r = api.get("/changes", params={"cursor": cursor, "limit": 2000})
    assert r.status_code == 200, r.text
    return list(r.json()["changes"])


# -- stable ids -------------------------------------------------------------------------


def test_a_move_keeps_the_id_and_a_copy_gets_a_new_one(api: httpx.Client) -> None:
    start = api.get("/changes/latest").json()["cursor"]
    file = _put(api, "/docs/a.txt", b"hello")
    folder = _meta(api, "/docs")
    assert isinstance(file["id"], int) and file["id"] > 0 and folder["id"] not in (0, file["id"])
    listed = api.get("/files/list", params={"path": "/docs"}).json()
    assert listed["folder"]["id"] == folder["id"] and listed["entries"][0]["id"] == file["id"]

    assert _put(api, "/docs/a.txt", b"hello 2", base_rev=1)["id"] == file["id"]
    moved = api.post("/files/move", json={"from_path": "/docs/a.txt", "to_path": "/b.txt"})
    assert moved.status_code == 200 and moved.json()["id"] == file["id"]
    renamed = api.post("/files/move", json={"from_path": "/docs", "to_path": "/papers"}).json()
    assert renamed["id"] == folder["id"]
    copy = api.post("/files/copy", json={"from_path": "/b.txt", "to_path": "/c.txt"}).json()
    assert copy["id"] not in (file["id"], folder["id"])
    folder_copy = api.post("/files/copy", json={"from_path": "/papers", "to_path": "/p2"}).json()
    assert folder_copy["id"] != folder["id"]
    deleted = api.post("/files/delete", json={"path": "/b.txt"}).json()
    assert deleted["id"] == file["id"]
    trash = api.get("/trash").json()["entries"]
    restored = api.post("/trash/restore", json={"id": trash[0]["id"]}).json()
    assert restored["id"] == file["id"] and restored["path"] == "/b.txt"

    ids = [(c["op"], c["path"], c["id"]) for c in _changes(api, start)]
    assert ids == [
        ("mkdir", "/docs", folder["id"]), ("add", "/docs/a.txt", file["id"]),
        ("modify", "/docs/a.txt", file["id"]), ("move", "/b.txt", file["id"]),
        ("move", "/papers", folder["id"]), ("add", "/c.txt", copy["id"]),
        ("mkdir", "/p2", folder_copy["id"]), ("delete", "/b.txt", file["id"]),
        ("add", "/b.txt", file["id"]),
    ]


def test_shares_show_the_owners_ids(server: Server, api: httpx.Client) -> None:
    _, token = server.add_user()
    me = api.get("/me").json()["username"]
    with server.client(token) as theirs:
        file = _put(theirs, "/pub/f.txt", b"x")
        folder = _meta(theirs, "/pub")
        r = theirs.post("/shares", json={"path": "/pub", "user": me, "role": "viewer"})
        assert r.status_code == 201, r.text
    assert _meta(api, "/Shared with me")["id"] == 0
    assert _meta(api, "/Shared with me/pub")["id"] == folder["id"]
    assert _meta(api, "/Shared with me/pub/f.txt")["id"] == file["id"]


# -- the executable bit -----------------------------------------------------------------------


def test_executable_on_every_upload_kind_and_in_every_answer(
    server: Server, api: httpx.Client
) -> None:
    start = api.get("/changes/latest").json()["cursor"]
    data = b"#!/bin/sh\necho hi\n"
    bid = block_id(data).hex()
    assert api.put(f"/blocks/{bid}", content=data).status_code == 201
    r = api.post("/files/commit", json={"path": "/bin/run", "blocks": [bid], "size": len(data),
                                        "executable": True})
    assert r.status_code == 201 and r.json()["executable"] is True
    assert _meta(api, "/bin/run")["executable"] is True
    r = api.post("/files/commit", json={"path": "/bin/run", "blocks": [bid], "size": len(data),
                                        "base_rev": 1})
    assert r.json()["executable"] is False, "not given: not executable"
    assert api.get("/files/blocklist", params={"path": "/bin/run", "rev": 1}).json()[
        "executable"] is True

    assert _put(api, "/bin/put", data, executable="true")["executable"] is True
    assert _put(api, "/bin/plain", data)["executable"] is False
    r = api.post("/files/upload", params={"uploadType": "media", "path": "/bin/media",
                                          "executable": "true"}, content=data)
    assert r.status_code == 201 and r.json()["entries"][0]["executable"] is True
    assert api.put("/files/content", params={"path": "/bin/x", "executable": "maybe"},
                   content=data).status_code == 400

    # Resumable: tus metadata, and the seed's JSON.
    meta = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}"
                    for k, v in {"path": "/bin/tus", "executable": "true"}.items())
    with httpx.Client(base_url=server.base_url, headers=api.headers) as c:
        r = c.post("/api/v1/uploads", headers={**TUS, "Upload-Length": str(len(data)),
                                               "Upload-Metadata": meta})
        assert r.status_code == 201, r.text
        r = c.patch(r.headers["location"], headers={**OCTETS, "Upload-Offset": "0"},
                    content=data)
        assert r.status_code == 204, r.text
        r = api.post("/files/upload", params={"uploadType": "resumable"},
                     json={"path": "/bin/seed", "size": len(data), "executable": True})
        assert r.status_code == 201, r.text
        r = c.patch(r.headers["location"], headers={**OCTETS, "Upload-Offset": "0"},
                    content=data)
        assert r.status_code == 204, r.text
    assert _meta(api, "/bin/tus")["executable"] is True
    assert _meta(api, "/bin/seed")["executable"] is True

    # Revisions carry it; restoring and copying keep it.
    revs = api.get("/files/list_revisions", params={"path": "/bin/run"}).json()["revisions"]
    assert [(v["rev"], v["executable"]) for v in revs] == [(2, False), (1, True)]
    r = api.post("/files/restore", json={"path": "/bin/run", "rev": 1})
    assert r.status_code == 201 and r.json()["executable"] is True and r.json()["rev"] == 3
    r = api.post("/files/copy", json={"from_path": "/bin/run", "to_path": "/bin/run2"})
    assert r.json()["executable"] is True
    r = api.post("/files/copy", json={"from_path": "/bin", "to_path": "/bin2"})
    assert r.status_code == 201
    assert _meta(api, "/bin2/put")["executable"] is True
    assert _meta(api, "/bin2/plain")["executable"] is False
    listed = {e["name"]: e["executable"] for e in
              api.get("/files/list", params={"path": "/bin"}).json()["entries"]}
    assert listed == {"media": True, "plain": False, "put": True, "run": True, "run2": True,
                      "seed": True, "tus": True}
    assert api.get("/files/metadata", params={"path": "/bin"}).json()["executable"] is False

    changes = [(c["op"], c["path"], c.get("executable")) for c in _changes(api, start)]
    assert ("add", "/bin/run", True) in changes and ("modify", "/bin/run", False) in changes
    assert ("mkdir", "/bin", None) in changes and ("modify", "/bin/run", True) in changes


# -- deletes and moves guarded by base_rev ----------------------------------------------------


def test_a_delete_with_a_stale_base_rev_changes_nothing(api: httpx.Client) -> None:
    _put(api, "/d/f.txt", b"1")
    _put(api, "/d/f.txt", b"2", base_rev=1)  # an edit the deleting client has not seen
    cursor = api.get("/changes/latest").json()["cursor"]
    r = api.post("/files/delete", json={"path": "/d/f.txt", "base_rev": 1})
    assert r.status_code == 409
    error = r.json()["error"]
    assert error["code"] == "conflict" and error["current_rev"] == 2
    assert _meta(api, "/d/f.txt")["rev"] == 2
    assert api.get("/trash").json()["entries"] == [] and _changes(api, cursor) == []

    r = api.post("/files/delete", json={"path": "/d/f.txt", "base_rev": 2})
    assert r.status_code == 200 and r.json()["rev"] == 2
    assert api.get("/files/metadata", params={"path": "/d/f.txt"}).status_code == 404


def test_base_rev_is_for_files(api: httpx.Client) -> None:
    api.post("/files/mkdir", json={"path": "/folder"})
    for call, body in (("/files/delete", {"path": "/folder", "base_rev": 1}),
                       ("/files/move", {"from_path": "/folder", "to_path": "/f2",
                                        "base_rev": 1})):
        r = api.post(call, json=body)
        assert r.status_code == 409 and r.json()["error"]["code"] == "not_a_file", r.text
    assert _meta(api, "/folder")["kind"] == "folder"
    for bad in (0, -1, "1"):
        r = api.post("/files/delete", json={"path": "/folder", "base_rev": bad})
        assert r.status_code == 400, r.text
    r = api.post("/files/delete", json={"path": "/missing", "base_rev": 1})
    assert r.status_code == 404


def test_a_move_with_a_stale_base_rev_changes_nothing(api: httpx.Client) -> None:
    _put(api, "/m.txt", b"1")
    _put(api, "/m.txt", b"22", base_rev=1)
    r = api.post("/files/move", json={"from_path": "/m.txt", "to_path": "/n.txt", "base_rev": 1})
    assert r.status_code == 409 and r.json()["error"]["current_rev"] == 2
    assert _meta(api, "/m.txt")["size"] == 2
    assert api.get("/files/metadata", params={"path": "/n.txt"}).status_code == 404
    r = api.post("/files/move", json={"from_path": "/m.txt", "to_path": "/n.txt", "base_rev": 2})
    assert r.status_code == 200 and r.json()["path"] == "/n.txt"
    # Copy takes no base_rev.
    r = api.post("/files/copy", json={"from_path": "/n.txt", "to_path": "/o.txt", "base_rev": 2})
    assert r.status_code == 400
