-- Email verification, password reset and change of address.
--
-- `users.email_verified_at`: when the owner of the address proved they read its mail (a
-- verification link, a change-of-address link or a password reset). Existing accounts start
-- unverified: nothing ever proved their addresses.
ALTER TABLE users ADD COLUMN email_verified_at INTEGER;

-- The links mailed to people. Only the SHA-256 of a link's token is stored, so a copy of the
-- database cannot be used to follow one. A link is single-use (taking it deletes the row) and
-- an account has at most one link per purpose (issuing one replaces the last).
--
-- purpose: 'verify_email' | 'reset_password' | 'change_email'
-- email: the address the link was sent to (for 'change_email', the new address, which becomes
--   the sign-in address only when the link is followed), as stored and in canonical form.
-- token_version: the account's credential epoch when the link was made; a reset link whose
--   epoch is no longer the account's (the password changed by any route since) is refused.
CREATE TABLE email_links (
    token_hash      BLOB    PRIMARY KEY NOT NULL,
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose         TEXT    NOT NULL CHECK (purpose IN ('verify_email', 'reset_password', 'change_email')),
    email           TEXT    NOT NULL,
    email_canonical TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    token_version   INTEGER NOT NULL,
    UNIQUE (user_id, purpose)
);
CREATE INDEX email_links_expires_at ON email_links (expires_at);
