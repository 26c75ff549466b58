"""`create_app`: the Starlette application over one Runtime."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import msgspec
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from selfdrive.http import openapi
from selfdrive.http.errors import EXCEPTION_HANDLERS
from selfdrive.http.guard import FramingGuard
from selfdrive.http.metrics import PATH as METRICS_PATH
from selfdrive.http.metrics import Metrics, metrics_endpoint
from selfdrive.http.metrics import middleware as observers
from selfdrive.http.proxy import ProxyHeaders
from selfdrive.http.routes import API, API_PREFIX, ROOT
from selfdrive.http.webdav import PREFIX as DAV_PREFIX
from selfdrive.http.webdav import WebDAV
from selfdrive.services.runtime import Runtime
from selfdrive.web import routes as web_routes


def create_app(runtime: Runtime) -> Starlette:
    document = msgspec.json.encode(openapi.build(API, ROOT, API_PREFIX))

    async def openapi_json(request: Request) -> Response:
        return Response(document, media_type="application/json")

    routes: list[BaseRoute] = [e.route(API_PREFIX) for e in API]
    routes += [e.route("") for e in ROOT]
    routes.append(Route(API_PREFIX + "/openapi.json", openapi_json, methods=["GET"]))
    dav = WebDAV()
    routes.append(Route(DAV_PREFIX, dav))  # /dav itself, without the slash
    routes.append(Mount(DAV_PREFIX, app=dav))
    metrics = Metrics(runtime) if runtime.config.metrics.enabled else None
    if metrics is not None and not runtime.config.metrics.port:
        routes.append(Route(METRICS_PATH, metrics_endpoint, methods=["GET"]))  # admins only
    routes += web_routes()  # the web UI: its shell, static and vendored files

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        background = [asyncio.ensure_future(runtime.maintenance.run_forever())]
        if runtime.backup.configured:  # copies to the bucket; uploads never wait for it
            background.append(asyncio.ensure_future(runtime.backup.run_forever()))
            background.append(asyncio.ensure_future(runtime.bucket_gc.run_forever()))
        if runtime.cold.enabled:  # old revisions' blocks to the bucket (docs/backup.md)
            background.append(asyncio.ensure_future(runtime.cold.run_forever()))
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            for task in background:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await runtime.close()

    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(ProxyHeaders, trusted=runtime.config.server.trusted_proxies,
                       hsts=runtime.config.server.hsts),
            *observers(runtime, metrics, routes),  # access log, metrics, the metrics port
            Middleware(FramingGuard),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.metrics = metrics
    return app
