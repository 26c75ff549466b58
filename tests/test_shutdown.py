"""SIGTERM stops the real server gracefully: long polls are answered at once
with a backoff, an upload in flight finishes and is kept, the WAL is
checkpointed, and the process exits 0."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server

POLLS = 1000


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _exit_code(server: Server, timeout: float = 30) -> int:
    assert server.process is not None
    code = server.process.wait(timeout=timeout)
    server.process = None
    return code


@pytest.mark.anyio
async def test_sigterm_answers_1000_long_polls_with_a_backoff(tmp_path: Path) -> None:
    server = Server(data_dir=tmp_path / "data")
    server.start()
    try:
        token = server.token()
        limits = httpx.Limits(max_connections=POLLS + 10, max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=server.base_url + "/api/v1", limits=limits,
                                     headers={"Authorization": f"Bearer {token}"},
                                     timeout=60) as client:
            cursor = (await client.get("/changes/latest")).json()["cursor"]
            polls = []
            for _ in range(POLLS // 100):
                polls += [asyncio.ensure_future(client.get(
                    "/changes/wait", params={"cursor": cursor, "timeout": 60}))
                    for _ in range(100)]
                await asyncio.sleep(0.2)
            await asyncio.sleep(5)  # every poll reaches the server and waits
            assert not any(p.done() for p in polls)
            assert server.process is not None
            server.process.send_signal(signal.SIGTERM)
            started = time.monotonic()
            answers = await asyncio.gather(*polls)
            took = time.monotonic() - started
        assert {a.status_code for a in answers} == {200}
        assert {(a.json()["changes"], a.json()["backoff"]) for a in answers} == {(False, 5)}
        assert took < 10, f"the long polls took {took:.1f} s to be answered"
        assert _exit_code(server) == 0
    finally:
        server.stop()


@pytest.mark.anyio
async def test_sigterm_lets_an_upload_finish_and_keeps_it(tmp_path: Path) -> None:
    server = Server(data_dir=tmp_path / "data")
    server.start()
    try:
        token = server.token()
        sent = asyncio.Event()
        piece = b"x" * 100_000

        async def slowly() -> AsyncIterator[bytes]:
            for i in range(30):
                yield piece
                if i == 5:
                    sent.set()
                await asyncio.sleep(0.1)

        async with httpx.AsyncClient(base_url=server.base_url + "/api/v1", timeout=60,
                                     headers={"Authorization": f"Bearer {token}"}) as client:
            upload = asyncio.ensure_future(client.put(
                "/files/content", params={"path": "/during-shutdown.bin"}, content=slowly()))
            await sent.wait()
            assert server.process is not None
            server.process.send_signal(signal.SIGTERM)
            answer = await upload
        assert answer.status_code == 201, answer.text
        assert _exit_code(server) == 0
        wal = server.data_dir / "meta.db-wal"
        assert not wal.exists() or wal.stat().st_size == 0, "the WAL was not checkpointed"
        server.start()
        with server.client(token) as api:
            body = api.get("/files/content", params={"path": "/during-shutdown.bin"}).content
        assert body == piece * 30
    finally:
        server.stop()
