"""Logging a device in and out of a server (docs/api.md, Devices).

Terms:

*device*
    One login of one user from one place: the server hands it a bearer token
    in exchange for the password (``POST /api/v1/auth/tokens``) and forgets
    the token when the device is revoked (``DELETE /api/v1/auth/tokens/{id}``).
*device name*
    What the user sees in their device list; this machine's hostname unless
    given.

Every failure is an `AccountError` with one sentence for people; httpx's
exceptions and the server's error bodies are mapped here and nowhere else.
"""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import msgspec

from selfdrive.sync import credentials
from selfdrive.sync.credentials import Login
from selfdrive.sync.errors import ClientError

TIMEOUT_S = 30.0
MAX_DEVICE_NAME = 128  # the server's limit


class AccountError(ClientError):
    """A login or logout that did not happen; client-side, never on the wire."""

    code = "account"


class _TokenCreated(msgspec.Struct):
    token: str
    device_id: int


class _ErrorBody(msgspec.Struct):
    code: str
    message: str


class _Error(msgspec.Struct):
    error: _ErrorBody


def default_device_name() -> str:
    name = "".join(ch for ch in socket.gethostname() if ch.isprintable()).strip()
    return name[:MAX_DEVICE_NAME] or "selfdrive client"


async def login(
    server: str, username: str, password: str, device_name: str | None = None
) -> Login:
    """A new device token for *username* on *server*; nothing is stored here
    (`credentials.save` does that)."""
    server = credentials.normalise_server(server)
    device_name = (device_name or "").strip() or default_device_name()
    body = {"username": username, "password": password, "device_name": device_name}
    async with _client(server) as client:
        response = await _send(client, "POST", "/api/v1/auth/tokens", json=body)
    if _error_code(response) == "unauthenticated":
        raise AccountError(f"wrong username or password for {server}")
    if response.status_code != 201:
        raise _failure(server, response, "log in")
    try:
        created = msgspec.json.decode(response.content, type=_TokenCreated)
    except msgspec.DecodeError as exc:  # ValidationError included
        raise _not_selfdrive(server, response) from exc
    return Login(server=server, username=username, device_id=created.device_id,
                 device_name=device_name, token=created.token)


async def logout(login: Login, *, directory: Path | None = None) -> None:
    """Revoke this device on the server, then forget its token here.

    If the server cannot be reached the token is kept, so that a later logout
    can still revoke it: forgetting it first would leave a live token behind.
    """
    headers = {"Authorization": f"Bearer {login.token}"}
    async with _client(login.server) as client:
        response = await _send(
            client, "DELETE", f"/api/v1/auth/tokens/{login.device_id}", headers=headers
        )
    # unauthenticated: the token no longer works, i.e. the device was revoked
    # already.  (A 401 from a proxy in front is not that, hence the code.)
    if response.status_code != 204 and _error_code(response) != "unauthenticated":
        raise _failure(login.server, response, "log out")
    credentials.remove(login.server, directory=directory)


def _client(server: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server, timeout=TIMEOUT_S, follow_redirects=False)


async def _send(
    client: httpx.AsyncClient, method: str, url: str, *,
    json: dict[str, str] | None = None, headers: dict[str, str] | None = None,
) -> httpx.Response:
    server = str(client.base_url).rstrip("/")
    try:
        return await client.request(method, url, json=json, headers=headers)
    except httpx.TimeoutException as exc:
        raise AccountError(f"{server} did not answer within {TIMEOUT_S:.0f} s") from exc
    except httpx.TransportError as exc:
        raise AccountError(f"cannot reach {server}: {exc or type(exc).__name__}") from exc


def _error(response: httpx.Response) -> _ErrorBody | None:
    """The selfdrive error in *response*, or None if it holds none."""
    if response.is_success:
        return None
    try:
        return msgspec.json.decode(response.content, type=_Error).error
    except msgspec.DecodeError:
        return None


def _error_code(response: httpx.Response) -> str | None:
    error = _error(response)
    return error.code if error else None


def _failure(server: str, response: httpx.Response, doing: str) -> AccountError:
    if response.is_redirect and "location" in response.headers:
        # Most often http:// answered by a redirect to https://; we do not
        # follow it silently because the password would go to another URL.
        target = response.headers["location"].partition("/api/v1/")[0]
        return AccountError(f"{server} redirects to {target}; use that as --server")
    error = _error(response)
    if error is None:
        return _not_selfdrive(server, response)
    return AccountError(f"could not {doing} at {server}: {error.message} ({error.code})")


def _not_selfdrive(server: str, response: httpx.Response) -> AccountError:
    return AccountError(
        f"{server} did not answer like a selfdrive server (HTTP {response.status_code});"
        " check the URL"
    )
