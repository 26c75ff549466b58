"""GET /files/thumbnail on the real server: every picture kind, EXIF
orientation, sizes, caching (ETag, 304, the sealed disk cache), the refusals
(not a picture, a decompression bomb), and who may have one."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pillow_heif
import pytest
from PIL import Image, features

from tests.conftest import Server

WEBP = features.check("webp")
OUT_TYPE = "image/webp" if WEBP else "image/jpeg"


def picture(fmt: str, size: tuple[int, int] = (400, 200), mode: str = "RGB",
            **save: object) -> bytes:
    img = Image.new(mode, size, "red" if mode != "1" else 0)
    if mode in ("RGB", "RGBA"):
        # a blue right half, to see which way up it came out
        img.paste((0, 0, 255) if mode == "RGB" else (0, 0, 255, 255),
                  (size[0] // 2, 0, size[0], size[1]))
    out = io.BytesIO()
    img.save(out, fmt, **save)
    return out.getvalue()


def heic() -> bytes:
    pillow_heif.register_heif_opener()
    return picture("HEIF", quality=60)


def gif() -> bytes:
    frames = [Image.new("P", (300, 150), 1), Image.new("P", (300, 150), 2)]
    for f in frames:
        f.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100)
    return out.getvalue()


def with_orientation(orientation: int) -> bytes:
    img = Image.new("RGB", (400, 200), "red")
    img.paste((0, 0, 255), (200, 0, 400, 200))
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


SOURCES: dict[str, Callable[[], bytes]] = {
    "photo.jpg": lambda: picture("JPEG"),
    "shot.png": lambda: picture("PNG", mode="RGBA"),
    "anim.gif": gif,
    "pic.webp": lambda: picture("WEBP"),
    "old.bmp": lambda: picture("BMP"),
    "scan.tiff": lambda: picture("TIFF"),
    "phone.heic": heic,
}
if features.check("avif"):
    SOURCES["new.avif"] = lambda: picture("AVIF")


def put(c: httpx.Client, path: str, data: bytes) -> None:
    r = c.put("/files/content", params={"path": path}, content=data)
    assert r.status_code == 201, r.text


def thumb(c: httpx.Client, path: str, **params: Any) -> httpx.Response:
    return c.get("/files/thumbnail", params={"path": path, **params})


def decoded(r: httpx.Response) -> Image.Image:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == OUT_TYPE
    img = Image.open(io.BytesIO(r.content))
    img.load()
    return img


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_every_kind_of_picture(api: httpx.Client, name: str) -> None:
    put(api, f"/pics/{name}", SOURCES[name]())
    img = decoded(thumb(api, f"/pics/{name}", size=64))
    assert max(img.size) == 64
    assert img.size == (64, 32)
    red = img.convert("RGB").getpixel((5, 16))
    assert isinstance(red, tuple) and red[0] > 180 and red[2] < 90, red  # the first GIF frame


def test_sizes_keep_the_aspect_and_never_enlarge(api: httpx.Client) -> None:
    put(api, "/big.jpg", picture("JPEG", (3000, 1000)))
    put(api, "/small.png", picture("PNG", (40, 30)))
    assert decoded(thumb(api, "/big.jpg")).size == (256, 85)  # 256 is the default
    assert decoded(thumb(api, "/big.jpg", size=1024)).size == (1024, 341)
    assert decoded(thumb(api, "/small.png", size=1024)).size == (40, 30)
    r = thumb(api, "/big.jpg", size=100)
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request"


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_exif_orientation_is_applied(api: httpx.Client, orientation: int) -> None:
    put(api, f"/o{orientation}.jpg", with_orientation(orientation))
    img = decoded(thumb(api, f"/o{orientation}.jpg", size=64)).convert("RGB")
    if orientation in (1, 3):
        assert img.size == (64, 32)
        left = img.getpixel((4, 16))
        assert isinstance(left, tuple)
        # 1: red on the left; 3 (turned 180 degrees): blue on the left
        assert (left[0] > left[2]) == (orientation == 1)
    else:
        assert img.size == (32, 64)
        top = img.getpixel((16, 4))
        assert isinstance(top, tuple)
        # 6 (turn 90 clockwise): the left (red) goes to the top; 8: to the bottom
        assert (top[0] > top[2]) == (orientation == 6)


def test_headers_etag_and_304(api: httpx.Client) -> None:
    put(api, "/h.png", picture("PNG"))
    r = thumb(api, "/h.png")
    assert r.status_code == 200
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"].startswith("private, max-age=")
    assert "sandbox" in r.headers["content-security-policy"]
    etag = r.headers["etag"]
    again = api.get("/files/thumbnail", params={"path": "/h.png"},
                    headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    other_size = thumb(api, "/h.png", size=64)
    assert other_size.headers["etag"] != etag
    pinned = thumb(api, "/h.png", rev=1)
    assert pinned.headers["etag"] == etag
    assert int(pinned.headers["cache-control"].split("=")[1]) > int(
        r.headers["cache-control"].split("=")[1])


def _cached(server: Server) -> list[Path]:
    return [p for p in (server.data_dir / "thumbnails").rglob("*") if p.is_file()]


def test_cache_hit_and_a_new_revision(server: Server, api: httpx.Client) -> None:
    put(api, "/c.jpg", picture("JPEG", (500, 500)))
    first = thumb(api, "/c.jpg", size=1024)
    files = _cached(server)
    stamps = {p: p.stat().st_mtime_ns for p in files}
    second = thumb(api, "/c.jpg", size=1024)
    assert second.content == first.content and second.headers["etag"] == first.headers["etag"]
    assert _cached(server) == files  # served from the cache: nothing new made
    assert any(p.stat().st_mtime_ns >= stamps[p] for p in files)
    for p in files:  # sealed: no picture is readable in the cache
        data = p.read_bytes()
        assert data.startswith(b"SDTH") and b"WEBP" not in data and first.content not in data
    put(api, "/c.jpg", picture("JPEG", (500, 250)))  # revision 2
    third = thumb(api, "/c.jpg", size=1024)
    assert third.headers["etag"] != first.headers["etag"]
    assert decoded(third).size == (500, 250)
    assert third.headers["x-selfdrive-rev"] == "2"
    old = thumb(api, "/c.jpg", size=1024, rev=1)
    assert old.headers["etag"] == first.headers["etag"] and decoded(old).size == (500, 500)


def test_not_a_picture_and_bombs_get_415(api: httpx.Client) -> None:
    put(api, "/notes.txt", b"just text, not a picture\n" * 100)
    put(api, "/fake.jpg", b"\xff\xd8\xff\xe0 then garbage" * 100)
    put(api, "/drawing.svg", b'<svg xmlns="http://www.w3.org/2000/svg"/>')
    put(api, "/empty.png", b"")
    bomb = picture("PNG", (10_000, 10_000), mode="1")
    assert len(bomb) < 100_000
    put(api, "/bomb.png", bomb)
    for path, reason in [("/notes.txt", "not_an_image"), ("/fake.jpg", "undecodable"),
                         ("/drawing.svg", "not_an_image"), ("/empty.png", "not_an_image"),
                         ("/bomb.png", "too_many_pixels")]:
        r = thumb(api, path)
        assert r.status_code == 415, (path, r.text)
        error = r.json()["error"]
        assert error["code"] == "no_thumbnail" and error["reason"] == reason, (path, error)
    api.post("/files/mkdir", json={"path": "/folder"})
    assert thumb(api, "/folder").status_code == 409
    assert thumb(api, "/missing.jpg").status_code == 404
    assert thumb(api, "/notes.txt", rev=9).status_code == 404


def test_another_users_picture_is_out_of_reach_unless_shared(server: Server) -> None:
    owner_name, owner_token = server.add_user()
    viewer_name, viewer_token = server.add_user()
    with server.client(owner_token) as owner, server.client(viewer_token) as viewer:
        put(owner, "/album/private.jpg", picture("JPEG"))
        put(owner, "/mine.jpg", picture("JPEG"))
        for path in ("/album/private.jpg", "/mine.jpg",
                     "/Shared with me/album/private.jpg"):
            assert thumb(viewer, path).status_code == 404
        r = owner.post("/shares", json={"path": "/album", "user": viewer_name,
                                        "role": "viewer"})
        assert r.status_code == 201, r.text
        shared = thumb(viewer, "/Shared with me/album/private.jpg")
        assert decoded(shared).size == (256, 128)
        assert shared.content == thumb(owner, "/album/private.jpg").content
        assert thumb(viewer, "/mine.jpg").status_code == 404  # still not shared
        assert thumb(viewer, "/Shared with me/album/../mine.jpg").status_code == 400
    assert owner_name


def test_needs_sign_in(server: Server) -> None:
    r = httpx.get(server.base_url + "/api/v1/files/thumbnail", params={"path": "/a.jpg"})
    assert r.status_code == 401
