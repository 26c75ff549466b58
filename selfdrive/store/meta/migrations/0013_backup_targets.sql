-- 0013: backup to two buckets, a primary and a replica ([backup.replica]),
-- each with its own progress (services/backup.py, docs/backup.md).

-- The buckets blocks are copied to: 'primary' ([backup]) always, 'replica'
-- ([backup.replica]) while one is configured. location names the bucket the
-- queue below is for (endpoint, bucket, prefix); '' until the first backup
-- loop binds it. When the configured bucket differs from location, every
-- block is queued again for that target (a new bucket has none of them).
-- Deleting a target's row (its table left the config) deletes its queue.
-- snapshot_* is the newest snapshot uploaded to this bucket; last_error is
-- its last failure, cleared by the next success.
CREATE TABLE backup_targets (
    name            TEXT    PRIMARY KEY CHECK (name IN ('primary', 'replica')),
    location        TEXT    NOT NULL DEFAULT '',
    snapshot_id     TEXT,
    snapshot_at     INTEGER,
    snapshot_bytes  INTEGER,
    last_error      TEXT,
    last_error_at   INTEGER,
    last_success_at INTEGER
) STRICT;

-- The primary's row takes over what backup_state said about the one bucket.
-- Its location stays '' so the first loop adopts the configured bucket
-- without copying again what 0012 already copied there.
INSERT INTO backup_targets (name, snapshot_id, snapshot_at, snapshot_bytes, last_error,
                            last_error_at, last_success_at)
SELECT 'primary', snapshot_id, snapshot_at, snapshot_bytes, last_error, last_error_at,
       last_success_at
FROM backup_state;

-- backup_state keeps what is one for both buckets: the newest snapshot taken
-- (uploaded to at least one of them) and the journal seq it covers, which
-- decide when the next one is due.
ALTER TABLE backup_state DROP COLUMN last_error;
ALTER TABLE backup_state DROP COLUMN last_error_at;
ALTER TABLE backup_state DROP COLUMN last_success_at;

-- The queue, now one row per (block, target): a block acknowledged by one
-- bucket and not the other stays queued for the other. The triggers queue a
-- new block for every target there is, in the transaction that records it.
DROP TRIGGER backup_queue_new_block;
DROP TRIGGER backup_queue_block_gone;

CREATE TABLE backup_queue_by_target (
    block_id    BLOB    NOT NULL CHECK (length(block_id) = 32),
    target      TEXT    NOT NULL REFERENCES backup_targets (name) ON DELETE CASCADE,
    stored_size INTEGER NOT NULL CHECK (stored_size >= 0),
    queued_at   INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    PRIMARY KEY (block_id, target)
) STRICT, WITHOUT ROWID;

INSERT INTO backup_queue_by_target (block_id, target, stored_size, queued_at, attempts,
                                    last_error)
SELECT block_id, 'primary', stored_size, queued_at, attempts, last_error FROM backup_queue;

DROP TABLE backup_queue;
ALTER TABLE backup_queue_by_target RENAME TO backup_queue;

-- A pass walks the queue in (queued_at, block_id) order, a block's targets
-- together, so a block is read from the local disk once for both buckets.
CREATE INDEX backup_queue_by_age ON backup_queue (queued_at, block_id);
-- The foreign key's cascade and a target's pending figures.
CREATE INDEX backup_queue_by_target_name ON backup_queue (target, queued_at);

CREATE TRIGGER backup_queue_new_block AFTER INSERT ON blocks
BEGIN
    INSERT INTO backup_queue (block_id, target, stored_size, queued_at)
    SELECT NEW.id, name, NEW.stored_size, NEW.created_at FROM backup_targets
    WHERE true
    ON CONFLICT (block_id, target) DO NOTHING;
END;

CREATE TRIGGER backup_queue_block_gone AFTER DELETE ON blocks
BEGIN
    DELETE FROM backup_queue WHERE block_id = OLD.id;
END;
