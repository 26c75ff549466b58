-- 0002: the trash, garbage-collection bookkeeping, unfinished uploads, broken revisions.

-- Who moved a node to the trash, and from where. A *trash entry* is a node
-- with trashed_at set whose parent is not trashed; its children stay linked
-- under it and come back with it.
ALTER TABLE nodes ADD COLUMN trashed_by INTEGER REFERENCES users (id) ON DELETE SET NULL;
ALTER TABLE nodes ADD COLUMN trashed_path TEXT;
CREATE INDEX nodes_trashed ON nodes (owner_id, trashed_at) WHERE trashed_at IS NOT NULL;

-- fsck --repair marks a revision whose blocks are missing or corrupt; it is
-- never deleted silently.
ALTER TABLE revisions ADD COLUMN broken INTEGER NOT NULL DEFAULT 0 CHECK (broken IN (0, 1));

-- When the garbage collector first saw a block with no reference (ms), or
-- NULL. A block is deleted only once it has stayed unreferenced for the
-- grace period (docs/storage.md, "Garbage collection").
ALTER TABLE blocks ADD COLUMN unreferenced_since INTEGER;

-- An upload in progress (a streamed PUT, later a resumable upload). Its
-- blocks are pinned in upload_blocks as soon as they are durable, so the
-- garbage collector never takes a block that an upload is about to commit,
-- however long the upload takes. Rows left by a crash expire.
CREATE TABLE uploads (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    path       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX uploads_by_expiry ON uploads (expires_at);

CREATE TABLE upload_blocks (
    upload_id INTEGER NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
    block_id  BLOB    NOT NULL,
    PRIMARY KEY (upload_id, block_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX upload_blocks_by_block ON upload_blocks (block_id);

CREATE INDEX uploaded_blocks_by_block ON uploaded_blocks (block_id);
CREATE INDEX revisions_by_created ON revisions (node_id, created_at);
