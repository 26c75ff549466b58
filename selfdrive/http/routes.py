"""Every route of the API, one line each (the OpenAPI document comes from here)."""

from __future__ import annotations

from selfdrive.http import (
    account,
    admin,
    blocks,
    changes,
    files,
    links,
    notifications,
    session,
    shares,
    thumbnails,
    tus,
)
from selfdrive.http import schemas as s
from selfdrive.http.endpoint import Endpoint as E

API_PREFIX = "/api/v1"
OCTETS = "application/octet-stream"

API: list[E] = [
    E("POST", "/auth/tokens", account.post_token, "Create a device token", body=s.TokenRequest, response=s.TokenCreated, status=201, public=True),
    E("GET", "/auth/tokens", account.get_tokens, "List my devices and web sessions", response=s.DeviceList),
    E("DELETE", "/auth/tokens/{device_id:int}", account.delete_token, "Revoke a device or web session", status=204),
    E("POST", "/auth/login", session.post_login, "Sign a browser in (sets the session cookie)", body=s.LoginRequest, response=s.SessionOut, public=True),
    E("GET", "/auth/session", session.get_session, "The browser's session: user and CSRF token", response=s.SessionOut),
    E("POST", "/auth/logout", session.post_logout, "Sign this browser out", status=204),
    E("POST", "/auth/logout_all", session.post_logout_all, "Sign out every browser (and with devices, every device)", body=s.LogoutAllRequest, status=204),
    E("GET", "/me", account.get_me, "Who am I, and my quota", response=s.Me),
    E("PUT", "/files/content", files.put_content, "Upload a file (streamed body)", query=s.UploadQuery, raw_body=OCTETS, response=s.EntryOut, status=201),
    E("POST", "/files/upload", files.post_upload, "Upload: media or multipart form", query=s.UploadTypeQuery, raw_body="multipart/form-data", response=s.UploadResult, status=201),
    E("GET", "/files/content", files.get_content, "Download a file (Range, ETag)", query=s.ContentQuery, raw_response=OCTETS),
    E("GET", "/files/download", files.get_download, "Download a file as an attachment", query=s.ContentQuery, raw_response=OCTETS),
    E("GET", "/files/metadata", files.get_metadata, "One file or folder", query=s.PathQuery, response=s.EntryOut),
    E("GET", "/files/list", files.get_list, "A folder's entries, by name, paged (recursive: all below, by path)", query=s.ListQuery, response=s.FolderListing),
    E("GET", "/files/search", files.get_search, "Entries below a folder whose name holds q (any case, any accents), by path, paged", query=s.SearchQuery, response=s.FolderListing),
    E("GET", "/files/thumbnail", thumbnails.get_thumbnail, "A picture's thumbnail (WebP), its longest edge at most size px", query=s.ThumbnailQuery, raw_response="image/webp"),
    E("GET", "/files/zip", files.get_zip, "A folder, or the named entries of it, as a streamed zip", query=s.ZipQuery, raw_response="application/zip"),
    E("GET", "/files/list_revisions", files.get_revisions, "A file's revisions, newest first", query=s.RevisionsQuery, response=s.RevisionList),
    E("POST", "/files/mkdir", files.post_mkdir, "Create a folder (and missing parents)", body=s.PathBody, response=s.EntryOut, status=201),
    E("POST", "/files/move", files.post_move, "Move or rename (a file: if at base_rev)", body=s.MoveRequest, response=s.EntryOut),
    E("POST", "/files/copy", files.post_copy, "Copy (shares blocks)", body=s.FromTo, response=s.EntryOut, status=201),
    E("POST", "/files/delete", files.post_delete, "Move to the trash (a file: if at base_rev; if unchanged since base_cursor)", body=s.DeleteRequest, response=s.EntryOut),
    E("POST", "/files/restore", files.post_restore, "Make an old revision the newest", body=s.RestoreRequest, response=s.EntryOut, status=201),
    E("POST", "/files/pin_revision", files.post_pin, "Keep a revision for ever (or not)", body=s.PinRequest, response=s.RevisionOut),
    E("GET", "/trash", files.get_trash, "What is in my trash", response=s.TrashList),
    E("POST", "/trash/restore", files.post_trash_restore, "Put a trash entry back", body=s.TrashRestoreRequest, response=s.EntryOut),
    E("POST", "/trash/purge", files.post_trash_purge, "Delete trash entries for good", body=s.TrashPurgeRequest, response=s.TrashPurged),
    E("GET", "/files/blocklist", blocks.get_blocklist, "A revision's blocks, in order", query=s.ContentQuery, response=s.BlockList),
    E("POST", "/files/commit", blocks.post_commit, "A new revision from uploaded blocks", body=s.CommitRequest, response=s.EntryOut, status=201),
    E("POST", "/blocks/missing", blocks.post_missing, "Which blocks must I send?", body=s.MissingRequest, response=s.MissingResult),
    E("PUT", "/blocks/{block_id}", blocks.put_block, "Send one block (raw, zstd, or zstd against Selfdrive-Base-Block)", raw_body=OCTETS, response=s.BlockOut, status=201),
    E("GET", "/blocks/{block_id}", blocks.get_block, "Fetch one block (zstd if accepted; against ?base= if readable)", query=s.BlockQuery, raw_response=OCTETS),
    E("POST", "/shares", shares.post_share, "Share a file or folder with a user", body=s.ShareRequest, response=s.ShareOut, status=201),
    E("GET", "/shares", shares.get_shares, "What I share, and what is shared with me", response=s.ShareList),
    E("PATCH", "/shares/{share_id:int}", shares.patch_share, "Change a share's role", body=s.RoleRequest, response=s.ShareOut),
    E("DELETE", "/shares/{share_id:int}", shares.delete_share, "Revoke a share (or leave it)", status=204),
    E("POST", "/links", links.post_link, "Make a public link to a file or folder", body=s.LinkRequest, response=s.LinkOut, status=201),
    E("GET", "/links", links.get_links, "The public links I made", response=s.LinkList),
    E("DELETE", "/links/{link_id:int}", links.delete_link, "Revoke a public link", status=204),
    E("GET", "/notifications", notifications.get_notifications, "My notifications, unread first", query=s.NotificationsQuery, response=s.NotificationList),
    E("POST", "/notifications/read", notifications.post_read, "Mark notifications read", body=s.MarkRead, response=s.MarkedRead),
    E("GET", "/changes", changes.get_changes, "What changed after a cursor, in order", query=s.ChangesQuery, response=s.ChangeList),
    E("GET", "/changes/latest", changes.get_latest, "A cursor that stands at now", response=s.CursorOut),
    E("GET", "/changes/wait", changes.get_wait, "Long poll: ring when something changes (the body, padded to 64 bytes, comes at the ring)", query=s.WaitQuery, response=s.WaitResult),
    E("OPTIONS", "/uploads", tus.options, "tus: what this server supports", status=204, public=True),
    E("POST", "/uploads", tus.create, "tus: create a resumable upload (creation, creation-with-upload)", raw_body=tus.OFFSET_OCTETS, status=201),
    E("HEAD", "/uploads/{token}", tus.head, "tus: how many bytes the server holds", status=200),
    E("PATCH", "/uploads/{token}", tus.patch, "tus: append bytes at Upload-Offset", raw_body=tus.OFFSET_OCTETS, status=204),
    E("DELETE", "/uploads/{token}", tus.delete, "tus: cancel an upload (termination)", status=204),
    E("GET", "/uploads/{token}", tus.get, "A resumable upload's state, as JSON", response=s.UploadOut),
    E("POST", "/uploads/{token}", tus.override, "tus: PATCH, DELETE or HEAD via X-HTTP-Method-Override", raw_body=tus.OFFSET_OCTETS),
    E("GET", "/admin/users", admin.get_users, "Every user, with quota and use (admins)", response=s.AdminUserList, admin=True),
    E("POST", "/admin/users", admin.post_user, "Add a user (admins)", body=s.AdminUserCreate, response=s.AdminUserOut, status=201, admin=True),
    E("PATCH", "/admin/users/{user_id:int}", admin.patch_user, "Change a user's quota, admin rights, or disable / re-enable them (admins)", body=s.AdminUserChange, response=s.AdminUserOut, admin=True),
    E("POST", "/admin/users/{user_id:int}/password", admin.post_password, "Give a user a new password (admins)", body=s.PasswordReset, response=s.AdminUserOut, admin=True),
    E("GET", "/admin/status", admin.get_status, "Server status: version, disk, store, background jobs, backup (admins)", response=s.ServerStatusOut, admin=True),
]  # fmt: skip

ROOT: list[E] = [
    E("GET", "/healthz", account.get_health, "Liveness and database check", response=s.Health, public=True),
    E("GET", "/s/{token}", links.get_page, "A public link's page (HTML)", raw_response="text/html", public=True),
    E("POST", "/s/{token}", links.post_page, "A public link's password form (sets a grant cookie)", raw_body="application/x-www-form-urlencoded", raw_response="text/html", status=303, public=True),
    E("GET", "/s/{token}/download", links.get_download, "A public link's file, or its folder as a zip", raw_response=OCTETS, public=True),
    E("POST", "/s/{token}/upload", links.post_upload, "File drop: upload into a public link's folder", raw_body="multipart/form-data", response=s.DropResult, status=201, public=True),
]  # fmt: skip
