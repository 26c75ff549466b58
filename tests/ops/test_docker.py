"""The Docker image, built from the top-level Dockerfile and run for real.

The image is built once per session on the base that docker-env.sh makes (see
conftest.py).  A *deployment* is a fresh named volume and the containers
started on it, each published on a random port of 127.0.0.1; everything is
removed at the end, whatever happened.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from tests.ops.conftest import Docker

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ADMIN_PASSWORD = "docker-admin-password"
START_TIMEOUT_S = 60
# docker stop waits this long for the graceful shutdown before SIGKILL
STOP_TIMEOUT_S = 30

# compose.yaml's settings for the selfdrive service
HARDENED = ("--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges")

# Run in the image: the build tools on its PATH (line 1), then the system CA bundle.
PROBE = """
import shutil
from pathlib import Path
print(" ".join(t for t in ("gcc", "cc", "c++", "make") if shutil.which(t)))
bundle = Path("/etc/ssl/certs/ca-certificates.crt")
print(bundle.read_text() if bundle.exists() else "")
"""


@pytest.fixture(scope="session")
def image(docker: Docker) -> Iterator[str]:
    tag = f"selfdrive-test:{secrets.token_hex(4)}"
    try:
        docker.build(tag)
        yield tag
    finally:
        # The tag only: the build cache stays, so the next build is quick.
        docker.run("image", "rm", "-f", tag, check=False)


@dataclass
class Deployment:
    docker: Docker
    image: str
    volume: str
    containers: list[str] = field(default_factory=list)

    def start(self, *options: str) -> str:
        """A new container on the volume; returns its base URL once it is healthy."""
        name = f"{self.volume}-{len(self.containers)}"
        self.containers.append(name)
        self.docker.run(
            "run", "--detach", "--name", name, "--volume", f"{self.volume}:/data",
            "--publish", "127.0.0.1::8080",  # a random free port of the host
            "--env", f"SELFDRIVE_ADMIN_PASSWORD={ADMIN_PASSWORD}",
            # the image's own check, run every second instead of every 30 s
            "--health-interval", "1s", *options, self.image,
        )
        host_port = self.docker.run("port", name, "8080/tcp").stdout.split()[0]
        url = f"http://{host_port}"
        self._wait_for(name, lambda: _answers(url), "/healthz to answer 200")
        self._wait_for(name, lambda: self._state(name, "{{.State.Health.Status}}") == "healthy",
                       "docker to report the container healthy")
        return url

    def stop(self, name: str) -> int:
        """docker stop (SIGTERM, then SIGKILL after the timeout); returns the exit code."""
        self.docker.run("stop", "--time", str(STOP_TIMEOUT_S), name, timeout=STOP_TIMEOUT_S + 30)
        return int(self._state(name, "{{.State.ExitCode}}"))

    def exec(self, name: str, *command: str) -> str:
        return self.docker.run("exec", name, *command).stdout.strip()

    def logs(self, name: str) -> str:
        logs = self.docker.run("logs", name, check=False)
        return logs.stdout[-4000:] + logs.stderr[-4000:]

    def remove(self) -> None:
        for name in self.containers:
            self.docker.run("rm", "--force", name, check=False)
        self.docker.run("volume", "rm", "--force", self.volume, check=False)

    def _state(self, name: str, template: str) -> str:
        return self.docker.run("inspect", "--format", template, name).stdout.strip()

    def _wait_for(self, name: str, check: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not check():
            if self._state(name, "{{.State.Running}}") != "true" or time.monotonic() > deadline:
                health = self._state(name, "{{json .State.Health}}")
                raise AssertionError(f"{name}: waited in vain for {what}\n"
                                     f"health: {health}\nlogs:\n{self.logs(name)}")
            time.sleep(0.2)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture
def deployment(docker: Docker, image: str) -> Iterator[Deployment]:
    d = Deployment(docker, image, volume=f"selfdrive-test-{secrets.token_hex(4)}")
    docker.run("volume", "create", d.volume)
    try:
        yield d
    finally:
        d.remove()


def test_image_settings(docker: Docker, image: str) -> None:
    config = json.loads(docker.run("image", "inspect", image).stdout)[0]["Config"]
    assert config["User"] == "10001:10001"
    assert list(config["Volumes"]) == ["/data"]
    assert list(config["ExposedPorts"]) == ["8080/tcp"]
    assert config["Entrypoint"] == ["selfdrive"]
    assert config["Cmd"] == ["serve"]
    assert {"SELFDRIVE_DATA=/data", "SELFDRIVE_HOST=0.0.0.0", "SELFDRIVE_PORT=8080"} <= set(
        config["Env"])
    assert "/healthz" in " ".join(config["Healthcheck"]["Test"])


def test_image_has_no_compiler_and_no_proxy_ca(docker: Docker, image: str) -> None:
    out = docker.run("run", "--rm", "--entrypoint", "python", image, "-c", PROBE).stdout
    tools, _, bundle = out.partition("\n")
    assert tools == "", f"compilers in the final image: {tools}"
    if docker.ca_file is not None:
        # The proxy's CA was a build secret: it must not be trusted by the image.
        ca_lines = docker.ca_file.read_text().splitlines()
        body = next(line for line in ca_lines if line and not line.startswith("-----"))
        assert body not in bundle


def test_files_survive_a_new_container(deployment: Deployment) -> None:
    first = deployment.start()
    name = deployment.containers[-1]
    assert deployment.exec(name, "id", "-u") != "0"

    r = httpx.post(first + "/api/v1/auth/tokens", json={
        "username": "admin", "password": ADMIN_PASSWORD, "device_name": "docker-test"})
    assert r.status_code == 201, r.text
    auth = {"Authorization": f"Bearer {r.json()['token']}"}
    content = os.urandom(5 * 1024 * 1024 + 123)  # several blocks and a tail
    with httpx.Client(base_url=first + "/api/v1", headers=auth, timeout=60) as api:
        put = api.put("/files/content", params={"path": "/x.bin"}, content=content)
        assert put.status_code in (200, 201), put.text
        got = api.get("/files/content", params={"path": "/x.bin"})
        assert got.status_code == 200 and got.content == content

    # SIGTERM: the server shuts down cleanly and exits 0 (137 would be docker's SIGKILL)
    assert deployment.stop(name) == 0, deployment.logs(name)

    # The second one as compose.yaml runs it: nothing writable but /data.
    second = deployment.start(*HARDENED)
    with httpx.Client(base_url=second + "/api/v1", headers=auth, timeout=60) as api:
        got = api.get("/files/content", params={"path": "/x.bin"})
        assert got.status_code == 200, got.text
        assert got.content == content
