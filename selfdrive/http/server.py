"""Serving the app with Hypercorn: the one place where limits and timeouts are set."""

from __future__ import annotations

import asyncio
import signal

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config as HypercornConfig

from selfdrive.config import Config
from selfdrive.http.app import create_app
from selfdrive.services.runtime import Runtime


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
    hc.accesslog = None
    hc.errorlog = "-"
    hc.include_server_header = False
    return hc


async def serve(runtime: Runtime, *, ready: asyncio.Event | None = None) -> None:
    """Serve until SIGINT or SIGTERM, then let running requests finish."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    app = create_app(runtime)
    hc = hypercorn_config(runtime.config)
    if ready is not None:
        ready.set()
    await hypercorn_serve(app, hc, shutdown_trigger=stop.wait)  # type: ignore[arg-type]
