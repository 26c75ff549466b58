-- 0016: a file's activity (services/activity.py: who did what to a file or
-- folder, when, from which device), read from the change journal.
--
-- reason keeps what a change meant when its op does not say it: 'restored'
-- (a revision made the newest again, or an item put back from the trash),
-- 'shared' (the recipient's row for the node a new share brought into view),
-- 'unshared' (the recipient's row when a share is revoked or left). NULL:
-- the op says it all. Rows written before this migration have NULL.
ALTER TABLE changes ADD COLUMN reason TEXT
    CHECK (reason IN ('restored', 'shared', 'unshared'));

-- A node's history is one range of this index (the feed's own index is by
-- user, so without it a file's history would read every row of its owner).
CREATE INDEX changes_by_node ON changes (node_id, seq);
