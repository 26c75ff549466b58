"""The change feed and its long poll, against the real server."""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx

from tests.conftest import Server


def _feed(c: httpx.Client, cursor: str, limit: int = 1000) -> tuple[list[dict[str, object]], str]:
    """Every change after *cursor*, paging as told; and the final cursor."""
    out: list[dict[str, object]] = []
    while True:
        r = c.get("/changes", params={"cursor": cursor, "limit": limit})
        assert r.status_code == 200, r.text
        body = r.json()
        out += body["changes"]
        cursor = body["cursor"]
        if not body["has_more"]:
            return out, cursor


def test_the_feed_lists_every_change_in_order(server: Server, api: httpx.Client) -> None:
    start = api.get("/changes/latest").json()["cursor"]
    assert api.put("/files/content", params={"path": "/a/one.txt"}, content=b"1").status_code == 201
    api.put("/files/content", params={"path": "/a/one.txt"}, content=b"one")
    api.post("/files/move", json={"from_path": "/a/one.txt", "to_path": "/a/uno.txt"})
    api.post("/files/delete", json={"path": "/a/uno.txt"})
    changes, cursor = _feed(api, start, limit=2)
    assert [(c["op"], c["path"]) for c in changes] == [
        ("mkdir", "/a"), ("add", "/a/one.txt"), ("modify", "/a/one.txt"),
        ("move", "/a/uno.txt"), ("delete", "/a/uno.txt"),
    ]
    assert changes[2]["rev"] == 2 and changes[2]["size"] == 3 and changes[2]["content_hash"]
    assert changes[3]["old_path"] == "/a/one.txt"
    me = api.get("/me").json()
    assert all(c["device_id"] == me["device_id"] and c["by"] == me["username"] for c in changes)
    assert _feed(api, cursor) == ([], cursor), "nothing new after the final cursor"
    # Another user's changes are not in my feed.
    _, other = server.add_user()
    with server.client(other) as c:
        c.put("/files/content", params={"path": "/theirs.txt"}, content=b"x")
    assert _feed(api, cursor)[0] == []


def test_bad_cursors(api: httpx.Client) -> None:
    for bad in ("", "abc", "-1", "1" * 30):
        assert api.get("/changes", params={"cursor": bad}).status_code == 400
    assert api.get("/changes").status_code == 400
    assert api.get("/changes/wait", params={"cursor": "0", "timeout": 500}).status_code == 400


def test_a_device_offline_for_10000_changes_catches_up(api: httpx.Client) -> None:
    start = api.get("/changes/latest").json()["cursor"]
    for i in range(100):
        api.put("/files/content", params={"path": f"/L0/f{i:03}.txt"}, content=b"%d" % i)
    # Level n holds two copies of level n-1, and a copy journals every file it
    # makes: 100 * (1 + 2 + ... + 128) files in all.
    for n in range(1, 8):
        for side in ("a", "b"):
            r = api.post("/files/copy",
                         json={"from_path": f"/L{n - 1}", "to_path": f"/L{n}/{side}"})
            assert r.status_code == 201, r.text
    changes, cursor = _feed(api, start)
    files = [c["path"] for c in changes if c["kind"] == "file"]
    assert len(files) == len(set(files)) == 100 * (2**8 - 1) == 25500
    assert files[0] == "/L0/f000.txt" and files[-1] == "/L7/b/b/b/b/b/b/b/f099.txt"
    assert cursor == api.get("/changes/latest").json()["cursor"]


def test_wait_rings_within_a_second_of_a_change(server: Server, api: httpx.Client) -> None:
    cursor = api.get("/changes/latest").json()["cursor"]
    took: list[float] = []

    def change_soon() -> None:
        time.sleep(0.5)
        took.append(time.monotonic())
        api.put("/files/content", params={"path": "/ring.txt"}, content=b"ding")

    thread = threading.Thread(target=change_soon)
    thread.start()
    r = api.get("/changes/wait", params={"cursor": cursor, "timeout": 30})
    rang = time.monotonic()
    thread.join()
    assert r.status_code == 200 and r.json() == {"changes": True, "backoff": 0}
    assert rang - took[0] < 1.0
    # Behind already: at once.
    r = api.get("/changes/wait", params={"cursor": cursor, "timeout": 30})
    assert r.json()["changes"] is True
    # Nothing happens: false at the timeout.
    latest = api.get("/changes/latest").json()["cursor"]
    t0 = time.monotonic()
    r = api.get("/changes/wait", params={"cursor": latest, "timeout": 1})
    assert r.json() == {"changes": False, "backoff": 0}
    assert 0.9 < time.monotonic() - t0 < 3


def test_another_users_change_does_not_ring(server: Server, api: httpx.Client) -> None:
    cursor = api.get("/changes/latest").json()["cursor"]
    _, other = server.add_user()

    def other_writes() -> None:
        time.sleep(0.3)
        with server.client(other) as c:
            c.put("/files/content", params={"path": "/not-yours.txt"}, content=b"x")

    thread = threading.Thread(target=other_writes)
    thread.start()
    r = api.get("/changes/wait", params={"cursor": cursor, "timeout": 2})
    thread.join()
    assert r.json()["changes"] is False


def test_a_closed_connection_frees_its_waiter(server: Server, api: httpx.Client) -> None:
    token = api.headers["authorization"].split()[1]
    cursor = api.get("/changes/latest").json()["cursor"]

    def waiters() -> int:
        return int(httpx.get(server.base_url + "/healthz").json()["long_poll_waiters"])

    base = waiters()
    socks = []
    for _ in range(5):
        s = socket.create_connection(("127.0.0.1", server.port))
        s.sendall(f"GET /api/v1/changes/wait?cursor={cursor}&timeout=60 HTTP/1.1\r\n"
                  f"Host: x\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
        socks.append(s)
    deadline = time.monotonic() + 5
    while waiters() < base + 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert waiters() == base + 5
    for s in socks:
        s.close()
    deadline = time.monotonic() + 5
    while waiters() > base and time.monotonic() < deadline:
        time.sleep(0.05)
    assert waiters() == base, "hung-up clients leave no waiter behind"


def test_the_head_comes_first_and_the_connection_stays_usable(
    server: Server, api: httpx.Client,
) -> None:
    """The answer's head goes out when the wait starts, its 64-byte body at
    the ring; then the same connection serves the next request."""
    token = api.headers["authorization"].split()[1]
    cursor = api.get("/changes/latest").json()["cursor"]
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        ask = (f"GET /api/v1/changes/wait?cursor={cursor}&timeout=30 HTTP/1.1\r\n"
               f"Host: x\r\nAuthorization: Bearer {token}\r\n\r\n").encode()
        s.sendall(ask)
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(4096)
        head, _, body = head.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") and b"content-length: 64" in head.lower()
        assert body == b"", "no answer before the ring"
        api.post("/files/mkdir", json={"path": "/ding-dong"})
        while len(body) < 64:
            body += s.recv(4096)
        assert json.loads(body) == {"changes": True, "backoff": 0}
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        again = s.recv(4096)
        assert again.startswith(b"HTTP/1.1 200"), again
