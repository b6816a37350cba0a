-- Passkeys (WebAuthn): the credentials an account signs in with instead of a password, and the
-- ceremonies (registration, sign-in) waiting for the browser's answer.

-- One row per registered passkey.
-- credential_id: the authenticator's id for it (what a sign-in names); unique across accounts.
-- credential: webauthn-rs's `Passkey` as JSON: the public key, the signature counter and the
--   backup flags, updated after each use as webauthn-rs asks. A public key: nothing secret.
-- backed_up: the authenticator said the key is synced (shown as "synced" on /account).
CREATE TABLE passkeys (
    id            BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id       BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id BYTEA   NOT NULL UNIQUE,
    name          TEXT    NOT NULL,
    credential    TEXT    NOT NULL,
    backed_up     BOOLEAN NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT
);
CREATE INDEX passkeys_user_id ON passkeys (user_id);

-- A ceremony between its two requests: the server's state (the challenge, what it allows) as
-- webauthn-rs serialises it. Only the SHA-256 of the token (held by the browser in its own
-- cookie) is stored, so the state is bound to the browser that started it. Single use: finishing
-- deletes the row in the same statement that reads it. Short-lived; expired rows are purged.
-- purpose: 'register', 'sign_in' (discoverable, no account yet) or 'second_factor'.
-- user_id: the account (NULL for a sign-in, which learns it from the passkey).
CREATE TABLE passkey_ceremonies (
    token_hash BYTEA   PRIMARY KEY NOT NULL,
    purpose    TEXT    NOT NULL,
    user_id    BIGINT REFERENCES users (id) ON DELETE CASCADE,
    state      TEXT    NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX passkey_ceremonies_expires_at ON passkey_ceremonies (expires_at);
