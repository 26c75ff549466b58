-- 0017: a file drop's uploads are the link's, not the owner's.
--
-- link_id names the link whose file drop made a resumable upload (NULL: the
-- user's own, from a device or the web UI).  The limits on unfinished uploads
-- (count, reserved quota, staged bytes) are kept per pool: the user's own, and
-- each link's, so that a visitor's unfinished uploads never block the owner's
-- (services/uploads.py), and an upload answers only through the link that
-- made it (services/links.py).  No foreign key: a deleted link's unfinished
-- uploads are unreachable and expire like any.  Drop uploads made before this
-- migration have NULL and count as the owner's until they expire.
ALTER TABLE resumable_uploads ADD COLUMN link_id INTEGER;

CREATE INDEX resumable_uploads_by_link ON resumable_uploads (link_id)
    WHERE link_id IS NOT NULL;
