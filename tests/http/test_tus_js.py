"""The stock tus-js-client (Node build, the library the web UI will use)
uploads to the real server, and resumes by itself after a dropped connection.

Needs `node` and `npm ci --prefix tests/js` (.ci/run does both)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Server, require_external
from tests.proxy import FaultyProxy

MIB = 1024 * 1024
JS = Path(__file__).parent.parent / "js"
MODULES = JS / "node_modules"


@pytest.fixture(scope="module")
def node() -> str:
    found = shutil.which("node")
    missing = (
        "node is not installed" if found is None
        else None if (MODULES / "tus-js-client").is_dir()
        else "tus-js-client is not installed (npm ci --prefix tests/js)"
    )
    if missing:
        if require_external():
            pytest.fail(missing)
        pytest.skip(missing)
    assert found is not None
    return found


def _upload(node: str, endpoint: str, token: str, file: Path, target: str) -> str:
    result = subprocess.run(
        [node, str(JS / "tus_upload.js"), endpoint, token, str(file), target, str(8 * MIB)],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "NODE_PATH": str(MODULES)},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_tus_js_client_uploads_and_resumes(node: str, server: Server, tmp_path: Path) -> None:
    _, token = server.add_user()
    data = os.urandom(30 * MIB)
    source = tmp_path / "photo.raw"
    source.write_bytes(data)
    url = _upload(node, server.base_url + "/api/v1/uploads", token, source, "/js/photo.raw")
    assert url.startswith(server.base_url + "/api/v1/uploads/")
    with FaultyProxy(server.port) as proxy:
        proxy.cut_after(13 * MIB)  # breaks the second 8 MiB PATCH; the client retries alone
        _upload(node, proxy.url + "/api/v1/uploads", token, source, "/js/again.raw")
        assert proxy.cuts == 1
    with server.client(token) as c:
        assert c.get("/files/content", params={"path": "/js/photo.raw"}).content == data
        assert c.get("/files/content", params={"path": "/js/again.raw"}).content == data
