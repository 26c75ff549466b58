-- 0001: users, devices, the file tree, revisions, blocks and the change journal.
-- Every table is STRICT; foreign keys are on (PRAGMA foreign_keys in db.py).
-- Times are integer milliseconds since the Unix epoch (UTC), from the clock.

-- A person who signs in. quota_bytes is the limit of used_bytes, which counts
-- the size of every live file's current revision (kept in the same
-- transaction as the change that moves it).
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    is_admin      INTEGER NOT NULL DEFAULT 0 CHECK (is_admin IN (0, 1)),
    quota_bytes   INTEGER NOT NULL CHECK (quota_bytes >= 0),
    used_bytes    INTEGER NOT NULL DEFAULT 0 CHECK (used_bytes >= 0),
    root_id       INTEGER REFERENCES nodes (id) DEFERRABLE INITIALLY DEFERRED,
    created_at    INTEGER NOT NULL
) STRICT;

-- A signed-in device (sync client, script, phone). Only the SHA-256 of the
-- bearer token is stored; revoking a device deletes its row.
CREATE TABLE devices (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    token_hash   BLOB    NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL
) STRICT;
CREATE INDEX devices_by_user ON devices (user_id);

-- The file tree: one row per file or folder, linked to its parent. Each user
-- has one root folder (parent_id NULL, name ''). Names are unique among the
-- live children of a folder; trashed_at is for the trash (later migrations).
CREATE TABLE nodes (
    id          INTEGER PRIMARY KEY,
    owner_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    parent_id   INTEGER REFERENCES nodes (id),
    name        TEXT    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('file', 'folder')),
    current_rev INTEGER,          -- files: the rev number of the newest revision
    created_at  INTEGER NOT NULL,
    modified_at INTEGER NOT NULL,
    trashed_at  INTEGER
) STRICT;
CREATE UNIQUE INDEX nodes_live_name ON nodes (parent_id, name) WHERE trashed_at IS NULL;
CREATE INDEX nodes_by_owner ON nodes (owner_id);

-- One immutable version of a file's content. rev counts 1, 2, 3... per file.
-- content_hash is the BLAKE3 of the whole content (the ETag).
CREATE TABLE revisions (
    id           INTEGER PRIMARY KEY,
    node_id      INTEGER NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    rev          INTEGER NOT NULL CHECK (rev >= 1),
    size         INTEGER NOT NULL CHECK (size >= 0),
    content_hash BLOB    NOT NULL,
    mtime        INTEGER NOT NULL,   -- the client's modification time (ms)
    created_at   INTEGER NOT NULL,   -- when the server committed it (ms)
    author_id    INTEGER REFERENCES users (id) ON DELETE SET NULL,
    device_id    INTEGER REFERENCES devices (id) ON DELETE SET NULL,
    device_name  TEXT,
    pinned       INTEGER NOT NULL DEFAULT 0 CHECK (pinned IN (0, 1)),
    UNIQUE (node_id, rev)
) STRICT;

-- Every stored block, once, whoever holds it. size is the plaintext size,
-- stored_size what the block file takes (header, compression, tag).
CREATE TABLE blocks (
    id          BLOB    PRIMARY KEY CHECK (length(id) = 32),
    size        INTEGER NOT NULL CHECK (size >= 0),
    stored_size INTEGER NOT NULL CHECK (stored_size >= 0),
    created_at  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- The ordered blocks of a revision. offset is where the block starts in the
-- file, for Range requests.
CREATE TABLE revision_blocks (
    revision_id INTEGER NOT NULL REFERENCES revisions (id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    block_id    BLOB    NOT NULL REFERENCES blocks (id),
    offset      INTEGER NOT NULL,
    PRIMARY KEY (revision_id, seq)
) STRICT, WITHOUT ROWID;
CREATE INDEX revision_blocks_by_block ON revision_blocks (block_id);

-- Blocks a user has sent with PUT /blocks/{id} and not yet committed: sending
-- the content proves the user has it, so /blocks/missing and /files/commit
-- may count it as theirs. Rows expire (the garbage collector honours them).
CREATE TABLE uploaded_blocks (
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    block_id    BLOB    NOT NULL REFERENCES blocks (id),
    uploaded_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, block_id)
) STRICT, WITHOUT ROWID;

-- The change journal: one row per mutation, written in the same transaction
-- as the mutation. seq orders all changes; sync clients and notifications
-- read it after a cursor.
CREATE TABLE changes (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    node_id   INTEGER NOT NULL,
    op        TEXT    NOT NULL CHECK (op IN ('add', 'modify', 'delete', 'move', 'mkdir')),
    path      TEXT    NOT NULL,
    old_path  TEXT,
    kind      TEXT    NOT NULL CHECK (kind IN ('file', 'folder')),
    rev       INTEGER,
    device_id INTEGER,
    at        INTEGER NOT NULL
) STRICT;
CREATE INDEX changes_by_user ON changes (user_id, seq);
