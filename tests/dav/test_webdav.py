"""WebDAV as a face on the service layer: what a write through /dav/ does to
revisions, the trash, the change feed, shares and quotas, seen through the
REST API of the same real server; auth, locks across requests, ETags and
clients' side files.  (litmus and rclone check the protocol itself.)"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Server

PASSWORD = "dav-password-1"


class Account:
    def __init__(self, server: Server, name: str, token: str) -> None:
        self.name, self.token = name, token
        self.dav = httpx.Client(base_url=server.base_url + "/dav", auth=(name, PASSWORD),
                                timeout=60)
        self.api = server.client(token)

    def close(self) -> None:
        self.dav.close()
        self.api.close()


@pytest.fixture
def alice(server: Server) -> Iterator[Account]:
    name, token = server.add_user(password=PASSWORD)
    account = Account(server, name, token)
    yield account
    account.close()


@pytest.fixture
def bob(server: Server) -> Iterator[Account]:
    name, token = server.add_user(password=PASSWORD)
    account = Account(server, name, token)
    yield account
    account.close()


def propfind(client: httpx.Client, path: str, body: str = "", depth: str = "1") -> str:
    r = client.request("PROPFIND", path, content=body, headers={"Depth": depth})
    assert r.status_code == 207, r.text
    return r.text


def hrefs(xml: str) -> list[str]:
    return re.findall(r"<D:href>([^<]*)</D:href>", xml)


def test_every_put_is_a_revision_and_reads_back(alice: Account) -> None:
    assert alice.dav.request("MKCOL", "/notes").status_code == 201
    first = alice.dav.put("/notes/a.txt", content=b"one")
    assert first.status_code == 201
    second = alice.dav.put("/notes/a.txt", content=b"two, longer")
    assert second.status_code == 204
    assert first.headers["etag"] != second.headers["etag"]
    revs = alice.api.get("/files/list_revisions", params={"path": "/notes/a.txt"}).json()
    assert [r["rev"] for r in revs["revisions"]] == [2, 1]
    assert alice.dav.get("/notes/a.txt").content == b"two, longer"
    part = alice.dav.get("/notes/a.txt", headers={"Range": "bytes=5-"})
    assert part.status_code == 206 and part.content == b"longer"


def test_a_chunked_put_streams_in(alice: Account) -> None:
    def pieces() -> Iterator[bytes]:
        for i in range(64):
            yield bytes([i]) * 65536

    r = alice.dav.put("/big.bin", content=pieces())
    assert r.status_code == 201
    meta = alice.api.get("/files/metadata", params={"path": "/big.bin"}).json()
    assert meta["size"] == 64 * 65536


def test_stale_etags_get_412_and_change_nothing(alice: Account) -> None:
    etag = alice.dav.put("/doc.txt", content=b"v1").headers["etag"]
    assert alice.dav.put("/doc.txt", content=b"v2", headers={"If-Match": etag}).status_code == 204
    stale = alice.dav.put("/doc.txt", content=b"v3 lost?", headers={"If-Match": etag})
    assert stale.status_code == 412
    none = alice.dav.put("/doc.txt", content=b"v3", headers={"If-None-Match": "*"})
    assert none.status_code == 412
    assert alice.dav.get("/doc.txt").content == b"v2"
    fresh = alice.dav.put("/new.txt", content=b"x", headers={"If-None-Match": "*"})
    assert fresh.status_code == 201


def test_writes_need_their_parent_folder(alice: Account) -> None:
    assert alice.dav.put("/no/such/folder.txt", content=b"x").status_code == 409
    assert alice.dav.request("MKCOL", "/no/such").status_code == 409
    alice.dav.put("/f.txt", content=b"x")
    r = alice.dav.request("MOVE", "/f.txt", headers={"Destination": "/dav/nope/f.txt"})
    assert r.status_code == 409
    listing = alice.api.get("/files/list", params={"path": "/"}).json()
    assert [e["name"] for e in listing["entries"]] == ["f.txt"]


def test_delete_goes_to_the_trash_and_the_feed(alice: Account) -> None:
    cursor = alice.api.get("/changes/latest").json()["cursor"]
    alice.dav.request("MKCOL", "/trip")
    alice.dav.put("/trip/photo.jpg", content=b"jpeg")
    assert alice.dav.delete("/trip").status_code == 204
    assert alice.dav.get("/trip/photo.jpg").status_code == 404
    trash = alice.api.get("/trash").json()["entries"]
    assert [e["path"] for e in trash] == ["/trip"]
    changes = alice.api.get("/changes", params={"cursor": cursor}).json()["changes"]
    assert [(c["op"], c["path"]) for c in changes] == [
        ("mkdir", "/trip"), ("add", "/trip/photo.jpg"), ("delete", "/trip")]


def test_move_is_a_move_and_keeps_history(alice: Account) -> None:
    alice.dav.put("/a.txt", content=b"1")
    alice.dav.put("/a.txt", content=b"2")
    before = alice.api.get("/files/metadata", params={"path": "/a.txt"}).json()
    r = alice.dav.request("MOVE", "/a.txt", headers={"Destination": "/dav/b.txt"})
    assert r.status_code == 201
    after = alice.api.get("/files/metadata", params={"path": "/b.txt"}).json()
    assert after["id"] == before["id"] and after["rev"] == 2


def test_overwriting_move_puts_the_old_file_in_the_trash(alice: Account) -> None:
    alice.dav.put("/old.txt", content=b"old")
    alice.dav.put("/new.txt", content=b"new")
    r = alice.dav.request("MOVE", "/new.txt",
                          headers={"Destination": "/dav/old.txt", "Overwrite": "F"})
    assert r.status_code == 412
    r = alice.dav.request("MOVE", "/new.txt", headers={"Destination": "/dav/old.txt"})
    assert r.status_code == 204
    assert alice.dav.get("/old.txt").content == b"new"
    assert [e["path"] for e in alice.api.get("/trash").json()["entries"]] == ["/old.txt"]


def test_auth_by_password_token_and_bearer(server: Server, alice: Account) -> None:
    url = server.base_url + "/dav/"
    anonymous = httpx.request("PROPFIND", url, headers={"Depth": "0"})
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Basic ")
    by_token = httpx.request("PROPFIND", url, headers={"Depth": "0"},
                             auth=(alice.name, alice.token))
    assert by_token.status_code == 207
    bearer = httpx.request("PROPFIND", url, headers={
        "Depth": "0", "Authorization": f"Bearer {alice.token}"})
    assert bearer.status_code == 207
    other, _ = server.add_user(password=PASSWORD)
    stolen = httpx.request("PROPFIND", url, headers={"Depth": "0"}, auth=(other, alice.token))
    assert stolen.status_code == 401


def test_wrong_passwords_are_throttled(server: Server) -> None:
    name, _ = server.add_user(password=PASSWORD)
    url = server.base_url + "/dav/"
    codes = [httpx.request("PROPFIND", url, headers={"Depth": "0"},
                           auth=(name, f"wrong-{i}")).status_code for i in range(11)]
    assert codes[:10] == [401] * 10 and codes[10] == 429
    # the right password waits too: the name is throttled, not the guess
    r = httpx.request("PROPFIND", url, headers={"Depth": "0"}, auth=(name, PASSWORD))
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    # and sign-in through the API is the same counter
    api = httpx.post(server.base_url + "/api/v1/auth/tokens", json={
        "username": name, "password": PASSWORD, "device_name": "x"})
    assert api.status_code == 429


def test_viewers_get_403_on_every_write(alice: Account, bob: Account) -> None:
    alice.dav.request("MKCOL", "/shared")
    alice.dav.put("/shared/a.txt", content=b"alice's")
    r = alice.api.post("/shares", json={"path": "/shared", "user": bob.name, "role": "viewer"})
    assert r.status_code == 201
    base = "/Shared%20with%20me/shared"
    listing = propfind(bob.dav, base + "/")
    assert any(h.endswith("/a.txt") for h in hrefs(listing))
    assert bob.dav.get(base + "/a.txt").content == b"alice's"
    writes = [
        bob.dav.put(base + "/a.txt", content=b"bob's"),
        bob.dav.put(base + "/b.txt", content=b"bob's"),
        bob.dav.delete(base + "/a.txt"),
        bob.dav.request("MKCOL", base + "/sub"),
        bob.dav.request("MOVE", base + "/a.txt", headers={"Destination": f"/dav{base}/c.txt"}),
        bob.dav.request("PROPPATCH", base + "/a.txt", content=(
            '<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>'
            '<x xmlns="urn:x">1</x></D:prop></D:set></D:propertyupdate>')),
    ]
    assert [w.status_code for w in writes] == [403] * len(writes)
    assert alice.dav.get("/shared/a.txt").content == b"alice's"


def test_editors_write_as_themselves(alice: Account, bob: Account) -> None:
    alice.dav.request("MKCOL", "/team")
    alice.api.post("/shares", json={"path": "/team", "user": bob.name, "role": "editor"})
    assert bob.dav.put("/Shared%20with%20me/team/plan.txt", content=b"bob").status_code == 201
    revs = alice.api.get("/files/list_revisions", params={"path": "/team/plan.txt"}).json()
    assert revs["revisions"][0]["author"] == bob.name
    assert bob.dav.delete("/Shared%20with%20me/team/plan.txt").status_code == 204
    notes = alice.api.get("/notifications").json()["notifications"]
    assert {(n["by"], n["path"]) for n in notes} == {(bob.name, "/team/plan.txt")}
    assert {n["kind"] for n in notes} >= {"deleted"}


def test_locks_hold_across_requests(alice: Account) -> None:
    alice.dav.put("/locked.txt", content=b"x")
    lock = alice.dav.request("LOCK", "/locked.txt", headers={"Timeout": "Second-60"}, content=(
        '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>'
        '</D:lockscope><D:locktype><D:write/></D:locktype><D:owner>me</D:owner>'
        '</D:lockinfo>'))
    assert lock.status_code == 200
    token = lock.headers["lock-token"]
    assert alice.dav.put("/locked.txt", content=b"y").status_code == 423
    assert alice.dav.delete("/locked.txt").status_code == 423
    moved = alice.dav.request("MOVE", "/locked.txt", headers={"Destination": "/dav/m.txt"})
    assert moved.status_code == 423
    assert alice.dav.put("/locked.txt", content=b"y",
                         headers={"If": f"({token})"}).status_code == 204
    assert "Second-" in propfind(alice.dav, "/locked.txt", depth="0")
    assert alice.dav.request("UNLOCK", "/locked.txt",
                             headers={"Lock-Token": token}).status_code == 204
    assert alice.dav.put("/locked.txt", content=b"z").status_code == 204


def test_quota_properties(server: Server) -> None:
    name, _ = server.add_user(password=PASSWORD, quota="1MB")
    with httpx.Client(base_url=server.base_url + "/dav", auth=(name, PASSWORD)) as dav:
        dav.put("/x.bin", content=b"x" * 1000)
        xml = propfind(dav, "/", depth="0", body=(
            '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop>'
            "<D:quota-available-bytes/><D:quota-used-bytes/></D:prop></D:propfind>"))
    assert "<D:quota-used-bytes>1000</D:quota-used-bytes>" in xml
    assert "<D:quota-available-bytes>999000</D:quota-available-bytes>" in xml


def test_depth_infinity_is_refused(alice: Account) -> None:
    r = alice.dav.request("PROPFIND", "/", headers={"Depth": "infinity"})
    assert r.status_code == 403 and "propfind-finite-depth" in r.text


def test_mtime_from_clients_that_send_it(alice: Account) -> None:
    r = alice.dav.put("/old-photo.jpg", content=b"jpeg", headers={"X-OC-Mtime": "1262304000"})
    assert r.headers["x-oc-mtime"] == "accepted"
    meta = alice.api.get("/files/metadata", params={"path": "/old-photo.jpg"}).json()
    assert meta["mtime"] == 1262304000 * 1000
    assert "Fri, 01 Jan 2010 00:00:00 GMT" in propfind(alice.dav, "/old-photo.jpg", depth="0")


def test_side_files_stay_out_of_the_tree(alice: Account) -> None:
    cursor = alice.api.get("/changes/latest").json()["cursor"]
    alice.dav.request("MKCOL", "/mac")
    alice.dav.put("/mac/report.pdf", content=b"%PDF")
    for name in ("._report.pdf", ".DS_Store", "~$report.docx", "Thumbs.db", "DESKTOP.INI"):
        assert alice.dav.put(f"/mac/{name}", content=b"side " + name.encode()).status_code == 201
        assert alice.dav.put(f"/mac/{name}", content=b"again").status_code == 204
    assert alice.dav.get("/mac/._report.pdf").content == b"again"
    # WebDAV shows them, so that the client finds what it wrote...
    shown = {h.rsplit("/", 1)[-1] for h in hrefs(propfind(alice.dav, "/mac/"))}
    assert {"report.pdf", "._report.pdf", ".DS_Store", "~%24report.docx"} <= shown
    # ...nothing else does: no entry, no revision, no change, no usage
    listing = alice.api.get("/files/list", params={"path": "/mac"}).json()
    assert [e["name"] for e in listing["entries"]] == ["report.pdf"]
    changes = alice.api.get("/changes", params={"cursor": cursor}).json()["changes"]
    assert [c["path"] for c in changes] == ["/mac", "/mac/report.pdf"]
    assert alice.api.get("/me").json()["used_bytes"] == 4
    # they follow their folder, and go with it
    alice.dav.request("MOVE", "/mac", headers={"Destination": "/dav/mac2"})
    assert alice.dav.get("/mac2/._report.pdf").content == b"again"
    assert alice.dav.delete("/mac2/._report.pdf").status_code == 204
    assert alice.dav.get("/mac2/._report.pdf").status_code == 404


def test_a_side_file_renamed_to_a_real_name_becomes_a_file(alice: Account) -> None:
    alice.dav.put("/~$draft.docx", content=b"owner file")
    r = alice.dav.request("MOVE", "/~$draft.docx", headers={"Destination": "/dav/kept.txt"})
    assert r.status_code == 201
    meta = alice.api.get("/files/metadata", params={"path": "/kept.txt"})
    assert meta.status_code == 200 and meta.json()["size"] == len(b"owner file")
    assert alice.dav.get("/~$draft.docx").status_code == 404


def test_side_files_are_small(alice: Account) -> None:
    r = alice.dav.put("/Thumbs.db", content=b"x" * (1024 * 1024 + 1))
    assert r.status_code == 413
    assert alice.dav.get("/Thumbs.db").status_code == 404


def test_app_password_from_the_cli(server: Server) -> None:
    name, _ = server.add_user(password=PASSWORD)
    made = subprocess.run(
        [sys.executable, "-m", "selfdrive", "app-password", "--server", server.base_url,
         "--username", name, "--password-stdin", "--name", "Finder on a Mac"],
        input=PASSWORD + "\n", capture_output=True, text=True, timeout=60, check=True)
    token = re.search(r"App password: (\S+)", made.stdout)
    assert token, made.stdout
    r = httpx.request("PROPFIND", server.base_url + "/dav/", headers={"Depth": "0"},
                      auth=(name, token.group(1)))
    assert r.status_code == 207
