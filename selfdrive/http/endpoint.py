"""`Endpoint`: one row of the route table, and the glue that runs it.

An endpoint names its method, path, handler, and the msgspec types of its
query string, JSON body and response.  `Endpoint.route()` makes the
Starlette route: it authenticates the caller (unless ``public``), decodes and
validates the query and body, calls the handler with a `Call`, and encodes
a returned Struct as JSON.  `authenticate` takes a bearer token or, with the
CSRF rules of browser.py, the browser's session cookie, for every route.  The
OpenAPI document is generated from the same rows, so it cannot drift from
what the server does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from selfdrive.core.errors import BadRequest, Forbidden, PayloadTooLarge, Unauthenticated
from selfdrive.http import browser
from selfdrive.http.accesslog import note_user
from selfdrive.services.auth import Principal
from selfdrive.services.runtime import Runtime

Q = TypeVar("Q")
B = TypeVar("B")


@dataclass
class Call(Generic[Q, B]):
    """What a handler gets: the request, who asks, and the decoded inputs."""

    request: Request
    runtime: Runtime
    who: Principal
    query: Q
    body: B


Handler = Callable[[Call[Any, Any]], Awaitable[Any]]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    query: type[Any] | None = None
    body: type[Any] | None = None
    response: type[Any] | None = None
    status: int = 200
    public: bool = False
    #: administrators only: anyone else gets 403 before the body is read
    admin: bool = False
    #: extra OpenAPI facts for raw bodies and non-JSON responses
    raw_body: str | None = None
    raw_response: str | None = None
    responses: dict[int, str] = field(default_factory=dict)

    def route(self, prefix: str) -> Route:
        async def endpoint(request: Request) -> Response:
            return await self._run(request)

        return Route(prefix + self.path, endpoint, methods=[self.method], name=self.summary)

    async def _run(self, request: Request) -> Response:
        runtime: Runtime = request.app.state.runtime
        who = ANONYMOUS if self.public else await authenticate(request, runtime)
        if self.admin and not who.is_admin:
            raise Forbidden("this is for administrators")
        query = _decode_query(request, self.query) if self.query else None
        body = await decode_body(request, self.body, runtime) if self.body else None
        call: Call[Any, Any] = Call(request, runtime, who, query, body)
        result: object = await self.handler(call)
        if isinstance(result, Response):
            return result
        if result is None:
            return Response(status_code=204)
        return Response(msgspec.json.encode(result), status_code=self.status,
                        media_type="application/json")


ANONYMOUS = Principal(user_id=0, username="", is_admin=False, device_id=None, device_name=None)


async def authenticate(request: Request, runtime: Runtime) -> Principal:
    """Who asks: by the Authorization header when there is one (a bearer
    token, never CSRF-checked), else by the browser's session cookie, held
    to the CSRF rules for unsafe methods (browser.py)."""
    header = request.headers.get("authorization")
    session = browser.session_cookie(request)
    if header is None and session is not None:
        browser.check_unsafe(request, session)  # before the session: forgeries write nothing
        who = await runtime.sessions.authenticate(session)
    else:
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("send a device token ('Authorization: Bearer <token>')"
                                  " or sign in")
        who = await runtime.auth.authenticate(token.strip())
    note_user(request.scope, who.user_id)
    return who


def _decode_query(request: Request, kind: type[Q]) -> Q:
    params = request.query_params
    for key in params:
        if len(params.getlist(key)) > 1:
            raise BadRequest(f"query parameter {key!r} is given more than once")
    try:
        return msgspec.convert(dict(params), kind, strict=False)
    except msgspec.ValidationError as exc:
        raise BadRequest(f"bad query string: {exc}") from None


async def decode_body(request: Request, kind: type[B], runtime: Runtime) -> B:
    ctype = request.headers.get("content-type", "application/json").split(";")[0].strip()
    if ctype != "application/json":
        raise BadRequest("this call takes a JSON body (Content-Type: application/json)")
    limit = runtime.config.limits.max_json_bytes
    data = bytearray()
    async for piece in request.stream():
        data += piece
        if len(data) > limit:
            raise PayloadTooLarge(f"a JSON body may be at most {limit} bytes")
    try:
        return msgspec.json.decode(bytes(data), type=kind)
    except msgspec.ValidationError as exc:
        raise BadRequest(f"bad request body: {exc}") from None
    except msgspec.DecodeError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from None
