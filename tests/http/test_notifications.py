"""Notifications between real users: who is told what, bursts coalesced,
unread first, marking read, and the long poll ringing for them."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Server

SHARED = "/Shared with me"


@pytest.fixture
def trio(server: Server) -> Iterator[list[tuple[str, httpx.Client]]]:
    people = []
    for _ in range(3):
        name, token = server.add_user()
        people.append((name, server.client(token)))
    try:
        yield people
    finally:
        for _, c in people:
            c.close()


def _notes(c: httpx.Client, **params: int) -> list[tuple[str, str | None, str, int, bool]]:
    r = c.get("/notifications", params=params)
    assert r.status_code == 200, r.text
    return [(n["kind"], n["by"], n["path"], n["count"], n["read"])
            for n in r.json()["notifications"]]


def test_who_is_told_what(trio: list[tuple[str, httpx.Client]]) -> None:
    (alice, a), (bob, b), (carol, c) = trio
    a.put("/files/content", params={"path": "/Proj/spec.md"}, content=b"v1")
    for who, role in ((bob, "editor"), (carol, "viewer")):
        assert a.post("/shares", json={"path": "/Proj", "user": who, "role": role}
                      ).status_code == 201
    assert _notes(b) == [("shared", alice, f"{SHARED}/Proj", 1, False)]
    # 100 edits by Bob within a minute: one notification each, with the count.
    for i in range(100):
        r = b.put("/files/content", params={"path": f"{SHARED}/Proj/spec.md"}, content=b"%d" % i)
        assert r.status_code == 201
    assert _notes(a) == [("edited", bob, "/Proj/spec.md", 100, False)]
    assert _notes(c)[0] == ("edited", bob, f"{SHARED}/Proj/spec.md", 100, False)
    assert [n[0] for n in _notes(b)] == ["shared"], "nobody is told of their own doing"
    # Alice's own edit tells the others, not her.
    a.put("/files/content", params={"path": "/Proj/spec.md"}, content=b"alice")
    assert _notes(b)[0] == ("edited", alice, f"{SHARED}/Proj/spec.md", 1, False)
    assert _notes(a)[0][1] == bob
    # Restore and delete.
    assert b.post("/files/restore", json={"path": f"{SHARED}/Proj/spec.md", "rev": 1}
                  ).status_code == 201
    assert _notes(a)[0] == ("restored", bob, "/Proj/spec.md", 1, False)
    b.put("/files/content", params={"path": f"{SHARED}/Proj/new.txt"}, content=b"n")
    assert _notes(c)[0] == ("added", bob, f"{SHARED}/Proj/new.txt", 1, False)
    assert b.post("/files/delete", json={"path": f"{SHARED}/Proj/new.txt"}).status_code == 200
    assert _notes(a)[0] == ("deleted", bob, "/Proj/new.txt", 1, False)
    # Things of Alice's that are not shared tell nobody.
    before = len(_notes(a)), len(_notes(b)), len(_notes(c))
    a.put("/files/content", params={"path": "/private.txt"}, content=b"p")
    assert (len(_notes(a)), len(_notes(b)), len(_notes(c))) == before


def test_unread_first_and_marking_read(trio: list[tuple[str, httpx.Client]]) -> None:
    (_, a), (bob, b), (_, c) = trio
    for name in ("one", "two", "three"):
        a.post("/files/mkdir", json={"path": f"/{name}"})
        a.post("/shares", json={"path": f"/{name}", "user": bob, "role": "viewer"})
    listing = b.get("/notifications").json()
    assert listing["unread"] == 3
    ids = [n["id"] for n in listing["notifications"]]
    assert [n["path"] for n in listing["notifications"]] == [
        f"{SHARED}/three", f"{SHARED}/two", f"{SHARED}/one"]
    assert b.post("/notifications/read", json={"ids": [ids[0]]}).json() == {"marked": 1}
    after = b.get("/notifications").json()
    assert after["unread"] == 2
    assert [n["id"] for n in after["notifications"]] == [ids[1], ids[2], ids[0]]
    assert _notes(b, limit=1, offset=1)[0][2] == f"{SHARED}/one"
    # Someone else's ids change nothing.
    assert c.post("/notifications/read", json={"ids": ids}).json() == {"marked": 0}
    assert b.post("/notifications/read", json={"all": True}).json() == {"marked": 2}
    assert b.get("/notifications").json()["unread"] == 0
    assert b.post("/notifications/read", json={}).status_code == 400
    assert b.get("/notifications", params={"limit": 0}).status_code == 400


def test_a_notification_rings_the_long_poll(trio: list[tuple[str, httpx.Client]]) -> None:
    (_, a), (bob, b), _ = trio
    cursor = b.get("/changes/latest").json()["cursor"]
    a.post("/files/mkdir", json={"path": "/Gift"})

    def share_soon() -> None:
        time.sleep(0.4)
        a.post("/shares", json={"path": "/Gift", "user": bob, "role": "viewer"})

    thread = threading.Thread(target=share_soon)
    thread.start()
    t0 = time.monotonic()
    r = b.get("/changes/wait", params={"cursor": cursor, "timeout": 20})
    thread.join()
    assert r.json()["changes"] is True and time.monotonic() - t0 < 2
    assert b.get("/notifications").json()["unread"] == 1
