"""Fixtures of the backup tests: a fresh bucket on the session's moto server,
a fault-injecting proxy in front of it, and a Runtime whose [backup] points
at one or the other."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from selfdrive.config import load
from selfdrive.core.clock import SystemClock
from selfdrive.services.auth import Principal
from selfdrive.services.backup_targets import Status
from selfdrive.services.runtime import Runtime, open_runtime
from selfdrive.store.meta.backup import Pending, TargetState
from tests.backup.s3proxy import S3FaultProxy
from tests.conftest import S3Server

OpenRuntime = Callable[..., Awaitable[Runtime]]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def bucket(s3_server: S3Server) -> str:
    return s3_server.create_bucket()


@pytest.fixture
def proxy(s3_server: S3Server) -> Iterator[S3FaultProxy]:
    p = S3FaultProxy(s3_server.url)
    yield p
    p.close()


def backup_env(endpoint: str, bucket: str, **extra: str) -> dict[str, str]:
    """The environment that points [backup] at *bucket* (fast backoff for tests)."""
    return {"SELFDRIVE_BACKUP_ENDPOINT_URL": endpoint, "SELFDRIVE_BACKUP_BUCKET": bucket,
            "SELFDRIVE_BACKUP_PREFIX": "home", "SELFDRIVE_BACKUP_ACCESS_KEY_ID": "test",
            "SELFDRIVE_BACKUP_SECRET_ACCESS_KEY": "test",
            "SELFDRIVE_BACKUP_MAX_BACKOFF_S": "1", **extra}


@pytest.fixture
async def open_rt(tmp_path: Path) -> AsyncIterator[OpenRuntime]:
    """Opens runtimes on one data dir (closed at the end): ``await open_rt(endpoint, bucket)``."""
    opened: list[Runtime] = []

    async def make(endpoint: str, bucket: str, **extra: str) -> Runtime:
        env = {"HOME": str(tmp_path), **backup_env(endpoint, bucket, **extra)}
        config, secrets = load(None, data_dir=tmp_path / "data", env=env)
        runtime = await open_runtime(config, secrets, clock=SystemClock())
        opened.append(runtime)
        return runtime

    yield make
    for runtime in opened:
        await runtime.close()  # closing twice is harmless


async def alice(runtime: Runtime) -> Principal:
    if not await runtime.auth.count_users():
        await runtime.auth.create_user("alice", "alice-password", quota_bytes=10**12)
    user = next(u for u in await runtime.auth.list_users() if u.name == "alice")
    return Principal(user.id, user.name, False, None, "laptop")


async def body(data: bytes) -> AsyncIterator[bytes]:
    yield data


def pending(status: Status, target: str = "primary") -> Pending:
    return next(t.pending for t in status.targets if t.name == target)


def primary(status: Status, target: str = "primary") -> TargetState:
    """The target's recorded state (the primary's by default)."""
    found = next(t.state for t in status.targets if t.name == target)
    assert found is not None, f"{target} is not bound"
    return found


def replica_env(endpoint: str, bucket: str) -> dict[str, str]:
    """The environment that adds [backup.replica] pointing at *bucket*."""
    return {"SELFDRIVE_BACKUP_REPLICA_ENDPOINT_URL": endpoint,
            "SELFDRIVE_BACKUP_REPLICA_BUCKET": bucket,
            "SELFDRIVE_BACKUP_REPLICA_PREFIX": "far",
            "SELFDRIVE_BACKUP_REPLICA_ACCESS_KEY_ID": "test",
            "SELFDRIVE_BACKUP_REPLICA_SECRET_ACCESS_KEY": "test"}
