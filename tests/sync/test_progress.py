"""The progress line of a long sync: files, bytes, rate and time left."""

from __future__ import annotations

import io
import logging
import sys

import pytest

from selfdrive.sync.command import Progress
from selfdrive.sync.engine import Stats


def _stats() -> Stats:
    return Stats(planned_files=10, planned_bytes=100 * 1024**2, done_files=4,
                 done_bytes=40 * 1024**2, bytes_sent=41 * 1024**2)


def test_a_terminal_gets_one_rewritten_line_with_time_left(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stderr", out)
    p = Progress(tty=True)
    p.started -= 10  # 40 MB in 10 s
    p("upload big.bin", _stats())
    line = out.getvalue()
    assert line.startswith("\r\x1b[2K")
    assert "4/10 files" in line and "40.0 MB/100.0 MB" in line
    assert "at 4.0 MB/s" in line and "15 s left" in line and "upload big.bin" in line


def test_a_log_gets_a_plain_line_now_and_then(caplog: pytest.LogCaptureFixture) -> None:
    p = Progress(tty=False)
    with caplog.at_level(logging.INFO, "selfdrive.sync"):
        p("upload a", _stats())
        p("upload b", _stats())  # within 5 s of the first: not logged
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "4/10 files" in lines[0] and "\r" not in lines[0]
