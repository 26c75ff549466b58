-- 0010: web sessions (the browser's sign-in, docs/api.md "Web sessions").
--
-- A browser that signs in gets a session: a random secret in an HttpOnly
-- cookie. It is kept as a row of devices, so the account page lists and
-- revokes sessions and device tokens alike, and uploads name the browser as
-- their device. Only the SHA-256 of the secret is stored, as for device
-- tokens; a session token is never accepted as a bearer token, nor a device
-- token as a cookie. A session ends 30 days after last_seen_at or 90 days
-- after created_at (services/sessions.py); an ended one is deleted.
ALTER TABLE devices ADD COLUMN kind TEXT NOT NULL DEFAULT 'device'
    CHECK (kind IN ('device', 'web'));
