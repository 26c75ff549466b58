"""A delete guarded by a change-feed cursor (`base_cursor`), against the real
server: it goes when nothing at the path, under it or above it changed after
the cursor, and changes nothing otherwise (409 changed_since_cursor).

A sync client deletes a folder from its view of the server, which stands at
its cursor; another device may have put a file in the folder a moment ago.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import Server


def _put(api: httpx.Client, path: str, data: bytes, **params: Any) -> dict[str, Any]:
    r = api.put("/files/content", params={"path": path, **params}, content=data)
    assert r.status_code == 201, r.text
    return dict(r.json())


def _post(api: httpx.Client, call: str, **body: Any) -> dict[str, Any]:
    r = api.post(call, json=body)
    assert r.status_code in (200, 201), r.text
    return dict(r.json())


def _cursor(api: httpx.Client) -> str:
    return str(api.get("/changes/latest").json()["cursor"])


def _exists(api: httpx.Client, path: str) -> bool:
    return api.get("/files/metadata", params={"path": path}).status_code == 200


def _tree(api: httpx.Client) -> list[str]:
    r = api.get("/files/list", params={"path": "/", "recursive": "true", "limit": 10000})
    assert r.status_code == 200, r.text
    return [e["path"] for e in r.json()["entries"]]


def _delete(api: httpx.Client, path: str, cursor: str, **more: Any) -> httpx.Response:
    return api.post("/files/delete", json={"path": path, "base_cursor": cursor, **more})


def _refused(api: httpx.Client, path: str, cursor: str) -> dict[str, Any]:
    """The delete is refused and changes nothing: the tree and the trash stay."""
    before, trash = _tree(api), api.get("/trash").json()["entries"]
    r = _delete(api, path, cursor)
    assert r.status_code == 409, r.text
    error = dict(r.json()["error"])
    assert error["code"] == "changed_since_cursor", error
    assert _tree(api) == before and api.get("/trash").json()["entries"] == trash
    return error


def _folder(api: httpx.Client) -> None:
    """/F holds a/x.txt and an empty b; beside it, names that start like it."""
    _put(api, "/F/a/x.txt", b"seen by the deleting device")
    _post(api, "/files/mkdir", path="/F/b")
    for name in ("/F2/y.txt", "/F b/y.txt", "/F-/y.txt", "/E/y.txt"):
        _put(api, name, b"not in /F")


def test_a_delete_goes_when_nothing_changed_after_the_cursor(api: httpx.Client) -> None:
    _folder(api)
    cursor = _cursor(api)
    # Changes elsewhere, at names that start like the folder's, do not count.
    _put(api, "/F2/y.txt", b"edited", base_rev=1)
    _put(api, "/F b/new.txt", b"new")
    _post(api, "/files/move", from_path="/F-/y.txt", to_path="/F-/z.txt")
    _post(api, "/files/move", from_path="/E/y.txt", to_path="/F2/moved.txt")
    r = _delete(api, "/F", cursor)
    assert r.status_code == 200, r.text
    assert r.json()["path"] == "/F" and not _exists(api, "/F")
    assert [e["path"] for e in api.get("/trash").json()["entries"]] == ["/F"]
    # A file, with base_rev too.
    cursor = _cursor(api)
    r = _delete(api, "/F2/y.txt", cursor, base_rev=2)
    assert r.status_code == 200, r.text


Change = Callable[[httpx.Client], object]
CHANGES: dict[str, Change] = {
    "a file added deep": lambda api: _put(api, "/F/a/deep/er/new.txt", b"new"),
    "a file edited": lambda api: _put(api, "/F/a/x.txt", b"edited", base_rev=1),
    "a folder made": lambda api: _post(api, "/files/mkdir", path="/F/b/c"),
    "a file deleted": lambda api: _post(api, "/files/delete", path="/F/a/x.txt"),
    "an empty folder deleted": lambda api: _post(api, "/files/delete", path="/F/b"),
    "a file moved in": lambda api: _post(api, "/files/move", from_path="/E/y.txt",
                                         to_path="/F/b/y.txt"),
    "a folder moved in": lambda api: _post(api, "/files/move", from_path="/E",
                                           to_path="/F/E"),
    "a file moved out": lambda api: _post(api, "/files/move", from_path="/F/a/x.txt",
                                          to_path="/x.txt"),
    "a file moved within": lambda api: _post(api, "/files/move", from_path="/F/a/x.txt",
                                             to_path="/F/b/x.txt"),
    "a file copied in": lambda api: _post(api, "/files/copy", from_path="/E/y.txt",
                                          to_path="/F/y.txt"),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_any_change_under_the_folder_after_the_cursor_refuses_the_delete(
    api: httpx.Client, change: str,
) -> None:
    _folder(api)
    cursor = _cursor(api)
    CHANGES[change](api)
    error = _refused(api, "/F", cursor)
    assert error["path"].startswith("/F/"), error
    # Once the caller has caught up, the delete goes.
    assert _delete(api, "/F", _cursor(api)).status_code == 200


def test_the_folder_renamed_away_and_back_refuses_the_delete(api: httpx.Client) -> None:
    """A file added while the folder was elsewhere is journaled by that path;
    the move back names the folder."""
    _folder(api)
    cursor = _cursor(api)
    _post(api, "/files/move", from_path="/F", to_path="/G")
    _put(api, "/G/added-while-away.txt", b"new")
    _post(api, "/files/move", from_path="/G", to_path="/F")
    assert _refused(api, "/F", cursor)["path"] == "/F"


def test_a_folder_above_moved_after_the_cursor_refuses_the_delete(api: httpx.Client) -> None:
    """A file added at /P/F/new.txt, then /P moved to /Q: the caller, whose own
    move of /P it may be, deletes /Q/F; the row of the add names /P/F."""
    _put(api, "/P/F/x.txt", b"seen")
    cursor = _cursor(api)
    _put(api, "/P/F/new.txt", b"added before the move")
    _post(api, "/files/move", from_path="/P", to_path="/Q")
    assert _refused(api, "/Q/F", cursor)["path"] == "/Q"
    assert _exists(api, "/Q/F/new.txt")


def test_a_file_moved_onto_a_deleted_name_refuses_the_delete(api: httpx.Client) -> None:
    """base_rev alone does not see it: another file at the same revision took
    the name the caller means to delete."""
    _put(api, "/f.txt", b"the caller's")
    _put(api, "/g.txt", b"another device's")
    cursor = _cursor(api)
    _post(api, "/files/delete", path="/f.txt")
    _post(api, "/files/move", from_path="/g.txt", to_path="/f.txt")
    before = _tree(api)
    r = _delete(api, "/f.txt", cursor, base_rev=1)
    assert r.status_code == 409 and r.json()["error"]["code"] == "changed_since_cursor"
    assert _tree(api) == before


def test_a_cursor_the_feed_does_not_hold_refuses_the_delete(api: httpx.Client) -> None:
    """Past the newest change (a server restored from an older backup); the
    pruned side is tests/services/test_delete_base_cursor.py, with a clock."""
    _folder(api)
    error = _refused(api, "/F", str(10**18))
    assert "not one the change feed holds" in error["message"]
    for bad in ("-1", "x", "", 5):
        r = _delete(api, "/F", bad)  # type: ignore[arg-type]
        assert r.status_code == 400, r.text
    assert _exists(api, "/F")
    r = _delete(api, "/missing", _cursor(api))
    assert r.status_code == 404


def test_a_share_recipient_sees_the_owners_change(server: Server) -> None:
    """Paths are the caller's: a recipient deleting a folder inside a share
    is refused when its owner added a file there."""
    (_, a_token), (bob, b_token) = server.add_user(), server.add_user()
    with server.client(a_token) as owner, server.client(b_token) as editor:
        _put(owner, "/Trip/day1/plan.txt", b"day 1")
        r = owner.post("/shares", json={"path": "/Trip", "user": bob, "role": "editor"})
        assert r.status_code == 201, r.text
        cursor = _cursor(editor)
        _put(owner, "/Trip/day1/photo.jpg", b"added by the owner")
        r = _delete(editor, "/Shared with me/Trip/day1", cursor)
        assert r.status_code == 409, r.text
        assert r.json()["error"]["path"] == "/Shared with me/Trip/day1/photo.jpg"
        assert _exists(owner, "/Trip/day1/photo.jpg")
        r = _delete(editor, "/Shared with me/Trip/day1", _cursor(editor))
        assert r.status_code == 200, r.text
