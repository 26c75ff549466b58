"""Shared fixtures: a real selfdrive server on 127.0.0.1 with a temp data dir.

`server` starts ``python -m selfdrive serve`` as a subprocess (once per test
module), waits for /healthz, and offers helpers to create users through the
real CLI and to get device tokens through the real API.  Nothing is mocked.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from selfdrive.config import parse_size

ADMIN_PASSWORD = "admin-password-for-tests"

#: The longest modules, longest first (minutes each on the 2-vCPU CI machine;
#: `--durations` prints them). Workers take whole modules (--dist loadfile),
#: and xdist's own order (most tests first) left a 7-minute module to start
#: last and run alone while the other worker idled; these go out first, then
#: the rest of the slow and browser modules, then everything else.
LONGEST_FIRST = (
    "tests/sync/test_simulation.py",
    "tests/test_crash_harness.py",
    "tests/sync/test_convergence.py",
    "tests/test_big_upload.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank: dict[str, int] = {}
    for item in items:
        module = item.nodeid.split("::")[0]
        if module.startswith("tests/web/"):  # (a pytestmark in a conftest marks nothing)
            item.add_marker(pytest.mark.browser)
        if module in LONGEST_FIRST:
            mine = LONGEST_FIRST.index(module)
        elif item.get_closest_marker("slow") or item.get_closest_marker("docker"):
            mine = len(LONGEST_FIRST)
        elif item.get_closest_marker("browser"):
            mine = len(LONGEST_FIRST) + 1
        else:
            mine = len(LONGEST_FIRST) + 2
        rank[module] = min(mine, rank.get(module, mine))
    items.sort(key=lambda item: rank[item.nodeid.split("::")[0]])  # stable: modules stay whole


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(*args: str, data: Path, stdin: str | None = None, check: bool = True,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real `selfdrive` CLI against a data dir."""
    result = subprocess.run(
        [sys.executable, "-m", "selfdrive", *args, "--data", str(data)],
        input=stdin, capture_output=True, text=True, timeout=120,
        env={**os.environ, **(env or {})},
    )
    if check and result.returncode != 0:
        raise AssertionError(f"selfdrive {' '.join(args)} failed:\n{result.stderr}")
    return result


@dataclass
class Server:
    data_dir: Path
    port: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[str] | None = None
    log: Path | None = None
    #: "https" when the config gives the server a certificate
    scheme: str = "http"
    _admin_token: str | None = None

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.log = self.data_dir.parent / f"server-{self.port}.log"
        env = {**os.environ, "SELFDRIVE_ADMIN_PASSWORD": ADMIN_PASSWORD, **self.env}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "selfdrive", "serve", "--data", str(self.data_dir),
             "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=self.log.open("a"), stderr=subprocess.STDOUT, env=env, text=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log.read_text()}")
            try:
                if httpx.get(self.base_url + "/healthz", timeout=1,
                             verify=False).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server did not start:\n{self.log.read_text()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """Crash the server: SIGKILL, no chance to clean up."""
        self.stop(signal.SIGKILL)

    def token(self, username: str = "admin", password: str = ADMIN_PASSWORD,
              device: str = "pytest") -> str:
        r = httpx.post(self.base_url + "/api/v1/auth/tokens", json={
            "username": username, "password": password, "device_name": device})
        assert r.status_code == 201, r.text
        return str(r.json()["token"])

    def client(self, token: str | None = None, **kw: object) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base_url + "/api/v1", headers=headers,
                            timeout=60, **kw)  # type: ignore[arg-type]

    def add_user(self, name: str | None = None, *, quota: str | None = None,
                 password: str = "user-password-1") -> tuple[str, str]:
        """A new user, added by the admin through the API while the server runs
        (the CLI's `user add` costs a process start, about 0.8 s of CPU, in
        some 200 tests; tests/test_cli.py tests it), else with the real CLI;
        returns (name, token)."""
        name = name or "u" + secrets.token_hex(4)
        body: dict[str, object] = {"username": name, "password": password}
        if quota:
            body["quota_bytes"] = parse_size(quota)
        running = self.process is not None and self.process.poll() is None
        for fresh in (False, True) if running else ():  # the admin may have been signed out
            if fresh or self._admin_token is None:
                self._admin_token = self._try_token("admin", ADMIN_PASSWORD, "pytest-admin")
            if self._admin_token is None:
                break  # (a test that set another admin password)
            r = httpx.post(self.base_url + "/api/v1/admin/users", json=body, timeout=60,
                           headers={"Authorization": f"Bearer {self._admin_token}"},
                           verify=False)
            if r.status_code != 401:
                assert r.status_code == 201, r.text
                return name, self.token(name, password)
        args = ["user", "add", name, "--password-stdin"]
        if quota:
            args += ["--quota", quota]
        cli(*args, data=self.data_dir, stdin=password + "\n")
        return name, self.token(name, password)

    def _try_token(self, username: str, password: str, device: str) -> str | None:
        r = httpx.post(self.base_url + "/api/v1/auth/tokens", verify=False, timeout=60, json={
            "username": username, "password": password, "device_name": device})
        return str(r.json()["token"]) if r.status_code == 201 else None


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(data_dir=tmp_path_factory.mktemp("srv") / "data")
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def admin_token(server: Server) -> str:
    return server.token()


@pytest.fixture
def api(server: Server) -> Iterator[httpx.Client]:
    """A client for a fresh user, so tests do not see each other's files."""
    _, token = server.add_user()
    with server.client(token) as client:
        yield client


def require_external() -> bool:
    return os.environ.get("SELFDRIVE_REQUIRE_EXTERNAL") == "1"


@dataclass
class S3Server:
    """moto's S3 server (``python -m moto.server``) on 127.0.0.1, one per session."""

    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def create_bucket(self, name: str | None = None) -> str:
        """A new, empty bucket (moto accepts unsigned requests)."""
        name = name or "sd-" + secrets.token_hex(6)
        r = httpx.put(f"{self.url}/{name}", timeout=10)
        assert r.status_code == 200, r.text
        return name


def _start_moto(log: Path) -> S3Server | str:
    """A running moto server, or why it could not start."""
    try:
        import moto.server  # noqa: F401
    except ImportError as exc:
        return f"moto[server] is not installed ({exc}): pip install -e '.[test]'"
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log.open("ab"), stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return f"moto's server exited at start:\n{log.read_text()[-2000:]}"
        try:
            httpx.get(f"http://127.0.0.1:{port}/moto-api/", timeout=1)
            return S3Server(port, process, log)
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    return "moto's server did not answer within 30 s"


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A real S3 server for the backup tests: skipped with the reason if moto
    cannot start, failed under SELFDRIVE_REQUIRE_EXTERNAL=1 (CI)."""
    started = _start_moto(tmp_path_factory.mktemp("moto") / "moto.log")
    if isinstance(started, str):
        if require_external():
            pytest.fail(started)
        pytest.skip(started)
    yield started
    started.process.kill()  # a test server: nothing to save, and SIGTERM takes it 2 s
    started.process.wait()
