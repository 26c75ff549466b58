"""Nothing readable is left on disk: file contents appear in no file of the data dir."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

from PIL import Image

from tests.conftest import Server


def _all_bytes(root: Path) -> list[tuple[Path, bytes]]:
    return [(p, p.read_bytes()) for p in root.rglob("*") if p.is_file()]


def test_uploaded_text_is_nowhere_in_the_data_dir(tmp_path: Path) -> None:
    srv = Server(data_dir=tmp_path / "data")
    srv.start()
    marker = b"SELFDRIVE-PLAINTEXT-MARKER-" + os.urandom(8).hex().encode()
    text = (b"Dear diary, today I wrote a very private sentence. " + marker + b"\n") * 4000
    small = b"tiny private note " + marker
    try:
        with srv.client(srv.token()) as c:
            assert c.put("/files/content", params={"path": "/diary.txt"},
                          content=text).status_code == 201
            assert c.put("/files/content", params={"path": "/note.txt"},
                          content=small).status_code == 201
            r = c.post("/files/upload", params={"uploadType": "multipart", "path": "/f"},
                       files=[("f", ("form.txt", text, "text/plain"))])
            assert r.status_code == 201
            assert c.get("/files/content", params={"path": "/diary.txt"}).content == text
            # An unfinished resumable upload: its tail waits in staging.
            r = c.post("/uploads", headers={
                "Tus-Resumable": "1.0.0", "Upload-Length": str(2 * len(text)),
                "Upload-Metadata": "path " + base64.b64encode(b"/later.txt").decode()})
            r = c.patch(r.headers["location"].removeprefix("/api/v1"), content=text, headers={
                "Tus-Resumable": "1.0.0", "Upload-Offset": "0",
                "Content-Type": "application/offset+octet-stream"})
            assert r.status_code == 204
            # A thumbnail, cached in the data dir: sealed like the rest.
            picture = io.BytesIO()
            Image.effect_noise((300, 200), 60).save(picture, "PNG")
            assert c.put("/files/content", params={"path": "/photo.png"},
                         content=picture.getvalue()).status_code == 201
            r = c.get("/files/thumbnail", params={"path": "/photo.png", "size": 64})
            assert r.status_code == 200, r.text
            thumbnail = r.content
    finally:
        srv.stop()
    files = _all_bytes(srv.data_dir)
    assert any("blocks" in p.parts for p, _ in files)
    assert any("staging" in p.parts for p, _ in files)
    assert any("thumbnails" in p.parts for p, _ in files)
    for path, data in files:
        for needle in (marker, b"Dear diary", b"tiny private note", thumbnail[:64],
                       thumbnail[-64:], b"WEBPVP8", b"\x89PNG"):
            assert needle not in data, f"{needle!r} readable in {path}"
