-- Sessions get a public id and a remember-me flag.
--
-- The id is what the session list shows and what "revoke this session" sends back: the token
-- hash never leaves the server. SQLite cannot add a UNIQUE NOT NULL column in place, so the
-- table is rebuilt; existing sessions keep working and get a random id.
CREATE TABLE sessions_new (
    token_hash    BLOB    PRIMARY KEY,                                   -- SHA-256 of the cookie token
    id            TEXT    NOT NULL UNIQUE,                               -- public handle (128 random bits, hex)
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at    INTEGER NOT NULL,                                      -- sign-in time
    last_seen_at  INTEGER NOT NULL,                                      -- idle timeout counts from here
    expires_at    INTEGER NOT NULL,                                      -- absolute lifetime: never extended
    remember      INTEGER NOT NULL DEFAULT 0,                            -- 1: no idle timeout, cookie outlives the browser
    ip            TEXT,                                                  -- client address at sign-in
    user_agent    TEXT                                                   -- truncated User-Agent at sign-in
);
INSERT INTO sessions_new (token_hash, id, user_id, created_at, last_seen_at, expires_at, remember, ip, user_agent)
    SELECT token_hash, lower(hex(randomblob(16))), user_id, created_at, last_seen_at, expires_at, 0, ip, user_agent
    FROM sessions;
DROP TABLE sessions;
ALTER TABLE sessions_new RENAME TO sessions;
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- The security activity log: append-only, one hash chain per account.
--
-- Each row's `hash` is SHA-256 over its own fields and the previous row's hash
-- (`server::audit::chain_hash`), so editing, reordering or removing a row in the middle of a
-- chain is detected by `gatehouse audit verify`. No foreign key to users: the record of an
-- account's deletion outlives the account.
CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL,
    seq         INTEGER NOT NULL,          -- 1, 2, 3… within the user's chain
    created_at  INTEGER NOT NULL,          -- seconds since the Unix epoch (UTC)
    kind        TEXT    NOT NULL,          -- e.g. login.succeeded, password.changed
    ip          TEXT,
    device      TEXT,                      -- a summary such as "Firefox on Linux", never the raw User-Agent
    request_id  TEXT,
    detail      TEXT,                      -- e.g. the API key's name
    prev_hash   BLOB    NOT NULL,          -- the previous row's hash (32 zero bytes for the first)
    hash        BLOB    NOT NULL,
    UNIQUE (user_id, seq)                  -- two writers cannot both extend a chain from one row
);

-- Rows are never edited. (Whole chains are deleted only when their account is erased; see
-- `Store::delete_account`.)
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
