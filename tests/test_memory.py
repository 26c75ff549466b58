"""Flat memory: a big upload or download does not grow the server's RSS."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Server

pytestmark = pytest.mark.slow
SIZE = 1024**3
PIECE = 1024 * 1024


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


class _Peak:
    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_mb(self.pid))
            time.sleep(0.05)

    def __enter__(self) -> _Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _body() -> Iterator[bytes]:
    block = os.urandom(PIECE)
    for i in range(SIZE // PIECE):
        yield block[:-8] + i.to_bytes(8, "big")  # every piece distinct: no dedup


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_one_gib_transfer_keeps_rss_flat(tmp_path: Path) -> None:
    srv = Server(data_dir=tmp_path / "data")
    srv.start()
    try:
        assert srv.process is not None
        pid = srv.process.pid
        with srv.client(srv.token()) as c:
            c.put("/files/content", params={"path": "/warm.bin"}, content=os.urandom(PIECE * 8))
            before = _rss_mb(pid)
            with _Peak(pid) as up:
                r = c.put("/files/content", params={"path": "/big.bin"}, content=_body(),
                          headers={"Content-Length": str(SIZE)})
            assert r.status_code == 201, r.text
            with _Peak(pid) as down, c.stream("GET", "/files/content",
                                               params={"path": "/big.bin"}) as resp:
                got = sum(len(p) for p in resp.iter_raw(PIECE))
            assert got == SIZE
        assert up.peak - before < 100, f"upload grew RSS from {before:.0f} to {up.peak:.0f} MB"
        assert down.peak - before < 100, f"download grew RSS to {down.peak:.0f} MB"
    finally:
        srv.stop()
