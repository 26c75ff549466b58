"""The error body and the code -> status table are part of the public API."""

from __future__ import annotations

import httpx

from selfdrive.core import errors as e
from selfdrive.http.errors import STATUS
from tests.conftest import Server

PINNED = {
    "error": 500, "bad_request": 400, "invalid_path": 400, "invalid_range": 416,
    "incomplete_body": 400, "hash_mismatch": 400, "unauthenticated": 401, "forbidden": 403,
    "wrong_credentials": 401, "csrf": 403,
    "not_found": 404, "revision_not_found": 404, "block_not_found": 404,
    "already_exists": 409, "not_a_folder": 409, "not_a_file": 409, "conflict": 409,
    "changed_since_cursor": 409,
    "offset_mismatch": 409, "upload_busy": 423, "checksum_mismatch": 460,
    "unsupported_media_type": 415, "no_thumbnail": 415, "too_many_uploads": 429,
    "missing_blocks": 412,
    "payload_too_large": 413, "quota_exceeded": 507, "cursor_expired": 410,
    "link_gone": 410, "rate_limited": 429, "parent_not_found": 409, "too_many_locks": 429,
    "locked": 423, "precondition_failed": 412, "bad_destination": 502,
    "storage_error": 503, "corrupt_block": 500, "disk_full": 507,
    "schema_too_new": 503, "bucket_unavailable": 503, "backup_not_configured": 409,
    "restore_failed": 500, "admin_lockout": 409, "restoring": 202, "object_archived": 503,
}


def _all_errors(cls: type[e.SelfdriveError]) -> list[type[e.SelfdriveError]]:
    return [cls] + [sub for c in cls.__subclasses__() for sub in _all_errors(c)]


def test_every_error_class_has_a_pinned_status() -> None:
    classes = _all_errors(e.SelfdriveError)
    assert {c.code: STATUS[c] for c in classes} == PINNED
    assert len({c.code for c in classes}) == len(classes), "codes are unique"


def test_error_body_shape(server: Server, admin_token: str) -> None:
    with server.client(admin_token) as c:
        responses = [
            c.get("/files/metadata", params={"path": "/does/not/exist"}),
            c.get("/files/metadata", params={"path": "no-slash"}),
            c.get("/files/metadata"),
            c.get("/no/such/route"),
            c.delete("/files/content"),
            httpx.get(server.base_url + "/api/v1/me"),
        ]
    for r in responses:
        assert r.headers["content-type"] == "application/json"
        body = r.json()
        assert set(body) == {"error"}
        assert isinstance(body["error"]["code"], str) and body["error"]["code"]
        assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert [r.status_code for r in responses] == [404, 400, 400, 404, 405, 401]
    assert responses[-1].headers["www-authenticate"].startswith("Bearer")
