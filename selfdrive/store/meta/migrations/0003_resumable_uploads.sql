-- 0003: resumable (tus) uploads.
--
-- A resumable upload is an `uploads` row (which pins its blocks through
-- upload_blocks, as for a streamed PUT) plus the row below.  Its content so
-- far is the blocks in upload_parts, in order, then the *staged tail*: the
-- bytes after the last block boundary, kept encrypted in
-- <data>/staging/<token>.<staged_gen> (docs/storage.md, "Resumable uploads").
--
-- The durable offset is the end of the parts, or the end of the staged tail
-- when that reaches further: max(parts_end, staged_at + staged_len).
CREATE TABLE resumable_uploads (
    upload_id   INTEGER PRIMARY KEY REFERENCES uploads (id) ON DELETE CASCADE,
    -- the id in the upload's URL: random, unguessable
    token       TEXT    NOT NULL UNIQUE,
    device_id   INTEGER,
    length      INTEGER NOT NULL CHECK (length >= 0),
    base_rev    INTEGER,
    mtime       INTEGER,
    -- the Upload-Metadata header as the client sent it, echoed by HEAD
    metadata    TEXT    NOT NULL DEFAULT '',
    parts_end   INTEGER NOT NULL DEFAULT 0,
    staged_at   INTEGER NOT NULL DEFAULT 0,
    staged_len  INTEGER NOT NULL DEFAULT 0,
    staged_gen  INTEGER NOT NULL DEFAULT 0,
    -- set when the last byte arrived and the revision was committed
    done_path   TEXT,
    done_rev    INTEGER
) STRICT;

CREATE TABLE upload_parts (
    upload_id INTEGER NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
    seq       INTEGER NOT NULL,
    block_id  BLOB    NOT NULL,
    size      INTEGER NOT NULL,
    PRIMARY KEY (upload_id, seq)
) STRICT, WITHOUT ROWID;

CREATE INDEX uploads_by_user ON uploads (user_id);
