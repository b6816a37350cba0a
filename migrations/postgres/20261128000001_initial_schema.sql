-- The PostgreSQL schema: the same tables, constraints and indexes as the three SQLite
-- migrations combined (migrations/sqlite/), written as one file because no PostgreSQL
-- database predates them. A later change gets a migration in each folder.
--
-- Timestamps are seconds since the Unix epoch (UTC) in every backend, so the Rust code
-- compares plain integers and never depends on a database's date functions.

-- Accounts.
CREATE TABLE users (
    id                  BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- internal only, never shown to clients
    username            TEXT    NOT NULL,                  -- as the person typed it (display)
    username_canonical  TEXT    NOT NULL UNIQUE,           -- lower-cased: uniqueness and sign-in lookups
    email               TEXT    NOT NULL,                  -- trimmed, domain lower-cased
    email_canonical     TEXT    NOT NULL UNIQUE,           -- fully lower-cased: uniqueness and lookups
    password_hash       TEXT    NOT NULL,                  -- PHC string (argon2id $m,t,p$salt$hash)
    created_at          BIGINT  NOT NULL,
    -- JWT revocation: every access token carries the user's token_version; bumping it (sign
    -- out everywhere, password change, disable) makes all outstanding tokens fail at once.
    token_version       BIGINT  NOT NULL DEFAULT 0
);

-- Server-side sessions. The cookie holds a random 256-bit token; only its SHA-256 is stored,
-- so a leaked database (or backup) cannot be replayed as live sessions.
CREATE TABLE sessions (
    token_hash    BYTEA   PRIMARY KEY,                                   -- SHA-256 of the cookie token
    id            TEXT    NOT NULL UNIQUE,                               -- public handle (128 random bits, hex): the token hash never leaves the server
    user_id       BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at    BIGINT  NOT NULL,                                      -- sign-in time
    last_seen_at  BIGINT  NOT NULL,                                      -- idle timeout counts from here
    expires_at    BIGINT  NOT NULL,                                      -- absolute lifetime: never extended
    remember      BOOLEAN NOT NULL DEFAULT FALSE,                        -- no idle timeout, cookie outlives the browser
    ip            TEXT,                                                  -- client address at sign-in
    user_agent    TEXT                                                   -- truncated User-Agent at sign-in
);

-- Listing a user's sessions, and ending them all at once.
CREATE INDEX sessions_user_id ON sessions (user_id);
-- The periodic purge of expired sessions.
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- Personal API keys. The full key is shown once at creation and never stored: only the public
-- prefix (to find the row) and the SHA-256 of the secret part (compared in constant time).
CREATE TABLE api_keys (
    id            BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id       BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT    NOT NULL,                 -- chosen by the owner, e.g. "CI deploy"
    prefix        TEXT    NOT NULL UNIQUE,          -- public identifier inside the key (gk_<prefix>_…)
    secret_hash   BYTEA   NOT NULL,                 -- SHA-256 of the secret part
    scopes        TEXT    NOT NULL,                 -- space-separated, e.g. "read:profile"
    created_at    BIGINT  NOT NULL,
    expires_at    BIGINT,                           -- NULL: does not expire
    last_used_at  BIGINT,                           -- updated at most once a minute
    revoked_at    BIGINT                            -- NULL: active
);

-- Listing one user's keys.
CREATE INDEX api_keys_user_id ON api_keys (user_id);

-- The security activity log: append-only, one hash chain per account.
--
-- Each row's `hash` is SHA-256 over its own fields and the previous row's hash
-- (`server::audit::chain_hash`), so editing, reordering or removing a row in the middle of a
-- chain is detected by `gatehouse audit verify`. No foreign key to users: the record of an
-- account's deletion outlives the account.
CREATE TABLE audit_events (
    id          BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     BIGINT  NOT NULL,
    seq         BIGINT  NOT NULL,          -- 1, 2, 3… within the user's chain
    created_at  BIGINT  NOT NULL,          -- seconds since the Unix epoch (UTC)
    kind        TEXT    NOT NULL,          -- e.g. login.succeeded, password.changed
    ip          TEXT,
    device      TEXT,                      -- a summary such as "Firefox on Linux", never the raw User-Agent
    request_id  TEXT,
    detail      TEXT,                      -- e.g. the API key's name
    prev_hash   BYTEA   NOT NULL,          -- the previous row's hash (32 zero bytes for the first)
    hash        BYTEA   NOT NULL,
    UNIQUE (user_id, seq)                  -- two writers cannot both extend a chain from one row
);

-- Rows are never edited. (Whole chains are deleted only when their account is erased; see
-- `Store::delete_account`.) The message matches the SQLite trigger's.
CREATE FUNCTION audit_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END;
$$;

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
