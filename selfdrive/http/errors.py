"""The only mapping from error codes to HTTP statuses, and the only error body.

Every error leaves the server as::

    {"error": {"code": "<stable machine code>", "message": "<for people>", ...details}}

tests/http/test_error_shape.py pins both the shape and this table.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from selfdrive.core import errors as e

log = logging.getLogger("selfdrive.http")

STATUS: dict[type[e.SelfdriveError], int] = {
    e.SelfdriveError: 500,
    e.BadRequest: 400,
    e.InvalidPath: 400,
    e.InvalidRange: 416,
    e.IncompleteBody: 400,
    e.HashMismatch: 400,
    e.Unauthenticated: 401,
    e.WrongCredentials: 401,
    e.Forbidden: 403,
    e.CsrfRefused: 403,
    e.NotFound: 404,
    e.RevisionNotFound: 404,
    e.BlockNotFound: 404,
    e.AlreadyExists: 409,
    e.AdminLockout: 409,
    e.NotAFolder: 409,
    e.NotAFile: 409,
    e.ParentNotFound: 409,
    e.RevisionConflict: 409,
    e.ChangedSinceCursor: 409,
    e.OffsetMismatch: 409,
    e.UploadBusy: 423,
    e.ChecksumMismatch: 460,
    e.UnsupportedMediaType: 415,
    e.NoThumbnail: 415,
    e.TooManyUploads: 429,
    e.CursorExpired: 410,
    e.LinkGone: 410,
    e.TooManyAttempts: 429,
    e.TooManyLocks: 429,
    e.Locked: 423,
    e.PreconditionFailed: 412,
    e.BadDestination: 502,
    e.MissingBlocks: 412,
    e.BlockRestoring: 202,
    e.PayloadTooLarge: 413,
    e.QuotaExceeded: 507,
    e.StorageError: 503,
    e.CorruptBlock: 500,
    e.DiskFull: 507,
    e.SchemaTooNew: 503,
    e.ObjectArchived: 503,
    e.BucketUnavailable: 503,
    e.BackupNotConfigured: 409,
    e.RestoreFailed: 500,
}

#: codes for errors that Starlette raises itself (unknown route, wrong method...)
HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def status_of(exc: e.SelfdriveError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def error_body(code: str, message: str, **details: Any) -> bytes:
    return msgspec.json.encode({"error": {"code": code, "message": message, **details}})


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, **details: Any
) -> Response:
    return Response(
        error_body(code, message, **details), status_code=status,
        media_type="application/json", headers=headers,
    )


def from_exception(exc: e.SelfdriveError) -> Response:
    status = status_of(exc)
    headers = {"WWW-Authenticate": 'Bearer realm="selfdrive"'} if status == 401 else {}
    if "retry_after_s" in exc.details:
        headers["Retry-After"] = str(exc.details["retry_after_s"])
    return error_response(status, exc.code, exc.message, headers, **exc.details)


async def handle_selfdrive_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, e.SelfdriveError)
    return from_exception(exc)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = HTTP_CODES.get(exc.status_code, "error")
    return error_response(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))


async def handle_disconnect(request: Request, exc: Exception) -> Response:
    # The client is gone, so nobody reads this; what matters is that the
    # handler stopped before committing anything.
    return error_response(400, e.IncompleteBody.code, "the client disconnected mid-request")


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    """A bug: log it with its traceback, answer with the usual shape and no details."""
    log.error("unhandled error in %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "the server failed; the error is in its log")


EXCEPTION_HANDLERS = {
    Exception: handle_unexpected,
    e.SelfdriveError: handle_selfdrive_error,
    HTTPException: handle_http_exception,
    ClientDisconnect: handle_disconnect,
}
