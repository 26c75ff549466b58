-- 0009: what WebDAV needs: dead properties and client side files.

-- Dead properties, the ones clients set with PROPPATCH (Finder's
-- and Windows' timestamps and attributes, Office's metadata...).
--
-- They belong to the node, so a move or rename keeps them; a copy copies
-- them; a node purged from the trash takes them with it. `value` is the
-- property element as the client sent it, re-serialized (UTF-8 XML with its
-- own namespace declarations), so it comes back as it went in. The service
-- layer keeps each node within its limits (services/props.py).
CREATE TABLE dead_props (
    node_id  INTEGER NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    ns       TEXT    NOT NULL,
    name     TEXT    NOT NULL,
    value    BLOB    NOT NULL,
    PRIMARY KEY (node_id, ns, name)
) STRICT, WITHOUT ROWID;

-- Side files that desktop clients write next to real ones (macOS `._*` and
-- `.DS_Store`, Office `~$*` owner files, Windows `desktop.ini` and
-- `Thumbs.db`; the names are configurable, [webdav] junk). They are kept so
-- that saving works, but out of the tree: no revisions, no change feed, no
-- notifications, no other device's sync. One row per (folder, name), the
-- content sealed with AES-GCM under a key derived for this purpose
-- (services/junk.py); a folder purged from the trash takes its side files.
CREATE TABLE dav_junk (
    parent_id    INTEGER NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    owner_id     INTEGER NOT NULL,
    size         INTEGER NOT NULL,
    sealed       BLOB    NOT NULL,
    modified_at  INTEGER NOT NULL,
    PRIMARY KEY (parent_id, name)
) STRICT, WITHOUT ROWID;

CREATE INDEX dav_junk_owner ON dav_junk (owner_id);
