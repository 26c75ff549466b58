"""GET /files/folder_size: the bytes, files and folders below a folder, against
the real server: nested trees, the trash, shares, and the listing's errors."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Server

SHARED = "/Shared with me"


def _put(api: httpx.Client, path: str, size: int) -> None:
    r = api.put("/files/content", params={"path": path}, content=b"x" * size)
    assert r.status_code == 201, r.text


def _size(api: httpx.Client, path: str) -> tuple[int, int, int]:
    """(size, files, folders) of the folder at *path*."""
    r = api.get("/files/folder_size", params={"path": path})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body["size"], body["files"], body["folders"]


def _error(api: httpx.Client, params: dict[str, str]) -> tuple[int, str]:
    r = api.get("/files/folder_size", params=params)
    return r.status_code, r.json()["error"]["code"]


def test_a_nested_tree_adds_up_at_every_level(api: httpx.Client) -> None:
    _put(api, "/t/top.txt", 1)
    _put(api, "/t/a/one.bin", 10)
    _put(api, "/t/a/b/two.bin", 100)
    _put(api, "/t/a/b/c/three.bin", 1000)
    _put(api, "/t/a/b/c/empty.txt", 0)
    _put(api, "/elsewhere.txt", 5)
    assert api.post("/files/mkdir", json={"path": "/t/a/b/d/e"}).status_code == 201
    assert _size(api, "/t") == (1111, 5, 5)  # a, b, c, d, e
    assert _size(api, "/t/a") == (1110, 4, 4)
    assert _size(api, "/t/a/b/c") == (1000, 2, 0)
    assert _size(api, "/t/a/b/d") == (0, 0, 1)
    assert _size(api, "/") == (1116, 6, 6)
    r = api.get("/files/folder_size", params={"path": "/t/a/"}).json()
    assert r == {"path": "/t/a", "size": 1110, "files": 4, "folders": 4}


def test_an_upload_and_a_delete_change_the_size(api: httpx.Client) -> None:
    _put(api, "/p/a.bin", 100)
    _put(api, "/p/sub/b.bin", 20)
    assert _size(api, "/p") == (120, 2, 1)
    _put(api, "/p/a.bin", 7)  # a new revision: only the current one counts
    assert _size(api, "/p") == (27, 2, 1)
    _put(api, "/p/sub/new.bin", 3)
    assert _size(api, "/p") == (30, 3, 1)
    assert api.post("/files/delete", json={"path": "/p/a.bin"}).status_code == 200
    assert _size(api, "/p") == (23, 2, 1)
    assert api.post("/files/delete", json={"path": "/p/sub"}).status_code == 200
    assert _size(api, "/p") == (0, 0, 0)


def test_the_trash_is_not_counted_until_restored(api: httpx.Client) -> None:
    _put(api, "/r/keep.bin", 4)
    _put(api, "/r/gone/deep/x.bin", 50)
    assert api.post("/files/delete", json={"path": "/r/gone"}).status_code == 200
    assert _size(api, "/r") == (4, 1, 0)
    assert _size(api, "/") == (4, 1, 1)
    assert api.get("/me").json()["used_bytes"] == 54, "the quota still counts the trash"
    entry = api.get("/trash").json()["entries"][0]
    assert api.post("/trash/restore", json={"id": entry["id"]}).status_code == 200
    assert _size(api, "/r") == (54, 2, 2)


def test_a_share_has_the_same_size_for_its_viewer_and_none_for_others(
    server: Server,
) -> None:
    _, owner_token = server.add_user()
    viewer_name, viewer_token = server.add_user()
    _, stranger_token = server.add_user()
    with server.client(owner_token) as owner, server.client(viewer_token) as viewer, \
            server.client(stranger_token) as stranger:
        _put(owner, "/Team/plan.txt", 30)
        _put(owner, "/Team/sub/notes.txt", 12)
        _put(owner, "/Team/sub/old.txt", 1000)
        assert owner.post("/files/delete", json={"path": "/Team/sub/old.txt"}).status_code == 200
        _put(owner, "/private.txt", 7)
        _put(viewer, "/mine.txt", 2)
        assert _size(viewer, "/") == (2, 1, 0)  # no share yet: no /Shared with me
        r = owner.post("/shares", json={"path": "/Team", "user": viewer_name, "role": "viewer"})
        assert r.status_code == 201, r.text
        share_id = r.json()["id"]
        assert _size(owner, "/Team") == (42, 2, 1)
        assert _size(viewer, f"{SHARED}/Team") == (42, 2, 1)
        assert _size(viewer, f"{SHARED}/Team/sub") == (12, 1, 0)
        assert _size(viewer, SHARED) == (42, 2, 2)  # Team and sub
        # "/" holds what its recursive listing holds: /Shared with me and the share
        assert _size(viewer, "/") == (44, 3, 3)
        listed = viewer.get("/files/list", params={"path": "/", "recursive": "true"}).json()
        assert sum(e["kind"] == "folder" for e in listed["entries"]) == 3
        # the owner's edit shows at once for the viewer
        _put(owner, "/Team/sub/more.txt", 8)
        assert _size(viewer, f"{SHARED}/Team") == (50, 3, 1)
        # a stranger gets the listing's 404, whatever the path
        for path in (f"{SHARED}/Team", "/Team"):
            assert _error(stranger, {"path": path}) == (404, "not_found")
            assert stranger.get("/files/list", params={"path": path}).status_code == 404
        assert _size(stranger, SHARED) == (0, 0, 0)
        # a share in its owner's trash is not counted, and revoked is gone
        assert owner.post("/files/delete", json={"path": "/Team"}).status_code == 200
        assert _size(viewer, "/") == (2, 1, 1)
        assert _error(viewer, {"path": f"{SHARED}/Team"}) == (404, "not_found")
        entry = owner.get("/trash").json()["entries"][0]
        assert owner.post("/trash/restore", json={"id": entry["id"]}).status_code == 200
        assert _size(viewer, "/") == (52, 4, 3)
        assert owner.delete(f"/shares/{share_id}").status_code == 204
        assert _error(viewer, {"path": f"{SHARED}/Team"}) == (404, "not_found")


def test_errors_are_the_listings(api: httpx.Client) -> None:
    _put(api, "/e/file.txt", 3)
    assert _error(api, {"path": "/e/file.txt"}) == (409, "not_a_folder")
    assert _error(api, {"path": "/e/file.txt/below"}) == (409, "not_a_folder")
    assert _error(api, {"path": "/e/missing"}) == (404, "not_found")
    assert _error(api, {"path": "relative"}) == (400, "invalid_path")
    assert _error(api, {"path": "/a//b"}) == (400, "invalid_path")
    assert _error(api, {}) == (400, "bad_request")
    assert _error(api, {"path": "/e", "limit": "3"}) == (400, "bad_request")
    # the listing answers alike
    assert api.get("/files/list", params={"path": "/e/file.txt"}).status_code == 409
