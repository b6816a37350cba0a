-- Sessions remember the credential epoch they were created under.
--
-- `users.token_version` is the account's credential epoch: a password change and "sign out
-- everywhere" bump it. A session is valid only while its `token_version` equals the
-- account's, so a sign-in that verified the old password just before a change, and inserts
-- its session just after, is refused on first use (ASVS 7.4.3). Existing sessions join
-- their account's current epoch.
ALTER TABLE sessions ADD COLUMN token_version BIGINT NOT NULL DEFAULT 0;
UPDATE sessions SET token_version = users.token_version FROM users WHERE users.id = sessions.user_id;
