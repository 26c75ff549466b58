-- 0007: public links: a URL that lets anyone who holds it open one file or
-- folder (docs/links.md), or, for a folder with allow_upload, only drop files
-- into it. The link works with the rights of creator_id (the owner of the
-- node or an editor of a share that holds it) and only while the node is live
-- (not in the trash). Revoking a link deletes its row.
CREATE TABLE links (
    id            INTEGER PRIMARY KEY,
    -- the secret in the URL (/s/<token>), at least 128 random bits; kept in
    -- clear so the creator can see the URL again
    token         TEXT    NOT NULL UNIQUE,
    node_id       INTEGER NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    -- whose tree the node is in (its quota takes file-drop uploads)
    owner_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    creator_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Argon2id, as for account passwords; NULL: no password
    password_hash TEXT,
    expires_at    INTEGER,
    allow_upload  INTEGER NOT NULL DEFAULT 0 CHECK (allow_upload IN (0, 1)),
    max_downloads INTEGER CHECK (max_downloads IS NULL OR max_downloads >= 1),
    -- downloads started (each GET of /s/<token>/download)
    downloads     INTEGER NOT NULL DEFAULT 0 CHECK (downloads >= 0),
    created_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX links_by_creator ON links (creator_id);
CREATE INDEX links_by_node ON links (node_id);
