"""File drops by tus (/s/<token>/uploads) on the real server: resumable
uploads into the linked folder that keep both files on a name clash, tell
nothing of what the folder holds, stay inside it, and fail cleanly (403 on
a link that is not a drop, 507 over the owner's quota with nothing
half-written, 404 once the link is revoked)."""

from __future__ import annotations

import base64
import io

import httpx
from tusclient import client as tus_client

from tests.conftest import Server
from tests.http.linkkit import PASSWORD, Person, new_folder

OCTETS = {"Content-Type": "application/offset+octet-stream", "Tus-Resumable": "1.0.0"}


def _meta(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def _create(visitor: httpx.Client, url: str, length: int, headers: dict[str, str] | None = None,
            **meta: str) -> httpx.Response:
    return visitor.post(f"{url}/uploads", headers={
        "Tus-Resumable": "1.0.0", "Upload-Length": str(length),
        "Upload-Metadata": _meta(**meta), **(headers or {})})


def _send(visitor: httpx.Client, url: str, name: str, data: bytes,
          headers: dict[str, str] | None = None) -> str:
    """A whole upload in two PATCHes; returns its URL."""
    r = _create(visitor, url, len(data), headers, filename=name)
    assert r.status_code == 201, r.text
    where = r.headers["location"]
    half = len(data) // 2
    for offset, piece in ((0, data[:half]), (half, data[half:])):
        r = visitor.patch(where, content=piece,
                          headers={**OCTETS, "Upload-Offset": str(offset), **(headers or {})})
        assert r.status_code == 204, r.text
    return where


def _everything_said(r: httpx.Response) -> str:
    return str(dict(r.headers)) + r.text


def test_a_drop_takes_resumable_uploads_and_keeps_both_on_a_clash(
    server: Server, alice: Person, visitor: httpx.Client,
) -> None:
    top = new_folder(alice, "tusdrop")
    alice.put(f"{top}/Inbox/report.txt", b"alice's own")
    alice.put(f"{top}/Inbox/secret-plans.txt", b"private")
    link = alice.link(f"{top}/Inbox", allow_upload=True)
    url = str(link["url"])

    r = _create(visitor, url, 10, filename="report.txt")
    assert r.status_code == 201, r.text
    where = r.headers["location"]
    assert where.startswith(f"{url}/uploads/")
    for h in ("Referrer-Policy", "Content-Security-Policy", "X-Content-Type-Options"):
        assert h.lower() in r.headers
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["tus-resumable"] == "1.0.0"
    r = visitor.patch(where, content=b"from ", headers={**OCTETS, "Upload-Offset": "0"})
    assert r.status_code == 204 and r.headers["upload-offset"] == "5"
    head = visitor.head(where, headers={"Tus-Resumable": "1.0.0"})
    assert head.status_code == 200 and head.headers["upload-offset"] == "5"
    assert head.headers["upload-length"] == "10"
    r = visitor.patch(where, content=b"a web", headers={**OCTETS, "Upload-Offset": "3"})
    assert r.status_code == 409  # tus: not where the upload stands
    r = visitor.patch(where, content=b"visit", headers={**OCTETS, "Upload-Offset": "5"})
    assert r.status_code == 204 and r.headers["upload-offset"] == "10"
    # Where it landed is not told: "report (2).txt" would say "report.txt" is there.
    for said in (r, visitor.head(where, headers={"Tus-Resumable": "1.0.0"})):
        text = _everything_said(said)
        assert "report (2)" not in text and top not in text and "Inbox" not in text
        assert "selfdrive-path" not in said.headers
    # A second upload of the same name, by tuspy (a stock client).
    tus = tus_client.TusClient(f"{server.base_url}{url}/uploads")
    uploader = tus.uploader(file_stream=io.BytesIO(b"second"), chunk_size=4,
                            metadata={"filename": "report.txt"})
    uploader.upload()

    assert sorted(alice.names(f"{top}/Inbox")) == [
        "report (2).txt", "report (3).txt", "report.txt", "secret-plans.txt"]
    got = {n: alice.c.get("/files/content", params={"path": f"{top}/Inbox/{n}"}).content
           for n in ("report.txt", "report (2).txt", "report (3).txt")}
    assert got == {"report.txt": b"alice's own", "report (2).txt": b"from visit",
                   "report (3).txt": b"second"}
    revs = alice.c.get("/files/list_revisions", params={"path": f"{top}/Inbox/report (2).txt"})
    assert revs.json()["revisions"][0]["device"] == f"link {link['id']}"

    # Cancelling frees the upload.
    r = _create(visitor, url, 100, filename="never.txt")
    gone = r.headers["location"]
    assert visitor.delete(gone, headers={"Tus-Resumable": "1.0.0"}).status_code == 204
    assert visitor.head(gone, headers={"Tus-Resumable": "1.0.0"}).status_code == 404
    assert "never.txt" not in alice.names(f"{top}/Inbox")


def test_a_drop_takes_a_name_and_nothing_else(alice: Person, visitor: httpx.Client) -> None:
    top = new_folder(alice, "tusnames")
    alice.put(f"{top}/private.txt", b"PRIVATE")
    assert alice.c.post("/files/mkdir", json={"path": f"{top}/box"}).status_code == 201
    link = alice.link(f"{top}/box", allow_upload=True)
    url = str(link["url"])
    cases: list[dict[str, str]] = [
        {"filename": "../escaped.txt"}, {"filename": ".."}, {"filename": "a/b.txt"},
        {"filename": "..\\escaped.txt"}, {"filename": "/abs.txt"}, {"filename": "x" * 300},
        {"filename": "ctl\x01.txt"},
        {"filename": "ok.txt", "path": f"{top}/escaped.txt"},
        {"filename": "ok.txt", "folder": "/"}, {"path": "/escaped.txt"},
    ]
    for meta in cases:
        r = visitor.post(f"{url}/uploads", headers={
            "Tus-Resumable": "1.0.0", "Upload-Length": "3", "Upload-Metadata": _meta(**meta)})
        assert r.status_code == 400, meta
        assert r.json()["error"]["code"] in ("invalid_path", "bad_request"), meta
    r = visitor.post(f"{url}/uploads", headers={"Tus-Resumable": "1.0.0", "Upload-Length": "3",
                                                "Upload-Metadata": "filename !!!"})
    assert r.status_code == 400
    r = _create(visitor, url, 3, headers={"Tus-Resumable": "0.2.2"}, filename="old.txt")
    assert r.status_code == 412
    assert alice.names(f"{top}/box") == []
    assert sorted(alice.names(top)) == ["box", "private.txt"]
    root = alice.names("/")
    assert not any(n.startswith(("escaped", "abs")) for n in root)


def test_uploads_stay_with_their_link(
    server: Server, alice: Person, visitor: httpx.Client,
) -> None:
    top = new_folder(alice, "tusscope")
    for sub in ("a", "b"):
        assert alice.c.post("/files/mkdir", json={"path": f"{top}/{sub}"}).status_code == 201
    drop_a = alice.link(f"{top}/a", allow_upload=True)
    drop_b = alice.link(f"{top}/b", allow_upload=True)
    r = _create(visitor, str(drop_a["url"]), 4, filename="x.txt")
    upload = r.headers["location"].rsplit("/", 1)[1]
    # The upload of drop A is unknown through drop B, a folder link, a bad token.
    alice.put(f"{top}/f.txt", b"f")
    plain = alice.link(f"{top}/a")
    file_link = alice.link(f"{top}/f.txt")
    r = visitor.patch(f"{drop_b['url']}/uploads/{upload}", content=b"evil",
                      headers={**OCTETS, "Upload-Offset": "0"})
    assert r.status_code == 404
    for other in (plain, file_link):
        r = visitor.patch(f"{other['url']}/uploads/{upload}", content=b"evil",
                          headers={**OCTETS, "Upload-Offset": "0"})
        assert r.status_code == 403, other
        assert _create(visitor, str(other["url"]), 4, filename="x.txt").status_code == 403
    for bad in ("/s/" + "A" * 32, "/s/..", "/s/%2e%2e"):
        assert _create(visitor, bad, 4, filename="x.txt").status_code == 404, bad
    # The owner's own upload (by the API) cannot be reached through the drop.
    r = alice.c.post("/uploads", headers={"Tus-Resumable": "1.0.0", "Upload-Length": "4",
                                          "Upload-Metadata": _meta(path=f"{top}/a/own.txt")})
    assert r.status_code == 201
    own = r.headers["location"].rsplit("/", 1)[1]
    r = visitor.head(f"{drop_a['url']}/uploads/{own}", headers={"Tus-Resumable": "1.0.0"})
    assert r.status_code == 404
    assert alice.names(f"{top}/a") == [] and alice.names(f"{top}/b") == []

    # Revoked mid-upload: the rest is refused and nothing lands.
    where = f"{drop_a['url']}/uploads/{upload}"
    r = visitor.patch(where, content=b"ha", headers={**OCTETS, "Upload-Offset": "0"})
    assert r.status_code == 204
    assert alice.c.delete(f"/links/{drop_a['id']}").status_code == 204
    r = visitor.patch(where, content=b"lf", headers={**OCTETS, "Upload-Offset": "2"})
    assert r.status_code == 404
    assert alice.names(f"{top}/a") == []


def test_a_password_protected_drop_by_tus(alice: Person, visitor: httpx.Client) -> None:
    top = new_folder(alice, "tuspw")
    link = alice.link(top, allow_upload=True, password=PASSWORD)
    url = str(link["url"])
    r = _create(visitor, url, 2, filename="a.txt")
    assert r.status_code == 401 and r.json()["error"]["password_required"] is True
    _send(visitor, url, "a.txt", b"aa", headers={"X-Link-Password": PASSWORD})
    assert visitor.post(url, data={"password": PASSWORD}).status_code == 303  # a grant cookie
    _send(visitor, url, "b.txt", b"bb")
    assert sorted(alice.names(top)) == ["a.txt", "b.txt"]


def test_over_the_owners_quota_nothing_is_half_written(
    server: Server, visitor: httpx.Client,
) -> None:
    name, token = server.add_user(quota="100KB")
    with server.client(token) as c:
        owner = Person(name, c)
        top = new_folder(owner, "full")
        link = owner.link(top, allow_upload=True)
        url = str(link["url"])
        # Too big from the start: refused before a byte is sent.
        r = _create(visitor, url, 200_000, filename="big.bin")
        assert r.status_code == 507 and r.json()["error"]["code"] == "quota_exceeded"
        said = _everything_said(r)
        assert "100000" not in said and "available" not in said  # the owner's figures
        # Fits when it starts; the owner fills the quota meanwhile.
        r = _create(visitor, url, 60_000, filename="late.bin")
        assert r.status_code == 201
        where = r.headers["location"]
        r = visitor.patch(where, content=b"x" * 30_000, headers={**OCTETS, "Upload-Offset": "0"})
        assert r.status_code == 204
        owner.put(f"{top}/own.bin", b"o" * 60_000)
        r = visitor.patch(where, content=b"x" * 30_000,
                          headers={**OCTETS, "Upload-Offset": "30000"})
        assert r.status_code == 507, r.text
        assert "30000" not in _everything_said(r) and "quota" not in r.json()["error"]["message"]
        assert owner.names(top) == ["own.bin"]  # no torn file, no partial one
        # The upload stands where it was: a retry says so, and still stores nothing.
        head = visitor.head(where, headers={"Tus-Resumable": "1.0.0"})
        assert head.status_code == 200 and int(head.headers["upload-offset"]) <= 60_000
        assert owner.names(top) == ["own.bin"]


def test_a_drops_unfinished_uploads_never_block_the_owners(
    server: Server, visitor: httpx.Client,
) -> None:
    """Each drop has its own limit of unfinished uploads (max_open_uploads,
    20), apart from its owner's, and its uploads answer through it only."""
    name, token = server.add_user()
    with server.client(token) as c:
        owner = Person(name, c)
        top = new_folder(owner, "pools")
        drop_a, drop_b = (str(owner.link(top, allow_upload=True)["url"]) for _ in "ab")
        started = []
        for i in range(20):
            r = _create(visitor, drop_a, 1, filename=f"{i}.txt")
            assert r.status_code == 201, r.text
            started.append(r.headers["location"])
        r = _create(visitor, drop_a, 1, filename="one-more.txt")
        assert r.status_code == 429 and r.json()["error"]["code"] == "too_many_uploads"
        assert "20" not in r.json()["error"]["message"]  # nothing of the owner's state
        # The owner's own uploads have all their room, and another drop its own.
        own = []
        for i in range(20):
            r = c.post("/uploads", headers={"Tus-Resumable": "1.0.0", "Upload-Length": "1",
                                            "Upload-Metadata": _meta(path=f"{top}/own{i}")})
            assert r.status_code == 201, r.text
            own.append(r.headers["location"])
        r = c.post("/uploads", headers={"Tus-Resumable": "1.0.0", "Upload-Length": "1",
                                        "Upload-Metadata": _meta(path=f"{top}/own-more")})
        assert r.status_code == 429 and "20 unfinished" in r.json()["error"]["message"]
        r = _create(visitor, drop_b, 1, filename="b.txt")
        assert r.status_code == 201, r.text
        # Drop A's upload is unknown through drop B, though both are on one folder.
        mine = started[0].rsplit("/", 1)[1]
        r = visitor.patch(f"{drop_b}/uploads/{mine}", content=b"x",
                          headers={**OCTETS, "Upload-Offset": "0"})
        assert r.status_code == 404
        # Finishing one frees its place in the drop's pool.
        r = visitor.patch(started[0], content=b"x", headers={**OCTETS, "Upload-Offset": "0"})
        assert r.status_code == 204
        assert _create(visitor, drop_a, 1, filename="one-more.txt").status_code == 201
        assert sorted(owner.names(top)) == ["0.txt"]
