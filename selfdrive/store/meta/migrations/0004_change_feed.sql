-- 0004: the change feed.
--
-- A journal row is written for every user who can see the change, with the
-- path as that user sees it, so a user's feed is their rows in seq order.
-- actor_id is who made the change (an editor of a shared folder, say).
ALTER TABLE changes ADD COLUMN actor_id INTEGER;
CREATE INDEX changes_by_at ON changes (at);

-- Small server-wide values, such as the journal's floor: the highest seq
-- ever pruned (a cursor below it has lost changes and must relist).
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
