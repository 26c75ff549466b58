"""Fixtures for the operations tests: a Docker daemon and a base image to build on.

`docker` runs the CI's ``docker-env.sh start`` (``../shared/ci/docker-env.sh``
beside the checkout, or the script named by SELFDRIVE_DOCKER_ENV).  It
installs Debian's docker.io when missing, starts a daemon unless one answers,
and builds a local Debian 12 image with Python, because the CI machine cannot
reach Docker Hub.  Without the script the tests skip; when the script fails
(no root, no apt) they skip too, except under SELFDRIVE_REQUIRE_EXTERNAL=1
(CI), where they fail.  A daemon that the fixture started is stopped at the
end; one that was running before is left alone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

from tests.conftest import require_external

REPO = Path(__file__).resolve().parents[2]
# Where Debian keeps local CAs; on the CI machine, the one of the proxy that
# HTTPS to the package registries passes through.
LOCAL_CA_DIR = Path("/usr/local/share/ca-certificates")
# The first start installs packages and debootstraps Debian: minutes.
ENV_START_TIMEOUT_S = 1200


@dataclass(frozen=True)
class Docker:
    cli: str
    #: the base image to pass as --build-arg BASE=
    base_image: str
    #: the local CAs in one file, for `docker build --secret id=ca` (None: there are none)
    ca_file: Path | None

    def run(self, *args: str, timeout: float = 120,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the docker CLI; on failure the message holds its output."""
        result = subprocess.run(
            [self.cli, *args], capture_output=True, text=True, timeout=timeout,
            # the Debian 20.10 client builds with the legacy builder unless told
            env={**os.environ, "DOCKER_BUILDKIT": "1"},
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"docker {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
        return result

    def build(self, tag: str, context: Path = REPO, timeout: float = 900) -> None:
        args = ["build", "--progress=plain", "--build-arg", f"BASE={self.base_image}", "-t", tag]
        if self.ca_file is not None:
            # A secret, not a build arg: it must not end up in the image.
            args += ["--secret", f"id=ca,src={self.ca_file}"]
        self.run(*args, str(context), timeout=timeout)


def env_script() -> Path:
    named = os.environ.get("SELFDRIVE_DOCKER_ENV")
    return Path(named) if named else REPO.parent / "shared" / "ci" / "docker-env.sh"


def docker_cli() -> str | None:
    # Debian's docker.io first: a newer client without the buildx plugin (a
    # static one in /usr/local/bin, say) refuses BuildKit builds, which the
    # Dockerfile needs for its secret mount; the 20.10 client has BuildKit built in.
    debian = Path("/usr/bin/docker")
    return str(debian) if debian.exists() else shutil.which("docker")


def daemon_answers() -> bool:
    cli = docker_cli()
    if cli is None:
        return False
    try:
        info = subprocess.run([cli, "info"], capture_output=True, timeout=30)
    except subprocess.TimeoutExpired:
        return False
    return info.returncode == 0


def cannot_run(reason: str) -> NoReturn:
    if require_external():
        pytest.fail(reason)
    pytest.skip(reason)


def local_cas(into: Path) -> Path | None:
    certs = sorted(LOCAL_CA_DIR.glob("*.crt")) if LOCAL_CA_DIR.is_dir() else []
    if not certs:
        return None
    into.write_text("".join(c.read_text() for c in certs))
    return into


@pytest.fixture(scope="session")
def docker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Docker]:
    script = env_script()
    if not script.is_file():
        pytest.skip(f"no {script} to start Docker with (set SELFDRIVE_DOCKER_ENV to it)")
    was_running = daemon_answers()
    try:
        started = subprocess.run(["bash", str(script), "start"], capture_output=True, text=True,
                                 timeout=ENV_START_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        cannot_run(f"{script} start took over {ENV_START_TIMEOUT_S} s")
    if started.returncode != 0:
        cannot_run(f"{script} start failed ({started.returncode}): {started.stderr[-2000:]}")
    lines = started.stdout.split()
    cli = docker_cli()
    if not lines or cli is None:
        cannot_run(f"{script} start printed no image, or left no docker CLI: {started.stdout!r}")
    ca_file = local_cas(tmp_path_factory.mktemp("docker") / "ca.pem")
    try:
        yield Docker(cli=cli, base_image=lines[-1], ca_file=ca_file)
    finally:
        if not was_running:
            subprocess.run(["bash", str(script), "stop"], capture_output=True, timeout=60)
