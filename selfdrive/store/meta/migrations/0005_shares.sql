-- 0005: sharing a file or folder with another user.
--
-- The recipient sees the shared node at "/Shared with me/<mount_name>" (a
-- virtual folder; docs/sharing.md). A viewer reads; an editor also writes.
CREATE TABLE shares (
    id           INTEGER PRIMARY KEY,
    node_id      INTEGER NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    owner_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    recipient_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role         TEXT    NOT NULL CHECK (role IN ('viewer', 'editor')),
    mount_name   TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    UNIQUE (node_id, recipient_id),
    UNIQUE (recipient_id, mount_name)
) STRICT;
CREATE INDEX shares_by_node ON shares (node_id);
CREATE INDEX shares_by_owner ON shares (owner_id);
