"""Logging for the server: the standard `logging` module, set up once by `setup`
when `selfdrive serve` starts (docs/monitoring.md shows the lines).

Terms: a record's *fields* (``log.info(..., extra={"fields": {...}})``) are
its values as data: the JSON format writes them as keys of the line's object,
beside ``time``, ``level``, ``logger`` and ``message``; the text format writes
the message alone, which says the same.  The access log (`selfdrive.access`,
see `selfdrive/http/accesslog.py`) and the maintenance loop use them.

Records are formatted where they are logged and written to standard error by
a thread of their own (`LineWriter`), so a slow terminal or journal never
stalls the event loop.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import sys
import threading
import time
from typing import Any, TextIO

import msgspec

from selfdrive.config import LOG_FORMATS, LOG_LEVELS, ConfigError, LogConfig

LEVELS = {name: logging.getLevelName(name.upper()) for name in LOG_LEVELS}
FORMATS = LOG_FORMATS
#: libraries too chatty below WARNING (aiosqlite's debug lines would even show
#: SQL parameters: token and password hashes)
QUIET = ("aiosqlite", "hpack", "h2", "h11", "multipart", "python_multipart", "httpx",
         "httpcore", "watchfiles")
#: the handler `setup` installs on the root logger, found again by this name
HANDLER_NAME = "selfdrive"
#: lines waiting to be written, at most
MAX_PENDING = 10_000


def _utc(created: float) -> str:
    """``2024-06-01T12:00:00.123Z``"""
    seconds = int(created)
    return (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
            + f".{int((created - seconds) * 1000):03d}Z")


class TextFormatter(logging.Formatter):
    """``2024-06-01T12:00:00.123Z INFO selfdrive.access: <message>``, then any traceback."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _utc(record.created)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the record's
    fields, and ``exc`` (the traceback as text) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _utc(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            for key, value in fields.items():
                line.setdefault(str(key), value)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return msgspec.json.encode(line, enc_hook=str).decode()


def check(config: LogConfig) -> None:
    """Refuse, in one line naming the setting, a level or format we do not know."""
    if config.level.lower() not in LEVELS:
        raise ConfigError(f"log.level: expected one of {', '.join(LEVELS)},"
                          f" got {config.level!r}")
    if config.format.lower() not in FORMATS:
        raise ConfigError(f"log.format: expected one of {', '.join(FORMATS)},"
                          f" got {config.format!r}")


def formatter(config: LogConfig) -> logging.Formatter:
    return JsonFormatter() if config.format.lower() == "json" else TextFormatter()


class LineWriter(logging.Handler):
    """Formats a record where it is logged and queues the line; a thread of
    its own writes what is queued, many lines per write.  At most
    `MAX_PENDING` lines wait: past that (the stream is stuck) lines are
    dropped and counted, rather than stalling the server or growing without
    bound.  Closing it (logging.shutdown does, at exit) writes out the queue."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.stream = stream
        self._lines: queue.Queue[str | None] = queue.Queue(MAX_PENDING)
        self._dropped = 0
        self._thread = threading.Thread(target=self._write, name="selfdrive-log", daemon=True)
        self._thread.start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._lines.put_nowait(self.format(record))
        except queue.Full:
            self._dropped += 1
        except Exception:
            self.handleError(record)

    def _write(self) -> None:
        while True:
            lines = [self._lines.get()]
            with contextlib.suppress(queue.Empty):
                while len(lines) < MAX_PENDING:
                    lines.append(self._lines.get_nowait())
            done = None in lines
            text = [line for line in lines if line is not None]
            if self._dropped:
                dropped, self._dropped = self._dropped, 0
                text.append(f"{_utc(time.time())} WARNING selfdrive.logs: {dropped} log lines"
                            " dropped: standard error did not keep up")
            with contextlib.suppress(OSError, ValueError):  # a closed or broken stream
                self.stream.write("\n".join(text) + "\n" if text else "")
                self.stream.flush()
            if done:
                return

    def close(self) -> None:
        if self._thread.is_alive():
            self._lines.put(None)
            self._thread.join(5)
        super().close()


def setup(config: LogConfig, stream: TextIO | None = None) -> None:
    """Send every record at ``[log] level`` or above to *stream* (standard
    error) in ``[log] format``; replaces what an earlier call installed."""
    check(config)
    level = LEVELS[config.level.lower()]
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(old)
        old.close()
    handler = LineWriter(stream or sys.stderr)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(formatter(config))
    root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
