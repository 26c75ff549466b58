"""Serving the app with Hypercorn: the one place where limits and timeouts are set."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import os
import resource
import signal
from collections.abc import Callable
from pathlib import Path

import hypercorn.asyncio.tcp_server as hypercorn_tcp_server
from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config as HypercornConfig

from selfdrive.config import Config, ConfigError
from selfdrive.http.app import create_app
from selfdrive.services.runtime import Runtime


def tune_allocator() -> None:
    """Keep freed block buffers in the heap instead of handing them back.

    Every block passes through a few megabyte-sized buffers.  glibc serves
    those from fresh mmap()s and returns them to the kernel when freed, so
    each one page-faults again: measured here, that alone cost about a third
    of an upload's CPU.  Fixed thresholds keep them in the heap (RSS stays
    bounded by the pipeline's own limits).  No-op where libc is not glibc.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold, m_arena_max = -1, -3, -8
    mallopt(m_mmap_threshold, 32 * 1024 * 1024)
    mallopt(m_trim_threshold, 16 * 1024 * 1024)
    # Blocks are allocated in one thread and freed in another; with one
    # arena per thread, each arena keeps its own free megabytes.
    mallopt(m_arena_max, 2)


def loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """The event loop that serves: [server] event_loop, "asyncio" (Python's
    own) or "uvloop" (libuv, in C; an optional extra).  Side by side, uvloop
    woke 10,000 long polls a little sooner in the median but missed 2 s in
    two runs of seven, where asyncio's loop never did (docs/benchmarks.md,
    "Long poll"), so it is a choice to measure with (benchmarks/longpoll.py
    --loops), not the default."""
    if choice == "uvloop":
        try:
            import uvloop
        except ImportError:
            raise ConfigError("server.event_loop = \"uvloop\", but uvloop is not installed"
                              " (pip install 'selfdrive[uvloop]')") from None
        return uvloop.new_event_loop
    return asyncio.new_event_loop


def raise_open_file_limit() -> int:
    """Lift the soft limit on open files to the hard one: each connection is
    a file, and long-poll waiters are many connections (10,000 is a design
    figure).  Returns the limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return soft


#: bytes Hypercorn asks the socket for per read (its default is 64 KiB); each
#: read costs the event loop the same Python work, whatever its size, so big
#: reads let a single upload stream go about 30% faster (docs/benchmarks.md)
READ_BYTES = 1024 * 1024
BACKLOG = 4096


def hypercorn_config(config: Config) -> HypercornConfig:
    hc = HypercornConfig()
    host = config.server.host
    hc.bind = [f"[{host}]:{config.server.port}" if ":" in host else f"{host}:{config.server.port}"]
    # Hypercorn has no read timeout by default: a client that stops sending
    # would hold its connection (and an upload's buffers) for ever.
    hc.read_timeout = int(config.server.read_timeout_s)
    hc.keep_alive_timeout = config.server.keep_alive_timeout_s
    hc.h11_max_incomplete_size = config.server.max_header_bytes
    hc.graceful_timeout = config.server.shutdown_timeout_s
    hc.accesslog = None  # ours is selfdrive.access (http/accesslog.py)
    hc.errorlog = logging.getLogger("hypercorn.error")  # through selfdrive/logs.py
    hc.include_server_header = False
    server = config.server
    if bool(server.tls_cert_file) != bool(server.tls_key_file):
        raise ConfigError("server.tls_cert_file and server.tls_key_file go together: set both"
                          " (HTTPS) or neither (plain HTTP)")
    if server.tls_cert_file:
        for key in ("tls_cert_file", "tls_key_file"):
            path = Path(getattr(server, key)).expanduser()
            if not os.access(path, os.R_OK):
                raise ConfigError(f"server.{key}: cannot read {path}")
        # HTTPS, and HTTP/2 for clients that offer it (ALPN); Hypercorn's
        # defaults keep TLS 1.2 as the oldest version.
        hc.certfile = str(Path(server.tls_cert_file).expanduser())
        hc.keyfile = str(Path(server.tls_key_file).expanduser())
    # Clients reconnect all at once after a restart or a network change (each
    # long poll is a connection): a deep accept queue keeps them from being
    # dropped (Hypercorn's default is 100; the kernel caps it at somaxconn).
    hc.backlog = BACKLOG
    listen_for_metrics(hc, config)
    return hc


def listen_for_metrics(hc: HypercornConfig, config: Config) -> None:
    """With ``[metrics] port``, listen there too, in plain HTTP (the app serves
    only /metrics there: `selfdrive.http.metrics.MetricsListener`)."""
    metrics = config.metrics
    if not metrics.enabled or not metrics.port:
        return
    if not 0 < metrics.port < 65536 or metrics.port == config.server.port:
        raise ConfigError(f"metrics.port: expected 0 (the main port) or a port of its own,"
                          f" 1 to 65535 and not server.port, got {metrics.port}")
    host = metrics.metrics_host
    address = f"[{host}]:{metrics.port}" if ":" in host else f"{host}:{metrics.port}"
    if hc.ssl_enabled:
        hc.insecure_bind = [address]
    else:
        hc.bind = [*hc.bind, address]


async def serve(runtime: Runtime, *, ready: asyncio.Event | None = None) -> None:
    """Serve until SIGINT or SIGTERM, then end long polls with a backoff, let
    running requests finish (up to [server] shutdown_timeout_s), and close the
    runtime (the app's lifespan), which checkpoints the database's WAL."""
    tune_allocator()
    raise_open_file_limit()
    # Hypercorn has no setting for its read size, only this module constant.
    hypercorn_tcp_server.MAX_RECV = READ_BYTES
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    app = create_app(runtime)
    hc = hypercorn_config(runtime.config)
    if ready is not None:
        ready.set()

    async def shutdown() -> None:
        # Hypercorn stops accepting once this returns, then waits up to
        # shutdown_timeout_s for running requests: uploads finish (or a
        # resumable one keeps what it has), and long polls are told now.
        await stop.wait()
        runtime.changes.stop()

    await hypercorn_serve(app, hc, shutdown_trigger=shutdown)  # type: ignore[arg-type]
