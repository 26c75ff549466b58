"""What listings and metadata tell the web UI about sharing: the caller's
role in the listed folder, the owner and role of each share under /Shared
with me, and which of the owner's own entries are shared or linked."""

from __future__ import annotations

import time

from tests.conftest import Server

SHARED = "/Shared with me"


def _listing(c: object, path: str) -> dict[str, object]:
    r = c.get("/files/list", params={"path": path})  # type: ignore[attr-defined]
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_roles_owners_and_marks(server: Server) -> None:
    owner, otoken = server.add_user()
    friend, ftoken = server.add_user()
    with server.client(otoken) as o, server.client(ftoken) as f:
        for p in ("/Open", "/Closed", "/Linked", "/Gone", "/Used"):
            assert o.post("/files/mkdir", json={"path": p}).status_code == 201
        r = o.put("/files/content", params={"path": "/Used/a.txt"}, content=b"x")
        assert r.status_code == 201
        r = o.post("/shares", json={"path": "/Open", "user": friend, "role": "viewer"})
        assert r.status_code == 201
        assert o.post("/links", json={"path": "/Linked"}).status_code == 201
        soon = int(time.time() * 1000) + 1500
        assert o.post("/links", json={"path": "/Gone", "expires_at": soon}).status_code == 201
        r = o.post("/links", json={"path": "/Used/a.txt", "max_downloads": 1})
        assert r.status_code == 201
        token = r.json()["token"]

        mine = _listing(o, "/")
        assert mine["folder"]["role"] == "owner"  # type: ignore[index]
        by = {e["name"]: e for e in mine["entries"]}  # type: ignore[attr-defined]
        assert (by["Open"]["shared"], by["Open"]["linked"]) == (True, False)
        assert (by["Linked"]["shared"], by["Linked"]["linked"]) == (False, True)
        assert (by["Closed"]["shared"], by["Closed"]["linked"]) == (False, False)
        assert by["Gone"]["linked"] is True
        assert all(e["role"] == "owner" and e["owner"] is None for e in by.values())
        meta = o.get("/files/metadata", params={"path": "/Open"}).json()
        assert (meta["role"], meta["shared"]) == ("owner", True)

        # an expired link and a used-up one no longer mark their item
        with server.client() as anon:
            got = anon.get(server.base_url + f"/s/{token}/download")
            assert got.status_code == 200
        time.sleep(max(0.0, soon / 1000 - time.time()) + 0.1)
        by = {e["name"]: e for e in _listing(o, "/")["entries"]}  # type: ignore[attr-defined]
        assert by["Gone"]["linked"] is False
        inner = {e["name"]: e for e in _listing(o, "/Used")["entries"]}  # type: ignore[attr-defined]
        assert inner["a.txt"]["linked"] is False

        # the recipient: /Shared with me is read-only, each share says its owner and role
        theirs = _listing(f, "/")
        root = {e["name"]: e for e in theirs["entries"]}  # type: ignore[attr-defined]
        assert root["Shared with me"]["role"] == "viewer"
        shared = _listing(f, SHARED)
        assert shared["folder"]["role"] == "viewer"  # type: ignore[index]
        entries: list[dict[str, object]] = shared["entries"]  # type: ignore[assignment]
        [entry] = entries
        assert (entry["name"], entry["owner"], entry["role"]) == ("Open", owner, "viewer")
        assert entry["shared"] is False  # the owner's sharing is none of the recipient's business
        inside = _listing(f, f"{SHARED}/Open")
        assert (inside["folder"]["role"], inside["folder"]["owner"]) == ("viewer", owner)  # type: ignore[index]
        meta = f.get("/files/metadata", params={"path": f"{SHARED}/Open"}).json()
        assert (meta["role"], meta["owner"], meta["shared"]) == ("viewer", owner, False)

        share_id = o.get("/shares").json()["shared_by_me"][0]["id"]
        assert o.patch(f"/shares/{share_id}", json={"role": "editor"}).status_code == 200
        assert _listing(f, f"{SHARED}/Open")["folder"]["role"] == "editor"  # type: ignore[index]
        assert _listing(f, SHARED)["entries"][0]["role"] == "editor"  # type: ignore[index]
