-- 0008: what the desktop sync client needs from the schema: the executable bit.
--
-- (Stable node ids need no column: nodes.id is kept by a move or rename and
-- the journal already records it in changes.node_id.)

-- Whether the file of this revision is executable (the x bit on Unix). Each
-- revision records its own bit, as its upload said (default: not executable);
-- a restored or copied revision keeps the bit of the revision it came from.
ALTER TABLE revisions ADD COLUMN executable INTEGER NOT NULL DEFAULT 0
    CHECK (executable IN (0, 1));

-- A resumable upload's executable bit, given at its creation and recorded in
-- the revision it makes when its last byte arrives.
ALTER TABLE resumable_uploads ADD COLUMN executable INTEGER NOT NULL DEFAULT 0
    CHECK (executable IN (0, 1));
