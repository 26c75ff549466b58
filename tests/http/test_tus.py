"""tus 1.0 at /api/v1/uploads against the real server, with the stock tuspy
client, a network that breaks (tests/proxy.py) and a server killed mid-PATCH."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tusclient import client as tus_client
from tusclient.exceptions import TusCommunicationError, TusUploadFailed

from tests.conftest import Server
from tests.proxy import FaultyProxy

MIB = 1024 * 1024
TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = {"Content-Type": "application/offset+octet-stream", **TUS}


def _meta(**fields: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in fields.items())


def _sha256_of_download(server: Server, token: str, path: str) -> str:
    digest = hashlib.sha256()
    with server.client(token) as c, c.stream("GET", "/files/content", params={"path": path}) as r:
        assert r.status_code == 200
        for piece in r.iter_bytes():
            digest.update(piece)
    return digest.hexdigest()


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """200 MiB of random bytes on disk, and their SHA-256."""
    path = tmp_path_factory.mktemp("tus") / "big.bin"
    digest = hashlib.sha256()
    with path.open("wb") as f:
        for _ in range(200):
            piece = os.urandom(MIB)
            digest.update(piece)
            f.write(piece)
    return path, digest.hexdigest()


def _head(server: Server, token: str, url: str) -> httpx.Response:
    return httpx.head(server.base_url + url, headers={"Authorization": f"Bearer {token}", **TUS})


def _settled_offset(server: Server, token: str, url: str) -> int:
    """The offset once the server has finished with a broken PATCH: the same
    for 1.5 s, longer than the server takes between two saves (PIN_MIN_S, 1 s),
    so a loaded machine cannot pass a pause for the end."""
    last, same = -1, 0
    for _ in range(120):
        r = _head(server, token, url)
        assert r.status_code == 200, r.text
        offset = int(r.headers["upload-offset"])
        same = same + 1 if offset == last else 0
        if same == 3:
            return offset
        last = offset
        time.sleep(0.5)
    raise AssertionError("the offset never settled")


# -- protocol --------------------------------------------------------------------------------


def test_options_advertise_the_protocol(server: Server) -> None:
    r = httpx.options(server.base_url + "/api/v1/uploads")
    assert r.status_code == 204
    assert r.headers["tus-version"] == "1.0.0"
    assert set(r.headers["tus-extension"].split(",")) == {
        "creation", "creation-with-upload", "termination", "expiration", "checksum"}
    assert "sha256" in r.headers["tus-checksum-algorithm"].split(",")
    assert int(r.headers["tus-max-size"]) == 10 * 1024**3


def test_create_head_patch_by_hand(server: Server) -> None:
    _, token = server.add_user()
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.base_url, headers=auth) as c:
        r = c.post("/api/v1/uploads", headers={
            **TUS, "Upload-Length": "11",
            "Upload-Metadata": _meta(filename="hi.txt", folder="/notes")})
        assert r.status_code == 201, r.text
        assert r.headers["tus-resumable"] == "1.0.0"
        url = r.headers["location"]
        assert url.startswith("/api/v1/uploads/") and "upload-expires" in r.headers
        head = c.head(url, headers=TUS)
        assert head.status_code == 200 and head.headers["upload-offset"] == "0"
        assert head.headers["upload-length"] == "11"
        assert head.headers["cache-control"] == "no-store"
        assert c.get("/api/v1/files/metadata", params={"path": "/notes/hi.txt"}).status_code == 404
        r = c.patch(url, headers={**OCTETS, "Upload-Offset": "0"}, content=b"hello ")
        assert r.status_code == 204 and r.headers["upload-offset"] == "6"
        # Nothing shows at the path until the last byte arrives.
        assert c.get("/api/v1/files/metadata", params={"path": "/notes/hi.txt"}).status_code == 404
        r = c.patch(url, headers={**OCTETS, "Upload-Offset": "3"}, content=b"world")
        assert r.status_code == 409 and r.json()["error"]["offset"] == 6
        r = c.patch(url, headers={**TUS, "Upload-Offset": "6", "Content-Type": "text/plain"},
                    content=b"world")
        assert r.status_code == 415
        r = c.patch(url, headers={**OCTETS, "Upload-Offset": "6"}, content=b"world!")
        assert r.status_code == 413
        r = c.patch(url, headers={**OCTETS, "Upload-Offset": "6"}, content=b"world")
        assert r.status_code == 204 and r.headers["upload-offset"] == "11"
        assert r.headers["selfdrive-path"] == "/notes/hi.txt" and r.headers["selfdrive-rev"] == "1"
        assert c.get("/api/v1/files/content", params={"path": "/notes/hi.txt"}).content == (
            b"hello world")
        state = c.get(url).json()
        assert state["done"] is True and state["committed_path"] == "/notes/hi.txt"
        # A wrong protocol version is refused before anything else.
        r = c.head(url, headers={"Tus-Resumable": "0.2.2"})
        assert r.status_code == 412 and r.headers["tus-version"] == "1.0.0"


def test_creation_with_upload_and_termination(server: Server) -> None:
    _, token = server.add_user()
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}) as c:
        r = c.post("/api/v1/uploads", content=b"first bytes", headers={
            **OCTETS, "Upload-Length": "100", "Upload-Metadata": _meta(path="/c.bin")})
        assert r.status_code == 201 and r.headers["upload-offset"] == "11"
        url = r.headers["location"]
        assert c.delete(url, headers=TUS).status_code == 204
        assert c.head(url, headers=TUS).status_code == 404
        r = c.patch(url, headers={**OCTETS, "Upload-Offset": "11"}, content=b"x")
        assert r.status_code == 404


def test_bad_creations(server: Server) -> None:
    _, token = server.add_user(quota="1MB")
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}) as c:
        def create(**headers: str) -> httpx.Response:
            return c.post("/api/v1/uploads", headers={**TUS, **headers})

        assert create(**{"Upload-Metadata": _meta(path="/a")}).status_code == 400  # no length
        assert create(**{"Upload-Length": "5"}).status_code == 400  # no target
        assert create(**{"Upload-Length": "5", "Upload-Metadata": "path !!!"}).status_code == 400
        assert create(**{"Upload-Length": "5",
                         "Upload-Metadata": _meta(path="/a/../b")}).status_code == 400
        r = create(**{"Upload-Length": "2000000", "Upload-Metadata": _meta(path="/big")})
        assert r.status_code == 507 and r.json()["error"]["code"] == "quota_exceeded"
        r = create(**{"Upload-Length": str(11 * 1024**3), "Upload-Metadata": _meta(path="/x")})
        assert r.status_code == 413
        r = create(**{"Upload-Defer-Length": "1", "Upload-Metadata": _meta(path="/x")})
        assert r.status_code == 400
        assert c.head("/api/v1/uploads/nonsense", headers=TUS).status_code == 404


def test_checksum_mismatch_answers_460_and_discards(server: Server) -> None:
    _, token = server.add_user()
    data = os.urandom(300_000)
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}) as c:
        url = c.post("/api/v1/uploads", headers={
            **TUS, "Upload-Length": str(len(data)), "Upload-Metadata": _meta(path="/s.bin")},
        ).headers["location"]
        wrong = base64.b64encode(hashlib.sha256(b"not it").digest()).decode()
        r = c.patch(url, content=data, headers={
            **OCTETS, "Upload-Offset": "0", "Upload-Checksum": f"sha256 {wrong}"})
        assert r.status_code == 460 and r.json()["error"]["code"] == "checksum_mismatch"
        assert c.head(url, headers=TUS).headers["upload-offset"] == "0"
        r = c.patch(url, content=data, headers={
            **OCTETS, "Upload-Offset": "0", "Upload-Checksum": "crc32 AAAA"})
        assert r.status_code == 400
        right = base64.b64encode(hashlib.sha256(data).digest()).decode()
        r = c.patch(url, content=data, headers={
            **OCTETS, "Upload-Offset": "0", "Upload-Checksum": f"sha256 {right}"})
        assert r.status_code == 204
        assert c.get("/api/v1/files/content", params={"path": "/s.bin"}).content == data


def test_the_seed_apis_resumable_flow(server: Server) -> None:
    _, token = server.add_user()
    data = os.urandom(200_000)
    with server.client(token) as c:
        r = c.post("/files/upload", params={"uploadType": "resumable"},
                   json={"path": "/seed/flow.bin", "size": len(data), "base_rev": 0})
        assert r.status_code == 201, r.text
        assert r.json()["offset"] == 0 and r.json()["upload_url"] == r.headers["location"]
        url = server.base_url + r.headers["location"]
        r = httpx.patch(url, content=data[:100_000], headers={
            "Authorization": f"Bearer {token}", **OCTETS, "Upload-Offset": "0"})
        assert r.status_code == 204
        r = httpx.patch(url, content=data[100_000:], headers={
            "Authorization": f"Bearer {token}", **OCTETS, "Upload-Offset": "100000"})
        assert r.status_code == 204
        assert c.get("/files/content", params={"path": "/seed/flow.bin"}).content == data
        r = c.post("/files/upload", params={"uploadType": "resumable"},
                   json={"path": "/seed/flow.bin", "size": 5, "base_rev": 0})
        assert r.status_code == 409, "base_rev is checked at creation too"


def test_racing_patches_never_interleave(server: Server) -> None:
    _, token = server.add_user()
    a, b = os.urandom(8 * MIB), os.urandom(8 * MIB)
    headers = {"Authorization": f"Bearer {token}"}
    url = server.base_url + httpx.post(server.base_url + "/api/v1/uploads", headers={
        **headers, **TUS, "Upload-Length": str(len(a)), "Upload-Metadata": _meta(path="/r.bin")},
    ).headers["location"]
    results: dict[str, httpx.Response] = {}
    started = threading.Barrier(2)

    def send(name: str, data: bytes) -> None:
        def body() -> Iterator[bytes]:
            started.wait()
            for i in range(0, len(data), MIB):
                time.sleep(0.05)
                yield data[i : i + MIB]

        try:
            results[name] = httpx.patch(url, content=body(), timeout=60, headers={
                **headers, **OCTETS, "Upload-Offset": "0", "Content-Length": str(len(data))})
        except httpx.TransportError as exc:  # refused mid-body: the server closed on it
            results[name] = httpx.Response(599, text=str(exc))

    threads = [threading.Thread(target=send, args=(n, d)) for n, d in (("a", a), ("b", b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(r.status_code for r in results.values())
    assert statuses[0] == 204 and statuses[1] in (409, 423, 599), statuses
    winner = a if results["a"].status_code == 204 else b
    with server.client(token) as c:
        assert c.get("/files/content", params={"path": "/r.bin"}).content == winner


# -- stock client, broken network, killed server ------------------------------------------------


def test_tuspy_resumes_after_a_dropped_connection(
    server: Server, big_file: tuple[Path, str]
) -> None:
    path, sha = big_file
    _, token = server.add_user()
    with FaultyProxy(server.port) as proxy:
        tus = tus_client.TusClient(proxy.url + "/api/v1/uploads",
                                   headers={"Authorization": f"Bearer {token}"})
        uploader = tus.uploader(file_path=str(path), chunk_size=32 * MIB,
                                metadata={"path": "/dropped.bin"})
        uploader.upload_chunk()
        uploader.upload_chunk()
        assert uploader.offset == 64 * MIB
        # The third PATCH breaks two thirds of the way, with a clean close:
        # the server gets every byte that was sent.
        proxy.cut_after(20 * MIB, reset=False)
        with pytest.raises((TusUploadFailed, TusCommunicationError)):
            uploader.upload_chunk()
        assert proxy.cuts == 1
        assert uploader.url is not None
        url = uploader.url[len(proxy.url):]
        held = _settled_offset(server, token, url)
        # Everything that got through is kept, the tail past the last block
        # boundary too, and no more (20 MiB minus the request's headers).
        assert 84 * MIB - 4096 < held < 84 * MIB
        # Then with a reset, as when a link dies: bytes still in the server's
        # socket buffer are lost, and the offset says so.
        proxy.cut_after(20 * MIB)
        uploader.offset = held
        with pytest.raises((TusUploadFailed, TusCommunicationError)):
            uploader.upload_chunk()
        assert proxy.cuts == 2
        before, held = held, _settled_offset(server, token, url)
        assert before <= held < before + 20 * MIB
        # Durable, not just in memory: a crash now changes nothing.
        server.kill()
        server.start()
        assert int(_head(server, token, url).headers["upload-offset"]) == held
        resumed = tus.uploader(file_path=str(path), url=uploader.url, chunk_size=64 * MIB)
        assert resumed.offset == held, "tuspy resumes from the server's offset"
        resumed.upload()
    assert _sha256_of_download(server, token, "/dropped.bin") == sha


def test_tuspy_resumes_after_the_server_is_killed_mid_patch(
    tmp_path: Path, big_file: tuple[Path, str]
) -> None:
    path, sha = big_file
    server = Server(data_dir=tmp_path / "data")
    server.start()
    try:
        _, token = server.add_user()
        # 40 MB/s through the proxy: the kill lands in the middle of one big PATCH.
        with FaultyProxy(server.port, rate=40e6) as proxy:
            tus = tus_client.TusClient(proxy.url + "/api/v1/uploads",
                                       headers={"Authorization": f"Bearer {token}"})
            uploader = tus.uploader(file_path=str(path), chunk_size=200 * MIB,
                                    metadata={"path": "/killed.bin"})
            uploader.set_url(uploader.create_url())
            assert uploader.url is not None
            url = uploader.url[len(proxy.url):]
            killed: list[int] = []

            def killer() -> None:
                while True:
                    offset = int(_head(server, token, url).headers["upload-offset"])
                    if offset >= 60 * MIB:
                        killed.append(offset)
                        server.kill()
                        return
                    time.sleep(0.1)

            thread = threading.Thread(target=killer)
            thread.start()
            with pytest.raises((TusUploadFailed, TusCommunicationError)):
                uploader.upload_chunk()
            thread.join()
            assert killed, "the server was killed mid-PATCH"
            server.start()
            held = int(_head(server, token, url).headers["upload-offset"])
            assert killed[0] <= held < 200 * MIB
            resumed = tus.uploader(file_path=str(path), url=uploader.url, chunk_size=64 * MIB)
            assert resumed.offset == held
            resumed.upload()
        assert _sha256_of_download(server, token, "/killed.bin") == sha
    finally:
        server.stop()


def test_tuspy_with_checksums(server: Server) -> None:
    _, token = server.add_user()
    data = os.urandom(5 * MIB)
    tus = tus_client.TusClient(server.base_url + "/api/v1/uploads",
                               headers={"Authorization": f"Bearer {token}"})
    uploader = tus.uploader(file_stream=io.BytesIO(data), chunk_size=MIB, upload_checksum=True,
                            metadata={"filename": "sums.bin", "folder": "/tuspy"})
    uploader.upload()
    with server.client(token) as c:
        assert c.get("/files/content", params={"path": "/tuspy/sums.bin"}).content == data


def test_creation_with_upload_reports_a_bad_body(server: Server) -> None:
    """The upload is made, the bytes are refused: the answer says why and where
    the upload is, so the client can resume it; a wrong type makes nothing."""
    _, token = server.add_user()
    data = os.urandom(1000)
    wrong = base64.b64encode(hashlib.sha256(b"not it").digest()).decode()
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}) as c:
        r = c.post("/api/v1/uploads", content=data, headers={
            **OCTETS, "Upload-Length": "1000", "Upload-Metadata": _meta(path="/cwu.bin"),
            "Upload-Checksum": f"sha256 {wrong}"})
        assert r.status_code == 460 and r.headers["upload-offset"] == "0"
        assert c.head(r.headers["location"], headers=TUS).status_code == 200
        r = c.post("/api/v1/uploads", content=data, headers={
            **TUS, "Content-Type": "text/plain", "Upload-Length": "1000",
            "Upload-Metadata": _meta(path="/typed.bin")})
        assert r.status_code == 415 and "location" not in r.headers
