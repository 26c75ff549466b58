"""Fixtures of the service tests: a real Runtime (SQLite file, local block
store) in a temp dir, driven by a fake clock, with one user."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from selfdrive.config import load
from selfdrive.core.clock import FakeClock, SystemClock
from selfdrive.services.auth import Principal
from selfdrive.services.runtime import Runtime, open_runtime

RT = tuple[Runtime, FakeClock, Principal]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def rt(tmp_path: Path) -> AsyncIterator[RT]:
    """(runtime, its clock, alice) — alice's device is called "laptop"."""
    config, secrets = load(None, data_dir=tmp_path / "data", env={"HOME": str(tmp_path)})
    clock = FakeClock(start_ms=SystemClock().now_ms())
    runtime = await open_runtime(config, secrets, clock=clock)
    user = await runtime.auth.create_user("alice", "alice-password", quota_bytes=10**12)
    who = Principal(user.id, user.name, False, None, "laptop")
    try:
        yield runtime, clock, who
    finally:
        await runtime.close()
