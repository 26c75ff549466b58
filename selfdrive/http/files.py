"""Handlers of /files: upload, download, listing, revisions and tree operations."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response

from selfdrive.core import paths
from selfdrive.core.errors import BadRequest
from selfdrive.http import download, tus, zipstream
from selfdrive.http.endpoint import Call, decode_body
from selfdrive.http.multipart import MultipartReader, boundary_of
from selfdrive.http.schemas import (
    ContentQuery,
    DeleteRequest,
    EntryOut,
    FolderListing,
    FolderSizeOut,
    FromTo,
    ListQuery,
    MoveRequest,
    PathBody,
    PathQuery,
    PinRequest,
    RestoreRequest,
    ResumableRequest,
    RevisionList,
    RevisionOut,
    RevisionsQuery,
    SearchQuery,
    TrashEntryOut,
    TrashList,
    TrashPurged,
    TrashPurgeRequest,
    TrashRestoreRequest,
    UploadQuery,
    UploadResult,
    UploadTypeQuery,
    ZipQuery,
)
from selfdrive.services.zips import MAX_NAMES as MAX_ZIP_NAMES


def _content_length(request: Request) -> int | None:
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    if not raw.isdigit():
        raise BadRequest("Content-Length must be a number")
    return int(raw)


async def put_content(call: Call[UploadQuery, None]) -> EntryOut:
    q = call.query
    entry = await call.runtime.files.upload(
        call.who, q.path, call.request.stream(), base_rev=q.base_rev, mtime=q.mtime,
        content_length=_content_length(call.request), executable=q.executable,
    )
    return EntryOut.of(entry)


async def post_upload(call: Call[UploadTypeQuery, None]) -> UploadResult | Response:
    """media and multipart answer the entries stored (one for media); resumable
    answers 201 with the Location of a tus upload to PATCH (selfdrive/http/tus.py)."""
    q = call.query
    if q.uploadType == "resumable":
        body = await decode_body(call.request, ResumableRequest, call.runtime)
        return await tus.start_resumable(Call(call.request, call.runtime, call.who, None, body))
    if q.path is None:
        raise BadRequest(f"uploadType={q.uploadType} needs the path parameter")
    if q.uploadType == "media":
        entry = await call.runtime.files.upload(
            call.who, q.path, call.request.stream(), base_rev=q.base_rev, mtime=q.mtime,
            content_length=_content_length(call.request), executable=q.executable,
        )
        return UploadResult(entries=[EntryOut.of(entry)])
    return await _multipart(call, q.path)


async def _multipart(call: Call[UploadTypeQuery, None], path: str) -> UploadResult:
    """Every file part of a form post, stored in the folder named by ``path``."""
    folder = paths.normalize_path(path)
    boundary = boundary_of(call.request.headers.get("content-type", ""))
    reader = MultipartReader(call.request.stream(), boundary)
    stored: list[EntryOut] = []
    async for part in reader.parts():
        if part.filename is None:
            continue  # a plain form field
        # Browsers may send a relative path for folder uploads ("a/b.txt").
        rel = paths.split_path("/" + part.filename.replace("\\", "/").lstrip("/"))
        target = paths.normalize_path(folder.rstrip("/") + "/" + "/".join(rel))
        body: AsyncIterator[bytes] = part.data
        entry = await call.runtime.files.upload(call.who, target, body, mtime=call.query.mtime)
        stored.append(EntryOut.of(entry))
    if not stored:
        raise BadRequest("the form holds no file")
    return UploadResult(entries=stored)


async def get_content(call: Call[ContentQuery, None]) -> Response:
    opened = await call.runtime.files.open(call.who, call.query.path, call.query.rev)
    return download.serve(call.request, call.runtime.files, opened, attachment=False)


async def get_download(call: Call[ContentQuery, None]) -> Response:
    opened = await call.runtime.files.open(call.who, call.query.path, call.query.rev)
    return download.serve(call.request, call.runtime.files, opened, attachment=True)


async def get_metadata(call: Call[PathQuery, None]) -> EntryOut:
    return EntryOut.of(await call.runtime.files.stat(call.who, call.query.path))


async def get_folder_size(call: Call[PathQuery, None]) -> FolderSizeOut:
    found = await call.runtime.sizes.of(call.who, call.query.path)
    return FolderSizeOut(path=found.folder.path, size=found.size, files=found.files,
                         folders=found.folders)


async def get_list(call: Call[ListQuery, None]) -> FolderListing:
    q = call.query
    if q.recursive:
        return await _list_recursive(call)
    folder, entries = await call.runtime.files.list_folder(
        call.who, q.path, limit=q.limit + 1, after=q.after
    )
    more = len(entries) > q.limit
    entries = entries[: q.limit]
    return FolderListing(
        folder=EntryOut.of(folder), entries=[EntryOut.of(e) for e in entries],
        next_after=entries[-1].node.name if more else None,
    )


async def _list_recursive(call: Call[ListQuery, None]) -> FolderListing:
    """Every entry under the folder, in path-segment order; pages end at a path."""
    q = call.query
    folder, entries = await call.runtime.listing.list_tree(
        call.who, q.path, limit=q.limit + 1, after=q.after
    )
    more = len(entries) > q.limit
    entries = entries[: q.limit]
    return FolderListing(
        folder=EntryOut.of(folder), entries=[EntryOut.of(e) for e in entries],
        next_after=entries[-1].path if more else None,
    )


async def get_search(call: Call[SearchQuery, None]) -> FolderListing:
    """Entries below a folder whose name holds q, by path, paged like a
    recursive listing (services/search.py)."""
    q = call.query
    folder, entries, more = await call.runtime.search.search(
        call.who, q.path, q.q, limit=q.limit, after=q.after
    )
    return FolderListing(
        folder=EntryOut.of(folder), entries=[EntryOut.of(e) for e in entries],
        next_after=entries[-1].path if more and entries else None,
    )


async def get_zip(call: Call[ZipQuery, None]) -> Response:
    """A folder, or some of its entries, as a zip made while it streams
    (services/zips.py, http/zipstream.py)."""
    q = call.query
    names = None if q.names is None else _names(q.names)
    folder, items = await call.runtime.zips.items(call.who, q.path, names)
    headers = {
        "Content-Disposition": download.disposition(
            "attachment", (folder.node.name or "selfdrive") + ".zip"),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": download.CSP,
        "Cache-Control": "private, no-store",
    }
    return download.VerifiedStream(
        zipstream.zip_stream(items, call.runtime.files.read), headers=headers,
        media_type="application/zip", what=f"the zip of {folder.path} (user {call.who.user_id})",
        length=sum(i.opened.revision.size for i in items if i.opened is not None),
    )


def _names(joined: str) -> list[str]:
    """The entry names of ?names=a.jpg/Trip, each checked as a path segment."""
    names = joined.split("/")
    if len(names) > MAX_ZIP_NAMES:
        raise BadRequest(f"a zip may name at most {MAX_ZIP_NAMES} entries")
    if "" in names:
        raise BadRequest("names holds an empty name (a '/' too many?)")
    return [paths.split_path("/" + name)[0] for name in names]


async def get_revisions(call: Call[RevisionsQuery, None]) -> RevisionList:
    revs = await call.runtime.files.list_revisions(call.who, call.query.path, call.query.limit)
    return RevisionList(path=paths.normalize_path(call.query.path),
                        revisions=[RevisionOut.of(r) for r in revs])


async def post_mkdir(call: Call[None, PathBody]) -> EntryOut:
    return EntryOut.of(await call.runtime.files.mkdir(call.who, call.body.path))


async def post_move(call: Call[None, MoveRequest]) -> EntryOut:
    b = call.body
    return EntryOut.of(await call.runtime.files.move(call.who, b.from_path, b.to_path,
                                                     base_rev=b.base_rev))


async def post_copy(call: Call[None, FromTo]) -> EntryOut:
    return EntryOut.of(await call.runtime.files.copy(call.who, call.body.from_path,
                                                     call.body.to_path))


async def post_delete(call: Call[None, DeleteRequest]) -> EntryOut:
    b = call.body
    cursor = None if b.base_cursor is None else int(b.base_cursor)
    return EntryOut.of(await call.runtime.files.delete(call.who, b.path, base_rev=b.base_rev,
                                                       base_cursor=cursor))


async def post_restore(call: Call[None, RestoreRequest]) -> EntryOut:
    return EntryOut.of(await call.runtime.files.restore_revision(
        call.who, call.body.path, call.body.rev))


async def post_pin(call: Call[None, PinRequest]) -> RevisionOut:
    b = call.body
    return RevisionOut.of(await call.runtime.files.pin_revision(call.who, b.path, b.rev, b.pinned))


async def get_trash(call: Call[None, None]) -> TrashList:
    keep_ms = call.runtime.config.maintenance.trash_retention_s * 1000
    entries = await call.runtime.trash.list(call.who)
    return TrashList(entries=[TrashEntryOut.of(e, keep_ms) for e in entries])


async def post_trash_restore(call: Call[None, TrashRestoreRequest]) -> EntryOut:
    return EntryOut.of(await call.runtime.trash.restore(call.who, call.body.id))


async def post_trash_purge(call: Call[None, TrashPurgeRequest]) -> TrashPurged:
    b = call.body
    if b.all == (b.ids is not None):
        raise BadRequest("give either ids (the entries to purge) or all: true")
    files, size = await call.runtime.trash.purge(call.who, None if b.all else b.ids)
    return TrashPurged(files=files, bytes=size)
