"""Sharing between real users on the real server: roles on every route,
attribution, feeds, revocation, and attempts to reach what is not shared."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.conftest import Server

SHARED = "/Shared with me"


@dataclass
class Person:
    name: str
    c: httpx.Client

    def cursor(self) -> str:
        return str(self.c.get("/changes/latest").json()["cursor"])

    def feed(self, cursor: str) -> list[tuple[str, str]]:
        r = self.c.get("/changes", params={"cursor": cursor, "limit": 2000})
        assert r.status_code == 200, r.text
        return [(ch["op"], ch["path"]) for ch in r.json()["changes"]]


@pytest.fixture
def trio(server: Server) -> Iterator[tuple[Person, Person, Person]]:
    people = []
    for _ in range(3):
        name, token = server.add_user()
        people.append(Person(name, server.client(token)))
    try:
        yield people[0], people[1], people[2]
    finally:
        for p in people:
            p.c.close()


def _share(owner: Person, path: str, to: Person, role: str) -> dict[str, object]:
    r = owner.c.post("/shares", json={"path": path, "user": to.name, "role": role})
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_an_editor_works_in_a_shared_folder_and_everyone_sees_it(
    trio: tuple[Person, Person, Person],
) -> None:
    alice, bob, _ = trio
    alice.c.put("/files/content", params={"path": "/Trip/plan.txt"}, content=b"day 1")
    bob_start, alice_start = bob.cursor(), alice.cursor()
    share = _share(alice, "/Trip", bob, "editor")
    assert share["path"] == "/Trip" and share["user"] == bob.name and share["owner"] == alice.name
    # Bob finds it under the virtual folder, which his root lists.
    root = [e["name"] for e in bob.c.get("/files/list", params={"path": "/"}).json()["entries"]]
    assert "Shared with me" in root
    listing = bob.c.get("/files/list", params={"path": SHARED}).json()["entries"]
    assert [e["path"] for e in listing] == [f"{SHARED}/Trip"]
    assert bob.feed(bob_start) == [("mkdir", f"{SHARED}/Trip"), ("add", f"{SHARED}/Trip/plan.txt")]
    # Bob edits, adds, renames and deletes; it all happens in Alice's tree.
    path = f"{SHARED}/Trip/plan.txt"
    assert bob.c.get("/files/content", params={"path": path}).content == b"day 1"
    r = bob.c.put("/files/content", params={"path": path, "base_rev": 1}, content=b"day 1+2")
    assert r.status_code == 201 and r.json()["path"] == path
    bob.c.put("/files/content", params={"path": f"{SHARED}/Trip/photos/a.jpg"}, content=b"jpg")
    r = bob.c.post("/files/move", json={"from_path": f"{SHARED}/Trip/photos/a.jpg",
                                        "to_path": f"{SHARED}/Trip/photos/beach.jpg"})
    assert r.status_code == 200, r.text
    assert bob.c.post("/files/delete", json={"path": f"{SHARED}/Trip/photos/beach.jpg"}
                      ).status_code == 200
    assert alice.c.get("/files/content", params={"path": "/Trip/plan.txt"}).content == b"day 1+2"
    revs = alice.c.get("/files/list_revisions", params={"path": "/Trip/plan.txt"}).json()
    assert [r["author"] for r in revs["revisions"]] == [bob.name, alice.name]
    # Both feeds have every change, each with its own paths, attributed to Bob.
    assert alice.feed(alice_start) == [
        ("modify", "/Trip/plan.txt"), ("mkdir", "/Trip/photos"), ("add", "/Trip/photos/a.jpg"),
        ("move", "/Trip/photos/beach.jpg"), ("delete", "/Trip/photos/beach.jpg"),
    ]
    assert bob.feed(bob_start)[2:] == [
        ("modify", path), ("mkdir", f"{SHARED}/Trip/photos"),
        ("add", f"{SHARED}/Trip/photos/a.jpg"), ("move", f"{SHARED}/Trip/photos/beach.jpg"),
        ("delete", f"{SHARED}/Trip/photos/beach.jpg"),
    ]
    changes = alice.c.get("/changes", params={"cursor": alice_start}).json()["changes"]
    assert {ch["by"] for ch in changes if ch["path"].startswith("/Trip/photos")} == {bob.name}
    # What Bob deleted is in Alice's trash, marked as his doing.
    trash = alice.c.get("/trash").json()["entries"]
    assert [(t["path"], t["deleted_by"]) for t in trash] == [("/Trip/photos/beach.jpg", bob.name)]
    # Uploads into the share count toward Alice's quota, not Bob's.
    assert bob.c.get("/me").json()["used_bytes"] == 0


def test_a_viewer_reads_and_every_write_is_refused(
    trio: tuple[Person, Person, Person],
) -> None:
    alice, bob, _ = trio
    alice.c.put("/files/content", params={"path": "/Docs/a.txt"}, content=b"read me")
    _share(alice, "/Docs", bob, "viewer")
    p = f"{SHARED}/Docs"
    assert bob.c.get("/files/content", params={"path": f"{p}/a.txt"}).content == b"read me"
    assert bob.c.get("/files/list", params={"path": p}).status_code == 200
    assert bob.c.get("/files/list_revisions", params={"path": f"{p}/a.txt"}).status_code == 200
    assert bob.c.get("/files/metadata", params={"path": f"{p}/a.txt"}).status_code == 200
    assert bob.c.get("/files/blocklist", params={"path": f"{p}/a.txt"}).status_code == 200
    writes = [
        bob.c.put("/files/content", params={"path": f"{p}/b.txt"}, content=b"x"),
        bob.c.put("/files/content", params={"path": f"{p}/a.txt"}, content=b"x"),
        bob.c.post("/files/upload", params={"uploadType": "media", "path": f"{p}/c.txt"},
                   content=b"x"),
        bob.c.post("/files/upload", params={"uploadType": "resumable"},
                   json={"path": f"{p}/d.txt", "size": 3}),
        bob.c.post("/uploads", headers={
            "Tus-Resumable": "1.0.0", "Upload-Length": "3",
            "Upload-Metadata": "path " + base64.b64encode(f"{p}/x".encode()).decode()}),
        bob.c.post("/files/mkdir", json={"path": f"{p}/new"}),
        bob.c.post("/files/move", json={"from_path": f"{p}/a.txt", "to_path": f"{p}/b.txt"}),
        bob.c.post("/files/copy", json={"from_path": f"{p}/a.txt", "to_path": f"{p}/b.txt"}),
        bob.c.post("/files/delete", json={"path": f"{p}/a.txt"}),
        bob.c.post("/files/restore", json={"path": f"{p}/a.txt", "rev": 1}),
        bob.c.post("/files/pin_revision", json={"path": f"{p}/a.txt", "rev": 1, "pinned": True}),
        bob.c.post("/files/commit", json={"path": f"{p}/e.txt", "size": 0, "blocks": []}),
        bob.c.post("/shares", json={"path": p, "user": alice.name, "role": "viewer"}),
    ]
    assert [r.status_code for r in writes] == [403] * len(writes), [r.text for r in writes]
    assert all(r.json()["error"]["code"] == "forbidden" for r in writes)
    # Reading out into his own tree is fine: a copy is his.
    r = bob.c.post("/files/copy", json={"from_path": f"{p}/a.txt", "to_path": "/mine.txt"})
    assert r.status_code == 201
    assert bob.c.get("/files/content", params={"path": "/mine.txt"}).content == b"read me"


def test_roles_change_and_revoking_ends_access_at_once(
    trio: tuple[Person, Person, Person],
) -> None:
    alice, bob, _ = trio
    alice.c.put("/files/content", params={"path": "/Album/1.jpg"}, content=b"one")
    share = _share(alice, "/Album", bob, "viewer")
    path = f"{SHARED}/Album/2.jpg"
    assert bob.c.put("/files/content", params={"path": path}, content=b"2").status_code == 403
    r = alice.c.patch(f"/shares/{share['id']}", json={"role": "editor"})
    assert r.status_code == 200 and r.json()["role"] == "editor"
    assert bob.c.put("/files/content", params={"path": path}, content=b"2").status_code == 201
    assert bob.c.patch(f"/shares/{share['id']}", json={"role": "editor"}).status_code == 403
    cursor = bob.cursor()
    assert alice.c.delete(f"/shares/{share['id']}").status_code == 204
    assert bob.c.get("/files/content", params={"path": path}).status_code == 404
    assert bob.c.get("/files/list", params={"path": SHARED}).json()["entries"] == []
    assert bob.feed(cursor) == [("delete", f"{SHARED}/Album")]
    assert alice.c.get("/files/content", params={"path": "/Album/2.jpg"}).content == b"2"
    # A recipient may leave a share.
    share = _share(alice, "/Album", bob, "viewer")
    assert bob.c.get("/shares").json()["shared_with_me"][0]["id"] == share["id"]
    assert bob.c.delete(f"/shares/{share['id']}").status_code == 204
    assert alice.c.get("/shares").json()["shared_by_me"] == []


def test_share_rules(trio: tuple[Person, Person, Person]) -> None:
    alice, bob, carol = trio
    alice.c.put("/files/content", params={"path": "/A/B/f.txt"}, content=b"f")
    bob.c.post("/files/mkdir", json={"path": "/A"})
    _share(alice, "/A", bob, "viewer")
    def post(**body: str) -> httpx.Response:
        return alice.c.post("/shares", json=body)

    assert post(path="/A/B", user=bob.name, role="viewer").status_code == 409  # nested
    assert post(path="/A", user=bob.name, role="viewer").status_code == 409  # again
    assert post(path="/A", user="nobody-at-all", role="viewer").status_code == 404
    assert post(path="/A", user=alice.name, role="viewer").status_code == 400
    assert post(path="/A", user=carol.name, role="owner").status_code == 400
    assert post(path="/", user=carol.name, role="viewer").status_code == 400
    assert post(path="/nope", user=carol.name, role="viewer").status_code == 404
    # A second share named A for Bob gets the owner's name beside it.
    carol.c.post("/files/mkdir", json={"path": "/A"})
    r = carol.c.post("/shares", json={"path": "/A", "user": bob.name, "role": "viewer"})
    assert r.status_code == 201 and r.json()["user"] == bob.name
    names = [e["name"] for e in bob.c.get("/files/list", params={"path": SHARED}).json()["entries"]]
    assert names == ["A", f"A ({carol.name})"]
    # The share's own folder and the virtual folder are not Bob's to change.
    _share(alice, "/A/B/f.txt", carol, "editor")
    assert carol.c.post("/files/delete", json={"path": f"{SHARED}/f.txt"}).status_code == 403
    assert carol.c.post("/files/move", json={"from_path": f"{SHARED}/f.txt",
                                             "to_path": "/f.txt"}).status_code == 403
    assert carol.c.put("/files/content", params={"path": f"{SHARED}/f.txt"},
                       content=b"edited").status_code == 201, "a shared file can be edited"
    assert alice.c.get("/files/content", params={"path": "/A/B/f.txt"}).content == b"edited"
    assert bob.c.post("/files/mkdir", json={"path": f"{SHARED}/x"}).status_code == 403
    assert bob.c.post("/files/delete", json={"path": SHARED}).status_code == 403


def test_nothing_unshared_is_reachable(server: Server, trio: tuple[Person, Person, Person]) -> None:
    """Another user's paths, trash ids, upload ids, share ids and device ids."""
    alice, bob, carol = trio
    alice.c.put("/files/content", params={"path": "/secret/s.txt"}, content=b"secret")
    alice.c.put("/files/content", params={"path": "/open/o.txt"}, content=b"open")
    alice.c.post("/files/delete", json={"path": "/secret/s.txt"})
    trash_id = alice.c.get("/trash").json()["entries"][0]["id"]
    upload = alice.c.post("/files/upload", params={"uploadType": "resumable"},
                          json={"path": "/u.bin", "size": 10}).headers["location"]
    share = _share(alice, "/open", bob, "viewer")
    alice_device = alice.c.get("/me").json()["device_id"]
    for path in ("/secret", "/secret/s.txt", "/open/o.txt", f"{SHARED}/secret",
                 f"{SHARED}/open/../secret", f"{SHARED}/open/%2e%2e/secret"):
        for r in (carol.c.get("/files/metadata", params={"path": path}),
                  carol.c.get("/files/content", params={"path": path}),
                  bob.c.get("/files/content", params={"path": path})):
            assert r.status_code in (400, 404), (path, r.status_code, r.text)
    assert carol.c.post("/trash/restore", json={"id": trash_id}).status_code == 404
    assert carol.c.post("/trash/purge", json={"ids": [trash_id]}).status_code in (200, 404)
    assert alice.c.get("/trash").json()["entries"], "carol purged nothing of alice's"
    tus = {"Tus-Resumable": "1.0.0"}
    assert carol.c.head(upload.removeprefix("/api/v1"), headers=tus).status_code == 404
    assert carol.c.delete(upload.removeprefix("/api/v1"), headers=tus).status_code == 404
    assert carol.c.patch(f"/shares/{share['id']}", json={"role": "editor"}).status_code == 404
    assert carol.c.delete(f"/shares/{share['id']}").status_code == 404
    assert carol.c.delete(f"/auth/tokens/{alice_device}").status_code == 404
    assert bob.c.get("/files/content", params={"path": f"{SHARED}/open/o.txt"}).content == b"open"
    assert carol.c.get("/shares").json() == {"shared_by_me": [], "shared_with_me": []}


def test_moves_across_the_edge_of_a_share_show_in_the_feed(
    trio: tuple[Person, Person, Person],
) -> None:
    alice, bob, _ = trio
    alice.c.put("/files/content", params={"path": "/Team/in.txt"}, content=b"in")
    alice.c.put("/files/content", params={"path": "/Private/out.txt"}, content=b"out")
    _share(alice, "/Team", bob, "viewer")
    cursor = bob.cursor()
    alice.c.post("/files/move", json={"from_path": "/Private/out.txt", "to_path": "/Team/out.txt"})
    alice.c.post("/files/move", json={"from_path": "/Team/in.txt", "to_path": "/Private/in.txt"})
    alice.c.post("/files/delete", json={"path": "/Team"})
    assert bob.feed(cursor) == [
        ("add", f"{SHARED}/Team/out.txt"), ("delete", f"{SHARED}/Team/in.txt"),
        ("delete", f"{SHARED}/Team"),
    ]
    assert bob.c.get("/files/list", params={"path": SHARED}).json()["entries"] == []


def test_a_recipient_fetches_and_reuses_the_blocks_of_shared_files(
    trio: tuple[Person, Person, Person],
) -> None:
    """A sync client downloads a shared file block by block, and an editor's
    delta upload may reuse its blocks; a stranger may do neither."""
    alice, bob, carol = trio
    data = bytes(range(256)) * 2000
    alice.c.put("/files/content", params={"path": "/S/f.bin"}, content=data)
    _share(alice, "/S", bob, "editor")
    blocks = bob.c.get("/files/blocklist", params={"path": f"{SHARED}/S/f.bin"}).json()["blocks"]
    ids = [b["id"] for b in blocks]
    got = b"".join(bob.c.get(f"/blocks/{i}").content for i in ids)
    assert got == data
    assert bob.c.post("/blocks/missing", json={"hashes": ids}).json()["missing"] == []
    r = bob.c.post("/files/commit", json={"path": f"{SHARED}/S/copy.bin", "size": len(data),
                                          "blocks": ids})
    assert r.status_code == 201, r.text
    assert carol.c.get(f"/blocks/{ids[0]}").status_code == 404
    assert carol.c.post("/blocks/missing", json={"hashes": ids}).json()["missing"] == ids
