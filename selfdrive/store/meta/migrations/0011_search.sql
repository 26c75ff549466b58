-- 0011: search by name (GET /files/search, services/search.py).
--
-- name_fold is the node's name as search compares it: case folded, accents
-- removed, NFC (core/names.py, fold). Every query that writes a name writes
-- its fold too (store/meta/tree.py, trash.py, users.py). It is NULL only on
-- rows made before this migration, until the server folds them at start-up,
-- before it serves (SQL cannot fold Unicode).
ALTER TABLE nodes ADD COLUMN name_fold TEXT;

-- The rows still to fold, found at start-up without reading the table.
CREATE INDEX nodes_unfolded ON nodes (id) WHERE name_fold IS NULL;

-- All a search reads: the live children of a folder, folders apart (kind),
-- with their names and folds. A search walks the folders below the searched
-- one through it, then each folder's children, and never reads the table.
CREATE INDEX nodes_search ON nodes (parent_id, kind, name, name_fold)
    WHERE trashed_at IS NULL;
