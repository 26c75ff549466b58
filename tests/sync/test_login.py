"""`selfdrive login` and `selfdrive logout` against the real server, as real processes."""

from __future__ import annotations

import http.server
import json
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server, free_port

PASSWORD = "user-password-1"


def selfdrive(*args: str, config: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run the real CLI with its config dir (XDG_CONFIG_HOME) in *config*."""
    return subprocess.run(
        [sys.executable, "-m", "selfdrive", *args], input=stdin, capture_output=True,
        text=True, timeout=120, env={**os.environ, "XDG_CONFIG_HOME": str(config)},
    )


def login(server: Server, user: str, config: Path, *extra: str,
          password: str = PASSWORD) -> subprocess.CompletedProcess[str]:
    return selfdrive("login", "--server", server.base_url, "--username", user,
                     "--password-stdin", *extra, config=config, stdin=password + "\n")


def stored(config: Path) -> list[dict[str, object]]:
    path = config / "selfdrive" / "credentials.json"
    logins: list[dict[str, object]] = json.loads(path.read_text())["logins"]
    return logins


def status_with(server: Server, token: str) -> int:
    with server.client(token) as c:
        return c.get("/me").status_code


def test_login_stores_a_working_token_and_logout_revokes_it(
    server: Server, tmp_path: Path
) -> None:
    user, _ = server.add_user(password=PASSWORD)
    r = login(server, user, tmp_path, "--device-name", "test laptop")
    assert r.returncode == 0, r.stderr
    path = tmp_path / "selfdrive" / "credentials.json"
    assert str(path) in r.stdout and PASSWORD not in r.stdout
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert PASSWORD not in path.read_text()
    [entry] = stored(tmp_path)
    assert entry["server"] == server.base_url and entry["username"] == user
    assert entry["device_name"] == "test laptop"
    token = str(entry["token"])
    with server.client(token) as c:
        me = c.get("/me").json()
        assert me["username"] == user and me["device_id"] == entry["device_id"]
        devices = c.get("/auth/tokens").json()["devices"]
        assert [d["name"] for d in devices if d["current"]] == ["test laptop"]

    r = selfdrive("logout", config=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Logged out of " + server.base_url in r.stdout
    assert status_with(server, token) == 401
    assert stored(tmp_path) == []
    r = selfdrive("logout", config=tmp_path)
    assert r.returncode == 1 and "selfdrive login --server URL" in r.stderr


def test_wrong_password_fails_cleanly_and_stores_nothing(server: Server, tmp_path: Path) -> None:
    user, _ = server.add_user(password=PASSWORD)
    r = login(server, user, tmp_path, password="not-the-password")
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "wrong username or password" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "selfdrive").exists()


def test_the_default_device_name_is_the_hostname(server: Server, tmp_path: Path) -> None:
    import socket

    user, _ = server.add_user(password=PASSWORD)
    assert login(server, user, tmp_path).returncode == 0
    assert stored(tmp_path)[0]["device_name"] == socket.gethostname().strip()[:128]


def test_two_config_dirs_are_two_devices(server: Server, tmp_path: Path) -> None:
    user, _ = server.add_user(password=PASSWORD)
    a, b = tmp_path / "a", tmp_path / "b"
    assert login(server, user, a, "--device-name", "one").returncode == 0
    assert login(server, user, b, "--device-name", "two").returncode == 0
    token_a, token_b = str(stored(a)[0]["token"]), str(stored(b)[0]["token"])
    assert token_a != token_b
    # Logging out of one leaves the other logged in.
    assert selfdrive("logout", "--server", server.base_url + "/", config=a).returncode == 0
    assert status_with(server, token_a) == 401
    assert status_with(server, token_b) == 200


def test_logout_of_a_device_revoked_elsewhere_still_forgets_it(
    server: Server, tmp_path: Path
) -> None:
    user, other_token = server.add_user(password=PASSWORD)
    assert login(server, user, tmp_path).returncode == 0
    device_id = stored(tmp_path)[0]["device_id"]
    with server.client(other_token) as c:  # revoked from another device
        assert c.delete(f"/auth/tokens/{device_id}").status_code == 204
    r = selfdrive("logout", config=tmp_path)
    assert r.returncode == 0, r.stderr
    assert stored(tmp_path) == []


def test_an_unreachable_server(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    r = selfdrive("login", "--server", url, "--username", "x", "--password-stdin",
                  config=tmp_path, stdin="password\n")
    assert r.returncode == 1 and f"cannot reach {url}" in r.stderr
    assert r.stderr.count("\n") == 1
    assert not (tmp_path / "selfdrive").exists()


def test_logout_keeps_the_token_when_the_server_is_unreachable(
    server: Server, tmp_path: Path
) -> None:
    user, _ = server.add_user(password=PASSWORD)
    assert login(server, user, tmp_path).returncode == 0
    path = tmp_path / "selfdrive" / "credentials.json"
    data = json.loads(path.read_text())
    data["logins"][0]["server"] = f"http://127.0.0.1:{free_port()}"  # the server moved away
    path.write_text(json.dumps(data))
    r = selfdrive("logout", config=tmp_path)
    assert r.returncode == 1 and "cannot reach" in r.stderr
    assert len(stored(tmp_path)) == 1  # kept, so a later logout can still revoke it


class _NotSelfdrive(http.server.BaseHTTPRequestHandler):
    """A page for every POST; under /redirect a move to https, under /proxy a
    401 of an authenticating proxy."""

    def do_POST(self) -> None:
        body = b"<html><body>Welcome to nginx!</body></html>"
        if self.path.startswith("/redirect/"):
            self.send_response(308)
            self.send_header("Location", "https://drive.example.com" + self.path[9:])
        elif self.path.startswith("/proxy/"):
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="proxy"')
        else:
            self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def not_selfdrive() -> Iterator[str]:
    """Another web server on 127.0.0.1 that answers every POST with a page."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotSelfdrive)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_a_server_that_is_not_selfdrive(not_selfdrive: str, tmp_path: Path) -> None:
    r = selfdrive("login", "--server", not_selfdrive, "--username", "x", "--password-stdin",
                  config=tmp_path, stdin="password\n")
    assert r.returncode == 1 and "did not answer like a selfdrive server" in r.stderr
    assert not (tmp_path / "selfdrive").exists()
    r = selfdrive("login", "--server", not_selfdrive + "/proxy", "--username", "x",
                  "--password-stdin", config=tmp_path, stdin="password\n")
    assert r.returncode == 1 and "(HTTP 401)" in r.stderr and "wrong" not in r.stderr


def test_a_redirect_is_not_followed_with_the_password(not_selfdrive: str, tmp_path: Path) -> None:
    r = selfdrive("login", "--server", not_selfdrive + "/redirect", "--username", "x",
                  "--password-stdin", config=tmp_path, stdin="password\n")
    assert r.returncode == 1
    assert "redirects to https://drive.example.com; use that as --server" in r.stderr


def test_a_selfdrive_error_is_passed_on(server: Server, tmp_path: Path) -> None:
    user, _ = server.add_user(password=PASSWORD)
    r = login(server, user, tmp_path, "--device-name", "bad\x07name")
    assert r.returncode == 1 and "device_name" in r.stderr


def test_usage_errors(tmp_path: Path) -> None:
    r = selfdrive("login", "--server", "drive.example.com", "--username", "x",
                  "--password-stdin", config=tmp_path, stdin="pw\n")
    assert r.returncode == 1 and "https://drive.example.com" in r.stderr
    r = selfdrive("login", "--server", "http://127.0.0.1:1", "--password-stdin",
                  config=tmp_path, stdin="pw\n")
    assert r.returncode == 1 and "--password-stdin needs --username" in r.stderr


def test_the_token_works_with_httpx_as_stored(server: Server, tmp_path: Path) -> None:
    # What the sync engine will do: read the login and call the API with it.
    from selfdrive.sync.credentials import load

    user, _ = server.add_user(password=PASSWORD)
    assert login(server, user, tmp_path).returncode == 0
    stored_login = load(server.base_url, directory=tmp_path / "selfdrive")
    r = httpx.get(stored_login.server + "/api/v1/me",
                  headers={"Authorization": f"Bearer {stored_login.token}"})
    assert r.status_code == 200 and r.json()["username"] == user


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_interactive_login_asks_once_on_the_terminal(server: Server, tmp_path: Path) -> None:
    import pty
    import select
    import time

    user, _ = server.add_user(password=PASSWORD)
    pid, fd = pty.fork()
    if pid == 0:  # the child: the pty is its controlling terminal, as for a person
        try:
            os.environ["XDG_CONFIG_HOME"] = str(tmp_path)
            os.execv(sys.executable, [sys.executable, "-m", "selfdrive", "login",
                                      "--server", server.base_url])
        finally:
            os._exit(127)  # never run the rest of pytest in the child
    seen = b""

    def until(text: bytes) -> None:
        nonlocal seen
        deadline = time.monotonic() + 60
        while text not in seen:
            assert time.monotonic() < deadline, seen
            if select.select([fd], [], [], 1)[0]:
                try:
                    seen += os.read(fd, 1024)
                except OSError:  # EIO: the child has gone
                    break

    try:
        until(b"Username: ")
        os.write(fd, user.encode() + b"\n")
        until(b"Password: ")
        os.write(fd, PASSWORD.encode() + b"\n")
        until(b"token stored in")
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, seen
    assert PASSWORD.encode() not in seen  # not echoed
    assert stored(tmp_path)[0]["username"] == user
