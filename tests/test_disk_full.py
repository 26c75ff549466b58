"""A data dir on a small disk (a 64 MiB tmpfs): uploads are refused with 507
before the disk is full, nothing half-written is left, reads and metadata
changes go on, and the store stays whole (fsck)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Server, cli, require_external

MIB = 1024 * 1024


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    why = None
    if os.geteuid() != 0 or not shutil.which("mount"):
        why = "mounting a tmpfs needs root and mount(8)"
    else:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            why = f"cannot mount a tmpfs here: {done.stderr.strip()}"
    if why is not None:
        if require_external():
            pytest.fail(why)
        pytest.skip(why)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_refuses_uploads_and_keeps_serving(small_disk: Path, tmp_path: Path) -> None:
    config = tmp_path / "selfdrive.toml"
    config.write_text('[storage]\nreserve_bytes = "16MiB"\n')
    server = Server(data_dir=small_disk / "data", env={"SELFDRIVE_CONFIG": str(config)})
    server.start()
    try:
        _, token = server.add_user(quota="1GB")
        with server.client(token) as api:
            stored: list[str] = []
            refused = None
            for i in range(12):
                r = api.put("/files/content", params={"path": f"/f{i}.bin"},
                            content=os.urandom(6 * MIB))
                if r.status_code != 201:
                    refused = r
                    break
                stored.append(f"/f{i}.bin")
            assert refused is not None, "the 64 MiB disk never filled"
            assert refused.status_code == 507, refused.text
            assert refused.json()["error"]["code"] == "disk_full"
            assert 3 <= len(stored) <= 8
            used = api.get("/me").json()["used_bytes"]

            # A streamed upload of unknown length is cut when it reaches the reserve.
            def chunks() -> Iterator[bytes]:
                for _ in range(16):
                    yield os.urandom(MIB)

            cut = api.put("/files/content", params={"path": "/streamed.bin"}, content=chunks())
            assert cut.status_code == 507
            # Nothing of either refused upload is in the tree or the quota.
            names = [e["name"] for e in api.get("/files/list", params={"path": "/"}).json()
                     ["entries"]]
            assert sorted(names) == sorted(p.lstrip("/") for p in stored)
            assert api.get("/me").json()["used_bytes"] == used
            # Reads and metadata changes go on.
            assert len(api.get("/files/content", params={"path": stored[0]}).content) == 6 * MIB
            assert api.post("/files/mkdir", json={"path": "/still works"}).status_code == 201
            assert api.post("/files/delete", json={"path": stored[-1]}).status_code == 200
        check = cli("fsck", data=server.data_dir, check=False,
                    env={"SELFDRIVE_CONFIG": str(config)})
        assert check.returncode == 0, check.stdout + check.stderr
    finally:
        server.stop()
