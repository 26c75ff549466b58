"""GET /files/activity: who did what to an item, when, from which device;
seen by its owner and the people it is shared with, by nobody else."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.conftest import Server

SHARED = "/Shared with me"
PASSWORD = "user-password-1"


@dataclass
class Person:
    name: str
    c: httpx.Client


@pytest.fixture
def people(server: Server) -> Iterator[list[Person]]:
    """Anna (the owner, on her laptop), Ben (an editor, on his phone), Carl
    (a viewer) and Dora (a stranger), each with a named device."""
    out = []
    for device in ("Anna's laptop", "Ben's phone", "Carl's PC", "Dora's PC"):
        name, _ = server.add_user()
        out.append(Person(name, server.client(server.token(name, PASSWORD, device=device))))
    try:
        yield out
    finally:
        for p in out:
            p.c.close()


def activity(c: httpx.Client, **params: str | int) -> list[tuple[object, ...]]:
    r = c.get("/files/activity", params=params)
    assert r.status_code == 200, r.text
    return [(a["action"], a["by"], a["device"], a["path"]) for a in r.json()["activity"]]


def test_owner_editor_and_viewer_see_who_did_what_from_which_device(
    people: list[Person],
) -> None:
    anna, ben, carl, dora = people
    assert anna.c.put("/files/content", params={"path": "/Proj/budget.xlsx"},
                      content=b"v1").status_code == 201
    for who, role in ((ben, "editor"), (carl, "viewer")):
        assert anna.c.post("/shares", json={"path": "/Proj", "user": who.name, "role": role}
                           ).status_code == 201
    mine, theirs = "/Proj/budget.xlsx", f"{SHARED}/Proj/budget.xlsx"
    assert ben.c.put("/files/content", params={"path": theirs}, content=b"v2").status_code == 201
    assert anna.c.post("/files/restore", json={"path": mine, "rev": 1}).status_code == 201
    assert anna.c.post("/files/move", json={"from_path": mine, "to_path": "/Proj/plan.xlsx"}
                       ).status_code == 200
    mine, theirs = "/Proj/plan.xlsx", f"{SHARED}/Proj/plan.xlsx"

    # each path as it was then; the shares' rows name it as it is now
    was = "/Proj/budget.xlsx"
    assert activity(anna.c, path=mine) == [
        ("renamed", anna.name, "Anna's laptop", mine),
        ("restored", anna.name, "Anna's laptop", was),
        ("edited", ben.name, "Ben's phone", was),
        ("shared", anna.name, "Anna's laptop", mine),
        ("shared", anna.name, "Anna's laptop", mine),
        ("created", anna.name, "Anna's laptop", was),
    ]
    full = anna.c.get("/files/activity", params={"path": mine}).json()
    assert full["path"] == mine
    assert {a["to"] for a in full["activity"] if a["action"] == "shared"} == {ben.name, carl.name}
    assert full["activity"][0]["old_path"] == "/Proj/budget.xlsx"
    assert [a["rev"] for a in full["activity"][1:3]] == [3, 2]
    # Ben and Carl see what happened since it came into their view, as they see it.
    for who in (ben, carl):
        then = f"{SHARED}/Proj/budget.xlsx"
        assert activity(who.c, path=theirs) == [
            ("renamed", anna.name, "Anna's laptop", theirs),
            ("restored", anna.name, "Anna's laptop", then),
            ("edited", ben.name, "Ben's phone", then),
            ("shared", anna.name, "Anna's laptop", then),
        ]
        shared = who.c.get("/files/activity", params={"path": theirs}).json()["activity"][-1]
        assert shared["to"] is None, "with them: a recipient learns of their own share only"
    # The same by the item's id.
    node_id = anna.c.get("/files/metadata", params={"path": mine}).json()["id"]
    assert activity(ben.c, id=node_id) == activity(ben.c, path=theirs)
    assert activity(anna.c, id=node_id) == activity(anna.c, path=mine)
    folder = activity(anna.c, path="/Proj")
    assert folder[:2] == [("shared", anna.name, "Anna's laptop", "/Proj")] * 2
    assert folder[-1][0] == "created"

    # A stranger: 404 for Anna's path (it names their own tree) and her id.
    for params in ({"path": mine}, {"path": theirs}, {"id": node_id}):
        r = dora.c.get("/files/activity", params=params)
        assert r.status_code == 404, (params, r.text)
        assert r.json()["error"]["code"] == "not_found"
    # Once the share is revoked, Carl is a stranger too.
    share_id = next(s["id"] for s in anna.c.get("/shares").json()["shared_by_me"]
                    if s["user"] == carl.name)
    assert anna.c.delete(f"/shares/{share_id}").status_code == 204
    assert carl.c.get("/files/activity", params={"id": node_id}).status_code == 404
    assert carl.c.get("/files/activity", params={"path": theirs}).status_code == 404
    assert activity(anna.c, path="/Proj")[0][0] == "unshared"


def test_delete_restore_and_paging(people: list[Person]) -> None:
    anna = people[0]
    for i in range(5):
        assert anna.c.put("/files/content", params={"path": "/notes.txt"},
                          content=b"%d" % i).status_code == 201
    deleted = anna.c.post("/files/delete", json={"path": "/notes.txt"})
    assert deleted.status_code == 200
    node_id = deleted.json()["id"]
    # in the trash it is nobody's to see but through the trash
    assert anna.c.get("/files/activity", params={"id": node_id}).status_code == 404
    entry = next(e for e in anna.c.get("/trash").json()["entries"] if e["path"] == "/notes.txt")
    assert anna.c.post("/trash/restore", json={"id": entry["id"]}).status_code == 200
    assert anna.c.post("/files/move", json={"from_path": "/notes.txt", "to_path": "/Old/notes.txt"}
                       ).status_code == 200
    actions = [a[0] for a in activity(anna.c, path="/Old/notes.txt")]
    assert actions == ["moved", "restored", "deleted"] + ["edited"] * 4 + ["created"]
    # Pages of 3, newest first, each carrying on where the last one ended.
    seen: list[str] = []
    before = None
    while True:
        params: dict[str, str | int] = {"path": "/Old/notes.txt", "limit": 3}
        if before is not None:
            params["before"] = before
        page = anna.c.get("/files/activity", params=params).json()
        seen += [a["action"] for a in page["activity"]]
        before = page["next_before"]
        if before is None:
            break
        assert len(page["activity"]) == 3
    assert seen == actions


def test_bad_requests(people: list[Person], server: Server) -> None:
    anna = people[0]
    assert anna.c.put("/files/content", params={"path": "/a.txt"}, content=b"a").status_code == 201
    bad: list[dict[str, str | int]] = [
        {"path": "/a.txt", "limit": 0}, {"path": "/a.txt", "limit": 201},
        {"path": "/a.txt", "limit": "many"}, {"path": "/a.txt", "before": "x"},
        {}, {"path": "/a.txt", "id": 1}, {"id": 0}, {"path": "/a.txt", "color": 1},
    ]
    for params in bad:
        r = anna.c.get("/files/activity", params=params)
        assert r.status_code == 400, (params, r.text)
        assert r.json()["error"]["code"] == "bad_request"
    assert anna.c.get("/files/activity", params={"path": "/missing"}).status_code == 404
    assert anna.c.get("/files/activity", params={"id": 2**40}).status_code == 404
    assert httpx.get(f"{server.base_url}/api/v1/files/activity",
                     params={"path": "/a.txt"}).status_code == 401
