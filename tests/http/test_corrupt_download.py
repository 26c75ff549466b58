"""A download that meets a corrupt or missing block, on the real server.

Before the first byte: a clean 500 error.  Mid-body: the response is cut
short and the connection closed, so the client cannot take a truncated file
for a whole one.  Either way the error is logged and the server keeps serving.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server


def block_file(server: Server, block_hex: str) -> Path:
    return server.data_dir / "blocks" / block_hex[0:2] / block_hex[2:4] / block_hex


def flip_a_byte(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    path.write_bytes(bytes(raw))


def upload(api: httpx.Client, path: str, size: int) -> tuple[bytes, list[str]]:
    """Random content (so no block is shared) and its block ids."""
    data = os.urandom(size)
    r = api.put("/files/content", params={"path": path}, content=data)
    assert r.status_code == 201, r.text
    blocks = [b["id"] for b in api.get("/files/blocklist", params={"path": path}).json()["blocks"]]
    assert len(blocks) >= 2, "the test needs a file of several blocks"
    return data, blocks


def wait_for_log(server: Server, text: str) -> str:
    assert server.log is not None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        log = server.log.read_text()
        if text in log:
            return log
        time.sleep(0.05)
    raise AssertionError(f"{text!r} is not in the server log:\n{server.log.read_text()[-3000:]}")


def still_serving(api: httpx.Client) -> None:
    path = f"/after-{os.urandom(4).hex()}.bin"
    data, _ = upload(api, path, 5 * 1024 * 1024)
    got = api.get("/files/content", params={"path": path})
    assert got.status_code == 200 and got.content == data


def test_a_corrupt_block_mid_file_cuts_the_download_short(server: Server,
                                                          api: httpx.Client) -> None:
    data, blocks = upload(api, "/mid.bin", 8 * 1024 * 1024)
    victim = blocks[len(blocks) // 2]
    flip_a_byte(block_file(server, victim))
    received = bytearray()
    with pytest.raises(httpx.RemoteProtocolError), \
            api.stream("GET", "/files/content", params={"path": "/mid.bin"}) as r:
        assert r.status_code == 200
        assert r.headers["content-length"] == str(len(data))
        for chunk in r.iter_bytes():
            received += chunk
    # What came is the true start of the file, and short of the whole.
    assert 0 < len(received) < len(data)
    assert data.startswith(received)
    log = wait_for_log(server, f"block {victim} failed authentication")
    assert "download of /mid.bin rev 1" in log and "aborted after" in log
    # The bytes before the bad block still come whole, and the server goes on.
    head = api.get("/files/content", params={"path": "/mid.bin"},
                   headers={"Range": "bytes=0-99"})
    assert head.status_code == 206 and head.content == data[:100]
    still_serving(api)


@pytest.mark.parametrize("damage", ["corrupt", "missing"])
def test_a_bad_first_block_gives_a_clean_error(server: Server, api: httpx.Client,
                                               damage: str) -> None:
    path = f"/first-{damage}.bin"
    _, blocks = upload(api, path, 6 * 1024 * 1024)
    if damage == "corrupt":
        flip_a_byte(block_file(server, blocks[0]))
    else:
        block_file(server, blocks[0]).unlink()
    r = api.get("/files/content", params={"path": path})
    assert r.status_code == 500, r.headers
    assert r.headers["content-type"] == "application/json"
    error = r.json()["error"]
    assert error["code"] == "corrupt_block" and blocks[0] in error["message"]
    log = wait_for_log(server, f"download of {path} rev 1")
    assert f"{path} rev 1 (user " in log and "failed before it started" in log
    # The same connection is still good (the error was a whole response).
    assert api.get("/files/metadata", params={"path": path}).status_code == 200
    still_serving(api)
