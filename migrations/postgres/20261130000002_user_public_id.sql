-- Accounts get a public id: the `sub` of their access tokens, instead of the sequential
-- internal id (which tells how many accounts exist and which came first).
--
-- 128 random bits as 32 lower-case hex characters, the shape `auth::public_id` makes for new
-- accounts. Existing accounts get one here; their outstanding access tokens (whose `sub` is the
-- old numeric id) stop working, which only means signing in again.
--
-- The random bits: PostgreSQL 13+ (the version Gatehouse requires) has `gen_random_uuid()` in
-- core, drawn from the server's strong random source, but a v4 UUID carries only 122 random
-- bits. Two of them (244 bits) hashed with SHA-256 and cut to 128 bits give a full 128-bit
-- value without the pgcrypto extension. (`random()` is not a cryptographic generator.)
ALTER TABLE users ADD COLUMN public_id TEXT;
UPDATE users SET public_id = left(
    encode(sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8')), 'hex'),
    32
);                                                          -- evaluated per row: each its own
ALTER TABLE users ALTER COLUMN public_id SET NOT NULL;
ALTER TABLE users ADD CONSTRAINT users_public_id_key UNIQUE (public_id);  -- also the token lookup's index
-- Anything but 32 lower-case hex characters is refused, as the SQLite triggers do.
ALTER TABLE users ADD CONSTRAINT users_public_id_shape CHECK (public_id ~ '^[0-9a-f]{32}$');
