-- 0014: disabled accounts (the admin page and API, docs/api.md "Administration").
--
-- disabled_at is when an administrator disabled the user, NULL while the
-- account is in use. A disabled user cannot sign in (password, web session,
-- device token, WebDAV): disabling deletes their device tokens and web
-- sessions in the same transaction, and every sign-in checks this column, so
-- access ends at once. Their files stay; re-enabling (disabled_at back to
-- NULL) lets them sign in again with their password.
ALTER TABLE users ADD COLUMN disabled_at INTEGER CHECK (disabled_at IS NULL OR disabled_at >= 0);
