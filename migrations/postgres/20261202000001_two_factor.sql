-- Two-factor sign-in: authenticator (TOTP) secrets, recovery codes, and the sign-ins that
-- wait for their second step.

-- One row per account that has started or finished enrolment.
-- secret: the TOTP secret sealed with XChaCha20-Poly1305 (nonce || ciphertext || tag) under a
--   key derived from SECRET_KEY, with the user id as associated data, so a copy of the database
--   holds no usable secret and a sealed secret cannot be moved to another account.
-- enabled_at: NULL while enrolment waits for its first code; set when that code was right.
-- last_step: the RFC 6238 time step of the last accepted code; a code of that step or an
--   earlier one is refused (no replay). The update is one conditional statement, so two
--   requests racing with one code cannot both win.
-- recovery_salt: the argon2id salt of this account's recovery codes.
CREATE TABLE two_factor (
    user_id       BIGINT    PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret        BYTEA    NOT NULL,
    created_at    BIGINT NOT NULL,
    enabled_at    BIGINT,
    last_step     BIGINT,
    recovery_salt BYTEA
);

-- Unused recovery codes, as argon2id digests (a code has about 52 bits: too few for a plain
-- hash). Using one deletes its row, in one statement: single use even under a race.
CREATE TABLE recovery_codes (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    digest  BYTEA    NOT NULL,
    PRIMARY KEY (user_id, digest)
);

-- New recovery codes waiting to be shown, once, to the session that made them (sealed as the
-- TOTP secret is). Showing them deletes the row; unshown ones are purged after expires_at.
CREATE TABLE recovery_code_reveals (
    user_id    BIGINT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id TEXT    NOT NULL,
    codes      BYTEA    NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Sign-ins whose password was right and which wait for a code. Only the SHA-256 of the token
-- (held by the browser in its own cookie) is stored. Short-lived; taking one to finish the
-- sign-in deletes it; too many wrong codes delete it too.
-- token_version: the account's credential epoch when the password was checked.
CREATE TABLE sign_in_challenges (
    token_hash    BYTEA    PRIMARY KEY NOT NULL,
    user_id       BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    remember      BOOLEAN NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    token_version BIGINT NOT NULL,
    failures      BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX sign_in_challenges_expires_at ON sign_in_challenges (expires_at);
CREATE INDEX recovery_code_reveals_expires_at ON recovery_code_reveals (expires_at);
