"""Devices for end-to-end sync tests: each is a real `selfdrive sync` process
with its own config dir (XDG_CONFIG_HOME) and folder, against the real server
on 127.0.0.1 (tests/conftest.py)."""

from __future__ import annotations

import hashlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from selfdrive.sync.engine import status_of
from tests.conftest import Server

PASSWORD = "user-password-1"


@dataclass
class Device:
    server: Server
    username: str
    name: str
    home: Path
    folder: Path
    remote: str = "/"
    live: subprocess.Popen[str] | None = field(default=None)
    started_ms: int = 0

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "XDG_CONFIG_HOME": str(self.home / "config"),
                "PYTHONUNBUFFERED": "1"}

    def login(self) -> None:
        r = subprocess.run(
            [sys.executable, "-m", "selfdrive", "login", "--server", self.server.base_url,
             "--username", self.username, "--password-stdin", "--device-name", self.name],
            input=PASSWORD + "\n", capture_output=True, text=True, env=self.env, timeout=60)
        assert r.returncode == 0, r.stderr

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "selfdrive", "sync", str(self.folder), "--remote",
             self.remote, *args],
            capture_output=True, text=True, env=self.env, timeout=timeout)

    def sync(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`selfdrive sync --once`, which must end in sync."""
        r = self.run("--once", *args)
        assert r.returncode == 0, f"{self.name}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
        return r

    def start(self) -> None:
        self.started_ms = time.time_ns() // 1_000_000
        log = (self.home / "live.log").open("a")
        self.live = subprocess.Popen(
            [sys.executable, "-m", "selfdrive", "sync", str(self.folder), "--remote",
             self.remote], stdout=log, stderr=subprocess.STDOUT, env=self.env, text=True)

    def wait_live(self, timeout: float = 60) -> None:
        """Wait for the live sync's first round to end (`--status`: its last
        round): its file watcher and its doorbell are up from then on."""
        def ready() -> bool:
            at = (status_of(self.folder) or {}).get("at")
            return isinstance(at, int) and at >= self.started_ms

        wait_for(ready, timeout, f"{self.name}'s first live round")

    def stop(self, sig: int = signal.SIGINT) -> int:
        assert self.live is not None
        self.live.send_signal(sig)
        try:
            code = self.live.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.live.kill()
            code = self.live.wait()
        self.live = None
        return code

    def log_text(self) -> str:
        path = self.home / "live.log"
        return path.read_text() if path.exists() else ""

    def write(self, rel: str, data: bytes | str) -> Path:
        path = self.folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return path

    def read(self, rel: str) -> bytes:
        return (self.folder / rel).read_bytes()

    def tree(self) -> dict[str, str]:
        """Every file and folder under the folder (not .selfdrive): path -> sha256 or '/'."""
        out: dict[str, str] = {}
        for dirpath, dirnames, filenames in os.walk(self.folder):
            rel = os.path.relpath(dirpath, self.folder)
            if rel == ".":
                dirnames[:] = [d for d in dirnames if d != ".selfdrive"]
            for d in dirnames:
                out[os.path.normpath(os.path.join(rel, d))] = "/"
            for f in filenames:
                data = Path(dirpath, f).read_bytes()
                out[os.path.normpath(os.path.join(rel, f))] = hashlib.sha256(data).hexdigest()
        return out


@pytest.fixture
def make_device(server: Server, tmp_path: Path) -> Iterator[Callable[..., Device]]:
    """make_device(username=None, name=...) -> a logged-in Device; a fresh user
    unless *username* names one made before."""
    made: list[Device] = []
    users: dict[str, str] = {}

    def make(username: str | None = None, name: str | None = None,
             remote: str = "/") -> Device:
        if username is None:
            username, _ = server.add_user(password=PASSWORD)
        users[username] = username
        name = name or f"dev{len(made) + 1}"
        home = tmp_path / f"{name}-{secrets.token_hex(3)}"
        folder = home / "Sync"
        folder.mkdir(parents=True)
        d = Device(server, username, name, home, folder, remote)
        d.login()
        made.append(d)
        return d

    yield make
    for d in made:
        if d.live is not None:
            d.stop(signal.SIGKILL)


def wait_for(check: Callable[[], bool], timeout: float = 20.0, what: str = "") -> float:
    """Poll *check* until true; returns the seconds it took (fails after *timeout*)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            if check():
                return time.monotonic() - start
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what or check}")
