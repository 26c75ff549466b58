-- 0015: the cold tier and garbage collection in the backup buckets
-- (services/coldtier.py, services/bucket_gc.py, docs/backup.md).

-- A block whose local file is (or is about to be) removed because its copy
-- in every backup bucket was verified (HEAD: size and SHA-256). state:
--   'moving' the bucket copies are verified; the local file may still be
--            there (a crash between this commit and the delete): the next
--            pass deletes it, or takes the row back to 'local' if a dedup
--            touched the file meanwhile;
--   'cold'   the local file is gone; reads fetch the block from a bucket;
--   'local'  it was brought back (read, or referenced by a current file
--            again); tiered again only cold_after_days after changed_at.
-- storage_class is the class it was moved to ('' the bucket's standard
-- one). restore_requested_at: when an S3 RestoreObject was sent for it (a
-- GLACIER or DEEP_ARCHIVE class), so it is sent once; restored_until: until
-- when the bucket said the restored copy can be read (ms). The row goes with
-- the block's row (garbage collection).
CREATE TABLE cold_blocks (
    block_id             BLOB    PRIMARY KEY REFERENCES blocks (id) ON DELETE CASCADE,
    state                TEXT    NOT NULL CHECK (state IN ('moving', 'cold', 'local')),
    storage_class        TEXT    NOT NULL DEFAULT '',
    changed_at           INTEGER NOT NULL,
    restore_requested_at INTEGER,
    restored_until       INTEGER
) STRICT, WITHOUT ROWID;
CREATE INDEX cold_blocks_by_state ON cold_blocks (state, changed_at);

-- Blocks the local garbage collector deleted (their row went), whose copies
-- in the buckets are to be deleted too, after [backup] bucket_gc_grace_days
-- and only once every snapshot kept in the buckets is younger than
-- noticed_at (so none of them can reference the block). noticed_at is when
-- the bucket GC first saw the row (ms; NULL until then), which is at or
-- after the local delete. Filled by a trigger, in the garbage collector's
-- own transaction, once any bucket was ever bound; a block stored again
-- takes its row out.
CREATE TABLE bucket_garbage (
    block_id    BLOB    PRIMARY KEY CHECK (length(block_id) = 32),
    stored_size INTEGER NOT NULL CHECK (stored_size >= 0),
    noticed_at  INTEGER
) STRICT, WITHOUT ROWID;
CREATE INDEX bucket_garbage_by_age ON bucket_garbage (noticed_at);

CREATE TRIGGER bucket_garbage_block_gone AFTER DELETE ON blocks
WHEN EXISTS (SELECT 1 FROM backup_targets WHERE location != '')
BEGIN
    INSERT INTO bucket_garbage (block_id, stored_size) VALUES (OLD.id, OLD.stored_size)
    ON CONFLICT (block_id) DO UPDATE SET noticed_at = NULL;
END;

CREATE TRIGGER bucket_garbage_block_back AFTER INSERT ON blocks
BEGIN
    DELETE FROM bucket_garbage WHERE block_id = NEW.id;
END;
