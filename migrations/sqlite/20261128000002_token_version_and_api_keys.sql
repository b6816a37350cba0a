-- JWT revocation: every access token carries the user's token_version; bumping it (sign out
-- everywhere, password change, disable) makes all outstanding tokens fail at once.
ALTER TABLE users ADD COLUMN token_version INTEGER NOT NULL DEFAULT 0;

-- Personal API keys. The full key is shown once at creation and never stored: only the public
-- prefix (to find the row) and the SHA-256 of the secret part (compared in constant time).
CREATE TABLE api_keys (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT    NOT NULL,                 -- chosen by the owner, e.g. "CI deploy"
    prefix        TEXT    NOT NULL UNIQUE,          -- public identifier inside the key (gk_<prefix>_…)
    secret_hash   BLOB    NOT NULL,                 -- SHA-256 of the secret part
    scopes        TEXT    NOT NULL,                 -- space-separated, e.g. "read:profile"
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER,                          -- NULL: does not expire
    last_used_at  INTEGER,                          -- updated at most once a minute
    revoked_at    INTEGER                           -- NULL: active
);

-- Listing one user's keys.
CREATE INDEX api_keys_user_id ON api_keys (user_id);
