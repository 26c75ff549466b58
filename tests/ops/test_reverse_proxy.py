"""The reverse-proxy snippets of docs/operations.md, run for real: Debian's
nginx and Caddy in front of the real server on 127.0.0.1 (plain HTTP: the
settings under test are the ones for big uploads, long polls and WebDAV, not
the certificates).  Through each: a 64 MiB streamed upload and its download,
a long poll that lasts its full time and one woken by a change, a WebDAV
MOVE whose Destination names the proxy, and X-Forwarded-* believed only
because the proxy is trusted."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server, free_port, require_external

MIB = 1024 * 1024


def _need(tool: str, package: str) -> str:
    found = shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if found is None:
        why = f"{tool} is not installed (apt-get install {package})"
        if require_external():
            pytest.fail(why)
        pytest.skip(why)
    return found


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("upstream")
    config = folder / "selfdrive.toml"
    config.write_text('[server]\ntrusted_proxies = ["127.0.0.1"]\n')
    server = Server(data_dir=folder / "data", env={"SELFDRIVE_CONFIG": str(config)})
    server.start()
    yield server
    server.stop()


def _nginx(upstream: Server, folder: Path) -> tuple[list[str], int]:
    exe = _need("nginx", "nginx-light")
    port = free_port()
    for sub in ("logs", "tmp"):
        (folder / sub).mkdir(exist_ok=True)
    # The location block is docs/operations.md's, word for word.
    (folder / "nginx.conf").write_text(f"""
pid {folder}/nginx.pid;
error_log {folder}/logs/error.log;
events {{}}
http {{
    access_log off;
    client_body_temp_path {folder}/tmp/body;
    proxy_temp_path {folder}/tmp/proxy;
    fastcgi_temp_path {folder}/tmp/fastcgi;
    uwsgi_temp_path {folder}/tmp/uwsgi;
    scgi_temp_path {folder}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port};

        client_max_body_size 0;
        proxy_request_buffering off;
        proxy_buffering off;
        proxy_read_timeout 600s;
        proxy_send_timeout 600s;
        proxy_http_version 1.1;

        location / {{
            proxy_pass http://127.0.0.1:{upstream.port};
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $http_host;
        }}
    }}
}}
""")
    user = ["-g", "daemon off; user root;"] if os.geteuid() == 0 else ["-g", "daemon off;"]
    return [exe, "-p", str(folder), "-c", str(folder / "nginx.conf"), *user], port


def _caddy(upstream: Server, folder: Path) -> tuple[list[str], int]:
    exe = _need("caddy", "caddy")
    port = free_port()
    # The site block is docs/operations.md's, with a plain-HTTP address.
    (folder / "Caddyfile").write_text(f"""
{{
    admin off
    auto_https off
}}
http://127.0.0.1:{port} {{
    reverse_proxy 127.0.0.1:{upstream.port} {{
        flush_interval -1
        transport http {{
            read_timeout 10m
            write_timeout 10m
        }}
    }}
}}
""")
    return [exe, "run", "--config", str(folder / "Caddyfile"), "--adapter", "caddyfile"], port


@pytest.fixture(params=["nginx", "caddy"])
def proxy(request: pytest.FixtureRequest, upstream: Server,
          tmp_path: Path) -> Iterator[str]:
    command, port = (_nginx if request.param == "nginx" else _caddy)(upstream, tmp_path)
    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path),
           "XDG_CONFIG_HOME": str(tmp_path)}
    log = (tmp_path / "proxy.log").open("w")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                raise AssertionError(f"{request.param} exited:\n"
                                     f"{(tmp_path / 'proxy.log').read_text()}")
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{request.param} did not start")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def test_uploads_long_polls_and_webdav_through_the_proxy(proxy: str, upstream: Server) -> None:
    token = upstream.token()
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=proxy + "/api/v1", headers=headers, timeout=120) as api:
        data = os.urandom(4 * MIB)

        def body() -> Iterator[bytes]:
            for _ in range(16):
                yield data

        path = f"/through-{proxy.rsplit(':', 1)[1]}.bin"
        r = api.put("/files/content", params={"path": path}, content=body())
        assert r.status_code == 201, r.text
        with api.stream("GET", "/files/content", params={"path": path}) as down:
            got = b"".join(down.iter_bytes())
        assert got == data * 16

        # A long poll lasts its whole time through the proxy...
        cursor = api.get("/changes/latest").json()["cursor"]
        started = time.monotonic()
        r = api.get("/changes/wait", params={"cursor": cursor, "timeout": 3})
        assert r.json()["changes"] is False and time.monotonic() - started >= 2.9
        # ...and one is woken by a change at once.
        woken: list[float] = []

        def poll() -> None:
            answer = api.get("/changes/wait", params={"cursor": cursor, "timeout": 60})
            assert answer.json()["changes"] is True
            woken.append(time.monotonic())

        waiter = threading.Thread(target=poll)
        waiter.start()
        time.sleep(1)
        changed = time.monotonic()
        assert api.post("/files/mkdir", json={"path": path + "-folder"}).status_code == 201
        waiter.join(30)
        assert woken and woken[0] - changed < 2

    # WebDAV: the client names the proxy in Destination; the proxy's
    # X-Forwarded-Host makes the server recognise itself.
    dav = proxy + "/dav"
    r = httpx.request("MOVE", f"{dav}{path}", headers={
        **headers, "Destination": f"{dav}{path}.moved"})
    assert r.status_code == 201, r.text
