"""davfs2 mounts the user's /dav/ tree: a file written, read back, renamed and
deleted through the mount, with the REST API as the witness on the server.

Mounting needs root, /dev/fuse and a kernel (or container) that lets us
mount; without them the test skips, even under SELFDRIVE_REQUIRE_EXTERNAL=1,
which fails only when FUSE is there but the test could not run.  The test
never lists a folder through the mount: with davfs2 1.6.1 on recent kernels
readdir fails with EINVAL whatever the server says; lookups by name work.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server, require_external
from tests.dav.conftest import DavUser, need_tool, revisions, trash_paths

WAIT_S = 20
# No delayed upload, short caches: what the test does reaches the server soon.
DAVFS2_CONF = """\
use_locks 1
delay_upload 0
dir_refresh 1
file_refresh 1
cache_dir {cache}
"""


def fuse_missing() -> str | None:
    if os.geteuid() != 0:
        return "mounting davfs2 needs root"
    if not Path("/dev/fuse").exists():
        return "no /dev/fuse on this machine"
    return None


def cannot_run(reason: str) -> None:
    if require_external():
        pytest.fail(reason)
    pytest.skip(reason)


def eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WAIT_S} s: {what}")
        time.sleep(0.2)


@pytest.fixture
def mounted(server: Server, dav_user: DavUser) -> Iterator[Path]:
    """The user's tree, mounted with the account password; unmounted after."""
    missing = fuse_missing()
    if missing:
        pytest.skip(missing)
    mount = need_tool("mount.davfs", "davfs2")
    # davfs2 drops to its own user, which must reach the cache: not under pytest's
    # private tmp_path.
    work = Path(tempfile.mkdtemp(prefix="selfdrive-davfs2-"))
    try:
        work.chmod(0o777)
        (work / "cache").mkdir(mode=0o777)
        (work / "cache").chmod(0o777)
        (work / "mnt").mkdir()
        conf = work / "davfs2.conf"
        conf.write_text(DAVFS2_CONF.format(cache=work / "cache"))
        result = subprocess.run(
            [mount, dav_user.url, str(work / "mnt"), "-o",
             f"conf={conf},username={dav_user.name}"],
            input=dav_user.password + "\n", capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            cannot_run(f"mount.davfs failed ({result.returncode}): {result.stderr.strip()}")
        try:
            yield work / "mnt"
        finally:
            unmount(work / "mnt")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def unmount(mnt: Path) -> None:
    result = subprocess.run(["umount", str(mnt)], capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True, timeout=60)
        raise AssertionError(f"umount failed: {result.stderr}")


def server_has(rest: httpx.Client, path: str, content: bytes | None = None) -> bool:
    r = rest.get("/files/content", params={"path": path})
    return r.status_code == 200 and (content is None or r.content == content)


def test_write_read_rename_delete_through_davfs2(mounted: Path, rest: httpx.Client) -> None:
    data = os.urandom(300_000) + "grüße\n".encode()
    (mounted / "note.txt").write_bytes(data)
    eventually(lambda: server_has(rest, "/note.txt", data), "the written file on the server")
    assert (mounted / "note.txt").read_bytes() == data
    history = revisions(rest, "/note.txt")

    # a file made on the server shows through the mount
    r = rest.put("/files/content", params={"path": "/from server.txt"}, content=b"hello")
    assert r.status_code == 201
    eventually(lambda: (mounted / "from server.txt").exists(), "the server's file in the mount")
    assert (mounted / "from server.txt").read_bytes() == b"hello"

    (mounted / "folder").mkdir()
    (mounted / "note.txt").rename(mounted / "folder" / "renamed.txt")
    eventually(lambda: server_has(rest, "/folder/renamed.txt", data), "the renamed file")
    assert not server_has(rest, "/note.txt")
    assert revisions(rest, "/folder/renamed.txt") == history  # moved, not copied
    assert trash_paths(rest) == []

    (mounted / "folder" / "renamed.txt").unlink()
    eventually(lambda: not server_has(rest, "/folder/renamed.txt"), "the deleted file gone")
    assert not (mounted / "folder" / "renamed.txt").exists()
    assert "/folder/renamed.txt" in trash_paths(rest)
