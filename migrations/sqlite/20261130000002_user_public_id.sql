-- Accounts get a public id: the `sub` of their access tokens, instead of the sequential
-- internal id (which tells how many accounts exist and which came first).
--
-- 128 random bits as 32 lower-case hex characters, the shape `auth::public_id` makes for new
-- accounts. Existing accounts get one here; their outstanding access tokens (whose `sub` is the
-- old numeric id) stop working, which only means signing in again.
--
-- SQLite cannot add a UNIQUE column, nor a NOT NULL one without a constant default. Rebuilding
-- `users` (as the sessions migration rebuilt `sessions`) is not an option either: dropping the
-- old table deletes its rows first, and with foreign keys on (as `SqliteStore::connect` opens
-- every connection, migrations included) that cascades to every session and API key. So the column comes with an empty
-- placeholder default, is filled at once, and is guarded by a unique index and a trigger that
-- refuses the placeholder.
ALTER TABLE users ADD COLUMN public_id TEXT NOT NULL DEFAULT '';
UPDATE users SET public_id = lower(hex(randomblob(16)));    -- evaluated per row: each its own
CREATE UNIQUE INDEX users_public_id ON users (public_id);   -- uniqueness and the token lookup

-- No account without a real id: an insert or update that leaves the placeholder (or anything
-- but 32 lower-case hex characters) is refused.
CREATE TRIGGER users_public_id_insert BEFORE INSERT ON users
WHEN length(NEW.public_id) <> 32 OR NEW.public_id GLOB '*[^0-9a-f]*'
BEGIN
    SELECT RAISE(ABORT, 'users.public_id must be 32 lower-case hex characters');
END;
CREATE TRIGGER users_public_id_update BEFORE UPDATE OF public_id ON users
WHEN length(NEW.public_id) <> 32 OR NEW.public_id GLOB '*[^0-9a-f]*'
BEGIN
    SELECT RAISE(ABORT, 'users.public_id must be 32 lower-case hex characters');
END;
