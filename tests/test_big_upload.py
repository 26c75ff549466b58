"""A 10 GiB resumable upload: written once, in flat memory.

The issue's figures: bytes the server writes to disk at most 1.1 x what the
file's blocks take, and RSS growth under 150 MB.  The content is a cipher
keystream (never repeats, so nothing deduplicates) sent in 2 GiB PATCHes, so
the tail staging between PATCHes and the checkpoints within one are both in
play; the download's SHA-256 must equal the source's.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from tests.conftest import Server
from tests.test_memory import _Peak, _rss_mb

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux /proc"),
]
GIB = 1024**3
SIZE = 10 * GIB
PATCH = 2 * GIB
PIECE = 4 * 1024 * 1024


def _io(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        name, _, value = line.partition(":")
        if name == field:
            return int(value)
    raise AssertionError(f"no {field} in /proc/{pid}/io")


def _disk_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


class _Keystream:
    """Pseudo-random bytes at GB/s (AES-CTR), and their SHA-256."""

    def __init__(self) -> None:
        self._enc = Cipher(algorithms.AES(b"k" * 32), modes.CTR(b"\0" * 16)).encryptor()
        self._zeros = bytes(PIECE)
        self.sha = hashlib.sha256()

    def pieces(self, nbytes: int) -> Iterator[bytes]:
        for _ in range(nbytes // PIECE):
            piece = self._enc.update(self._zeros)
            self.sha.update(piece)
            yield piece


def test_a_10_gib_upload_is_written_once_in_flat_memory(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = Server(data_dir=data)
    server.start()
    try:
        assert server.process is not None
        pid = server.process.pid
        _, token = server.add_user(quota="20GiB")
        auth = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
        with httpx.Client(base_url=server.base_url, headers=auth, timeout=300) as c:
            c.put("/api/v1/files/content", params={"path": "/warm.bin"}, content=bytes(PIECE))
            meta = "path " + base64.b64encode(b"/big/ten.bin").decode()
            r = c.post("/api/v1/uploads", headers={"Upload-Length": str(SIZE),
                                                   "Upload-Metadata": meta})
            assert r.status_code == 201, r.text
            url = r.headers["location"]
            source = _Keystream()
            rss_before = _rss_mb(pid)
            written_before = _io(pid, "write_bytes")
            stored_before = _disk_bytes(data / "blocks")
            with _Peak(pid) as peak:
                for offset in range(0, SIZE, PATCH):
                    r = c.patch(url, content=source.pieces(PATCH), headers={
                        "Content-Type": "application/offset+octet-stream",
                        "Upload-Offset": str(offset), "Content-Length": str(PATCH)})
                    assert r.status_code == 204, r.text
                    assert int(r.headers["upload-offset"]) == offset + PATCH
            written = _io(pid, "write_bytes") - written_before
            stored = _disk_bytes(data / "blocks") - stored_before
            assert r.headers["selfdrive-path"] == "/big/ten.bin"
            assert stored >= SIZE, "random bytes do not shrink"
            assert written <= 1.1 * stored, (
                f"the server wrote {written / GIB:.2f} GiB for {stored / GIB:.2f} GiB of blocks")
            growth = peak.peak - rss_before
            assert growth < 150, f"RSS grew {growth:.0f} MB during the upload"
            print(f"\n10 GiB upload: wrote {written / stored:.3f} x the stored size,"
                  f" RSS grew {growth:.0f} MB")
            digest = hashlib.sha256()
            with c.stream("GET", "/api/v1/files/content",
                          params={"path": "/big/ten.bin"}) as resp:
                assert resp.status_code == 200
                for piece in resp.iter_bytes(PIECE):
                    digest.update(piece)
            assert digest.hexdigest() == source.sha.hexdigest()
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)  # 10 GiB: do not leave it for pytest's keep-3
