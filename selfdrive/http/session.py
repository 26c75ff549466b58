"""Handlers of a browser's sign-in: /auth/login, /auth/session, /auth/logout,
/auth/logout_all (the cookie and the CSRF rules: browser.py; the sessions:
services/sessions.py)."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from selfdrive.core.errors import Unauthenticated
from selfdrive.http import browser
from selfdrive.http.account import me
from selfdrive.http.endpoint import Call
from selfdrive.http.schemas import LoginRequest, LogoutAllRequest, SessionOut
from selfdrive.services.sessions import csrf_token

#: answers that carry a CSRF token or set the cookie are never cached
NO_STORE = {"Cache-Control": "no-store"}


async def post_login(call: Call[None, LoginRequest]) -> Response:
    """Check the password, start a session, set its cookie; the answer holds
    the user and the session's CSRF token."""
    request = call.request
    browser.check_same_origin(request)  # login CSRF
    token, who = await call.runtime.sessions.sign_in(
        call.body.username, call.body.password, request.headers.get("user-agent", ""),
        replacing=browser.session_cookie(request),
    )
    response = _session_answer(SessionOut(user=await me(call.runtime, who),
                                          csrf_token=csrf_token(token)))
    browser.set_session_cookie(response, request, token)
    return response


async def get_session(call: Call[None, None]) -> Response:
    """The signed-in browser's user and CSRF token (the page asks on load)."""
    token = browser.session_cookie(call.request)
    if call.who.kind != "web" or token is None:
        raise Unauthenticated("this call is for a signed-in browser (its session cookie)")
    return _session_answer(SessionOut(user=await me(call.runtime, call.who),
                                      csrf_token=csrf_token(token)))


async def post_logout(call: Call[None, None]) -> Response:
    await call.runtime.sessions.sign_out(call.who)
    return _cleared(call.request)


async def post_logout_all(call: Call[None, LogoutAllRequest]) -> Response:
    await call.runtime.sessions.sign_out_everywhere(call.who, devices=call.body.devices)
    return _cleared(call.request)


def _session_answer(body: SessionOut) -> Response:
    return Response(msgspec.json.encode(body), media_type="application/json",
                    headers=NO_STORE)


def _cleared(request: Request) -> Response:
    response = Response(status_code=204, headers=NO_STORE)
    browser.clear_session_cookie(response, request)
    return response
