-- 0012: backup to an S3 bucket (services/backup.py, docs/backup.md).

-- The replication queue: every block whose row exists and that is not yet
-- known to be in the backup bucket. A trigger fills it in the same
-- transaction that records the block, whichever query does that, so a block
-- is queued exactly when it becomes part of the store and a restart loses
-- nothing; another removes the entry when the garbage collector removes the
-- block. The backup loop deletes an entry once the bucket has the block. It
-- fills whether or not a bucket is configured, so the first backup copies
-- every block. queued_at is the block row's created_at (ms); attempts and
-- last_error tell about a block that keeps failing.
CREATE TABLE backup_queue (
    block_id    BLOB    PRIMARY KEY CHECK (length(block_id) = 32),
    stored_size INTEGER NOT NULL CHECK (stored_size >= 0),
    queued_at   INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT
) STRICT, WITHOUT ROWID;
CREATE INDEX backup_queue_by_age ON backup_queue (queued_at);

CREATE TRIGGER backup_queue_new_block AFTER INSERT ON blocks
BEGIN
    INSERT INTO backup_queue (block_id, stored_size, queued_at)
    VALUES (NEW.id, NEW.stored_size, NEW.created_at)
    ON CONFLICT (block_id) DO NOTHING;
END;

CREATE TRIGGER backup_queue_block_gone AFTER DELETE ON blocks
BEGIN
    DELETE FROM backup_queue WHERE block_id = OLD.id;
END;

-- The blocks stored before this migration are queued too.
INSERT INTO backup_queue (block_id, stored_size, queued_at)
SELECT id, stored_size, created_at FROM blocks;

-- Where the backup stands: one row (id 1). snapshot_* describe the newest
-- snapshot this server uploaded; snapshot_seq is the change journal's seq it
-- covers (a new one is due after [backup] snapshot_after_changes more);
-- last_error is the bucket's last failure, cleared by the next success.
CREATE TABLE backup_state (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    snapshot_id      TEXT,
    snapshot_at      INTEGER,
    snapshot_seq     INTEGER NOT NULL DEFAULT 0,
    snapshot_bytes   INTEGER,
    last_error       TEXT,
    last_error_at    INTEGER,
    last_success_at  INTEGER
) STRICT;
INSERT INTO backup_state (id) VALUES (1);
