"""GET /files/zip on the real server: a whole folder or named entries of it,
byte for byte, nested and empty folders, the root, shares, and refusals
before any byte is sent."""

from __future__ import annotations

import io
import zipfile

import httpx

from tests.conftest import Server

FILES = {
    "/Trip/a.jpg": b"\xff\xd8 picture a " * 1000,
    "/Trip/notes.txt": b"day one\n",
    "/Trip/Day 2/b.jpg": b"picture b " * 50_000,
    "/Trip/Day 2/deeper/c.bin": bytes(range(256)) * 9000,
    "/Trip/Zürich.txt": "grüezi".encode(),
    "/top.txt": b"at the top",
}


def fill(c: httpx.Client) -> None:
    for path, data in FILES.items():
        assert c.put("/files/content", params={"path": path}, content=data).status_code == 201
    assert c.post("/files/mkdir", json={"path": "/Trip/empty"}).status_code == 201


def unzip(r: httpx.Response) -> tuple[dict[str, bytes], set[str]]:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert r.headers["x-content-type-options"] == "nosniff"
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        assert z.testzip() is None
        files = {i.filename: z.read(i) for i in z.infolist() if not i.is_dir()}
        dirs = {i.filename for i in z.infolist() if i.is_dir()}
    return files, dirs


def test_whole_folder_byte_for_byte(api: httpx.Client) -> None:
    fill(api)
    r = api.get("/files/zip", params={"path": "/Trip"})
    assert 'filename="Trip.zip"' in r.headers["content-disposition"]
    files, dirs = unzip(r)
    assert files == {p.removeprefix("/Trip/"): d for p, d in FILES.items()
                     if p.startswith("/Trip/")}
    assert dirs == {"Day 2/", "Day 2/deeper/", "empty/"}


def test_named_entries(api: httpx.Client) -> None:
    fill(api)
    r = api.get("/files/zip", params={"path": "/Trip", "names": "a.jpg/Day 2/empty"})
    files, dirs = unzip(r)
    assert files == {"a.jpg": FILES["/Trip/a.jpg"], "Day 2/b.jpg": FILES["/Trip/Day 2/b.jpg"],
                     "Day 2/deeper/c.bin": FILES["/Trip/Day 2/deeper/c.bin"]}
    assert dirs == {"Day 2/", "Day 2/deeper/", "empty/"}
    # Names are NFC-normalised, as paths are.
    files, _ = unzip(api.get("/files/zip", params={"path": "/Trip",
                                                   "names": "Zu\u0308rich.txt"}))
    assert files == {"Zürich.txt": "grüezi".encode()}


def test_the_root(api: httpx.Client) -> None:
    fill(api)
    r = api.get("/files/zip")
    assert 'filename="selfdrive.zip"' in r.headers["content-disposition"]
    files, _ = unzip(r)
    assert files == {p.lstrip("/"): d for p, d in FILES.items()}
    files, _ = unzip(api.get("/files/zip", params={"path": "/", "names": "top.txt"}))
    assert files == {"top.txt": b"at the top"}


def test_refusals_come_before_any_byte(api: httpx.Client) -> None:
    fill(api)
    for params, status in [
        ({"path": "/Trip", "names": "a.jpg/nope.txt"}, 404),
        ({"path": "/Nope"}, 404),
        ({"path": "/Trip", "names": "a.jpg//notes.txt"}, 400),
        ({"path": "/Trip", "names": ".."}, 400),
        ({"path": "/Trip", "names": "/".join(f"n{i}" for i in range(1001))}, 400),
        ({"path": "/top.txt"}, 409),
    ]:
        r = api.get("/files/zip", params=params)
        assert r.status_code == status, (params, r.text)
        assert r.headers["content-type"] == "application/json"
    r = api.get("/files/zip", params={"path": "/Trip", "names": "a.jpg/nope.txt"})
    assert r.json()["error"]["path"] == "/Trip/nope.txt"


def test_through_a_share_and_never_another_users(server: Server) -> None:
    owner_name, owner_token = server.add_user()
    viewer_name, viewer_token = server.add_user()
    with server.client(owner_token) as owner, server.client(viewer_token) as viewer:
        fill(owner)
        assert viewer.get("/files/zip", params={"path": "/Trip"}).status_code == 404
        r = owner.post("/shares", json={"path": "/Trip", "user": viewer_name,
                                        "role": "viewer"})
        assert r.status_code == 201, r.text
        files, _ = unzip(viewer.get("/files/zip", params={"path": "/Shared with me/Trip",
                                                          "names": "Day 2"}))
        assert set(files) == {"Day 2/b.jpg", "Day 2/deeper/c.bin"}
        files, dirs = unzip(viewer.get("/files/zip", params={"path": "/Shared with me"}))
        assert files["Trip/a.jpg"] == FILES["/Trip/a.jpg"] and "Trip/" in dirs
        files, dirs = unzip(viewer.get("/files/zip"))  # the root holds the share too
        assert "Shared with me/Trip/notes.txt" in files and "Shared with me/" in dirs
        assert "top.txt" not in files  # only what is shared
    assert owner_name


def test_needs_sign_in(server: Server) -> None:
    r = httpx.get(server.base_url + "/api/v1/files/zip", params={"path": "/"})
    assert r.status_code == 401
