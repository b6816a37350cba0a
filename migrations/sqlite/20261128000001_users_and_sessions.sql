-- Accounts. Timestamps are seconds since the Unix epoch (UTC) in every backend, so the Rust
-- code compares plain integers and never depends on a database's date functions.
CREATE TABLE users (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,  -- internal only, never shown to clients
    username            TEXT    NOT NULL,                   -- as the person typed it (display)
    username_canonical  TEXT    NOT NULL UNIQUE,            -- lower-cased: uniqueness and sign-in lookups
    email               TEXT    NOT NULL,                   -- trimmed, domain lower-cased
    email_canonical     TEXT    NOT NULL UNIQUE,            -- fully lower-cased: uniqueness and lookups
    password_hash       TEXT    NOT NULL,                   -- PHC string (argon2id $m,t,p$salt$hash)
    created_at          INTEGER NOT NULL
);

-- Server-side sessions. The cookie holds a random 256-bit token; only its SHA-256 is stored,
-- so a leaked database (or backup) cannot be replayed as live sessions.
CREATE TABLE sessions (
    token_hash    BLOB    PRIMARY KEY,                                   -- SHA-256 of the cookie token
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at    INTEGER NOT NULL,                                      -- sign-in time
    last_seen_at  INTEGER NOT NULL,                                      -- idle timeout counts from here
    expires_at    INTEGER NOT NULL,                                      -- absolute lifetime: never extended
    ip            TEXT,                                                  -- client address at sign-in
    user_agent    TEXT                                                   -- truncated User-Agent at sign-in
);

-- Listing a user's sessions, and ending them all at once.
CREATE INDEX sessions_user_id ON sessions (user_id);
-- The periodic purge of expired sessions.
CREATE INDEX sessions_expires_at ON sessions (expires_at);
