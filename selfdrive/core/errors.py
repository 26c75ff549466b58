"""The one exception tree of selfdrive, with stable machine codes.

    SelfdriveError                 code            (HTTP status lives in selfdrive.http.errors)
    +-- BadRequest                 bad_request
    |   +-- InvalidPath            invalid_path
    |   +-- InvalidRange           invalid_range
    |   +-- IncompleteBody         incomplete_body
    |   +-- HashMismatch           hash_mismatch
    +-- Unauthenticated            unauthenticated
    |   +-- WrongCredentials       wrong_credentials   (browser sign-in: wrong username or password)
    +-- Forbidden                  forbidden
    |   +-- CsrfRefused            csrf                (a cookie request without its CSRF proof)
    +-- NotFound                   not_found
    |   +-- RevisionNotFound       revision_not_found
    |   +-- BlockNotFound          block_not_found
    +-- AlreadyExists              already_exists
    +-- AdminLockout               admin_lockout       (an admin disabling or demoting themself)
    +-- NotAFolder                 not_a_folder
    +-- NotAFile                   not_a_file
    +-- ParentNotFound             parent_not_found    (a write that makes no folders)
    +-- RevisionConflict           conflict
    +-- ChangedSinceCursor         changed_since_cursor (a base_cursor precondition failed)
    +-- OffsetMismatch             offset_mismatch     (carries the offset)
    +-- UploadBusy                 upload_busy
    +-- ChecksumMismatch           checksum_mismatch
    +-- UnsupportedMediaType       unsupported_media_type
    |   +-- NoThumbnail            no_thumbnail        (not a picture, too big, a bomb: reason)
    +-- TooManyUploads             too_many_uploads
    +-- CursorExpired              cursor_expired      (carries the floor)
    +-- LinkGone                   link_gone           (a public link expired or used up)
    +-- TooManyAttempts            rate_limited        (carries retry_after_s)
    +-- TooManyLocks               too_many_locks
    +-- Locked                     locked              (a WebDAV lock is in the way)
    +-- PreconditionFailed         precondition_failed (WebDAV: If, If-Match, Overwrite)
    +-- BadDestination             bad_destination     (WebDAV: a Destination not on this server)
    +-- MissingBlocks              missing_blocks      (carries the ids)
    +-- BlockRestoring             restoring           (cold tier: carries retry_after_s, retry_at)
    +-- PayloadTooLarge            payload_too_large
    +-- QuotaExceeded              quota_exceeded
    +-- StorageError               storage_error
        +-- CorruptBlock           corrupt_block
        +-- DiskFull               disk_full           (the data dir's disk is at its reserve)
        +-- SchemaTooNew           schema_too_new      (a newer selfdrive upgraded the database)
        +-- ObjectArchived         object_archived     (an archived object, not restored)

Codes are part of the public API: never change or reuse one.  Foreign
exceptions (OSError, sqlite3 errors, cryptography's InvalidTag...) are mapped
into this tree where they are caught, never passed up raw.
"""

from __future__ import annotations

from typing import Any, ClassVar


class SelfdriveError(Exception):
    """Base of every error selfdrive raises on purpose."""

    code: ClassVar[str] = "error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class BadRequest(SelfdriveError):
    code = "bad_request"


class InvalidPath(BadRequest):
    code = "invalid_path"


class InvalidRange(BadRequest):
    code = "invalid_range"


class IncompleteBody(BadRequest):
    code = "incomplete_body"


class HashMismatch(BadRequest):
    code = "hash_mismatch"


class Unauthenticated(SelfdriveError):
    code = "unauthenticated"


class WrongCredentials(Unauthenticated):
    """A browser sign-in with a wrong username or password (the same answer for
    both, so names cannot be probed)."""

    code = "wrong_credentials"


class Forbidden(SelfdriveError):
    code = "forbidden"


class CsrfRefused(Forbidden):
    """An unsafe request authenticated by the session cookie that lacks the
    session's CSRF token, or that another site sent (Origin, Sec-Fetch-Site)."""

    code = "csrf"


class NotFound(SelfdriveError):
    code = "not_found"


class RevisionNotFound(NotFound):
    code = "revision_not_found"


class BlockNotFound(NotFound):
    code = "block_not_found"


class AlreadyExists(SelfdriveError):
    code = "already_exists"


class AdminLockout(SelfdriveError):
    """An administrator's change that would lock administrators out: disabling
    or demoting themself, or taking the rights of the last active admin."""

    code = "admin_lockout"


class NotAFolder(SelfdriveError):
    code = "not_a_folder"


class NotAFile(SelfdriveError):
    code = "not_a_file"


class ParentNotFound(SelfdriveError):
    """A write whose caller asked that missing parent folders not be made
    (WebDAV's rule) found its parent missing."""

    code = "parent_not_found"


class RevisionConflict(SelfdriveError):
    code = "conflict"


class ChangedSinceCursor(SelfdriveError):
    """A delete guarded by a change-feed cursor (``base_cursor``) found a change
    under its path after that cursor, or a cursor the journal cannot answer
    for: nothing was deleted; the caller catches up with the feed first."""

    code = "changed_since_cursor"


class OffsetMismatch(SelfdriveError):
    """A resumable upload's PATCH does not start where the upload stands."""

    code = "offset_mismatch"


class UploadBusy(SelfdriveError):
    """Another request is writing this resumable upload right now."""

    code = "upload_busy"


class ChecksumMismatch(SelfdriveError):
    """A PATCH's bytes do not match its Upload-Checksum; they were discarded."""

    code = "checksum_mismatch"


class UnsupportedMediaType(SelfdriveError):
    code = "unsupported_media_type"


class NoThumbnail(UnsupportedMediaType):
    """No thumbnail can be made of this file: not a picture of a known kind,
    larger than the limits, or undecodable (``reason`` says which)."""

    code = "no_thumbnail"


class TooManyUploads(SelfdriveError):
    """The user has as many unfinished resumable uploads as allowed."""

    code = "too_many_uploads"


class CursorExpired(SelfdriveError):
    """A change-feed cursor older than the journal keeps: relist."""

    code = "cursor_expired"


class LinkGone(SelfdriveError):
    """A public link that expired or whose downloads are used up."""

    code = "link_gone"


class TooManyAttempts(SelfdriveError):
    """Too many wrong passwords in a while; try again after retry_after_s."""

    code = "rate_limited"


class TooManyLocks(SelfdriveError):
    """The user holds as many WebDAV locks as allowed."""

    code = "too_many_locks"


class Locked(SelfdriveError):
    """A WebDAV lock covers the resource and its token was not submitted."""

    code = "locked"


class PreconditionFailed(SelfdriveError):
    """A condition the request set (If, If-Match, If-None-Match, Overwrite: F)
    does not hold."""

    code = "precondition_failed"


class BadDestination(SelfdriveError):
    """A WebDAV Destination on another server, or outside /dav/ (RFC 4918 9.8.5)."""

    code = "bad_destination"


class MissingBlocks(SelfdriveError):
    code = "missing_blocks"


class BlockRestoring(SelfdriveError):
    """Content in the cold tier under a storage class that must be restored
    before it can be read (GLACIER, DEEP_ARCHIVE): the restore was requested;
    try again at retry_at (docs/backup.md, "Cold tier").  Not a failure: 202."""

    code = "restoring"


class PayloadTooLarge(SelfdriveError):
    code = "payload_too_large"


class QuotaExceeded(SelfdriveError):
    code = "quota_exceeded"


class StorageError(SelfdriveError):
    code = "storage_error"


class CorruptBlock(StorageError):
    code = "corrupt_block"


class DiskFull(StorageError):
    """The server's disk is down to its reserve: new content is refused."""

    code = "disk_full"


class SchemaTooNew(StorageError):
    """The database was upgraded by a newer selfdrive than this one."""

    code = "schema_too_new"


class ObjectArchived(StorageError):
    """A bucket refused to read an object of an archive storage class that is
    not restored (S3's InvalidObjectState)."""

    code = "object_archived"


class BucketUnavailable(StorageError):
    """Every upload of a backup batch failed: the bucket is down or refuses us."""

    code = "bucket_unavailable"


class BackupNotConfigured(SelfdriveError):
    """A backup command, with no bucket configured for it."""

    code = "backup_not_configured"


class RestoreFailed(SelfdriveError):
    """A restore from the bucket cannot go on (the target dir is not new, blocks
    are missing from every bucket)."""

    code = "restore_failed"
