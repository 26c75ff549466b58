-- 0006: notifications. A user is told when something is shared with them,
-- and when someone else adds, edits, deletes or restores something they see
-- through a share (or something of theirs that they share). Bursts coalesce:
-- the same kind of event on the same node by the same person within a minute
-- of the last one adds to `count` instead of making a new row.
CREATE TABLE notifications (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       TEXT    NOT NULL
               CHECK (kind IN ('shared', 'added', 'edited', 'deleted', 'restored', 'moved')),
    actor_id   INTEGER REFERENCES users (id) ON DELETE SET NULL,
    node_id    INTEGER NOT NULL,
    -- the path as the notified user sees it
    path       TEXT    NOT NULL,
    count      INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    read_at    INTEGER
) STRICT;
CREATE INDEX notifications_by_user ON notifications (user_id, read_at, updated_at);
CREATE INDEX notifications_coalesce ON notifications (user_id, node_id, kind) WHERE read_at IS NULL;
