//! The storage boundary. Callers see only the `Store` trait; each database has its own
//! implementation (`sqlite`, `postgres`) and its own migrations (`migrations/<backend>/`);
//! nothing above this module knows which database it talks to.
//!
//! Every query uses bound parameters; no SQL is ever built from strings.

// The column lists of the records, shared by every backend, as macros: each statement is one
// `&'static str` built by `concat!` at compile time, so no SQL is assembled at run time and
// values are always bound. (Defined before the backend modules so that they can use them.)
// `UserRecord`'s columns, qualified so that a statement joining another table with an `id`,
// `created_at` or `token_version` (`select_session_with_user`) can use them as they are.
macro_rules! user_columns {
    () => {
        "users.id, users.public_id, users.username, users.email, users.email_canonical, users.password_hash, users.created_at, users.token_version, users.email_verified_at, \
         EXISTS (SELECT 1 FROM two_factor t WHERE t.user_id = users.id AND t.enabled_at IS NOT NULL) AS two_factor_enabled"
    };
}
macro_rules! select_user {
    ($where:literal) => {
        concat!("SELECT ", user_columns!(), " FROM users ", $where)
    };
}
macro_rules! select_session {
    ($where:literal) => {
        concat!(
            "SELECT token_hash, id, user_id, created_at, last_seen_at, expires_at, remember, ip, user_agent, token_version FROM sessions ",
            $where
        )
    };
}
// A session with its account, in one statement (`SessionWithUser`): the user's columns under
// their own names, the session's prefixed `session_`, since both tables have `id`,
// `created_at` and `token_version`.
macro_rules! select_session_with_user {
    ($where:literal) => {
        concat!(
            "SELECT ",
            user_columns!(),
            ", sessions.token_hash AS session_token_hash, sessions.id AS session_id, sessions.created_at AS session_created_at, \
             sessions.last_seen_at AS session_last_seen_at, sessions.expires_at AS session_expires_at, sessions.remember AS session_remember, \
             sessions.ip AS session_ip, sessions.user_agent AS session_user_agent, sessions.token_version AS session_token_version \
             FROM sessions JOIN users ON users.id = sessions.user_id ",
            $where
        )
    };
}
macro_rules! select_api_key {
    ($where:literal) => {
        concat!(
            "SELECT id, user_id, name, prefix, secret_hash, scopes, created_at, expires_at, last_used_at, revoked_at FROM api_keys ",
            $where
        )
    };
}
macro_rules! select_email_link {
    ($where:literal) => {
        concat!(
            "SELECT token_hash, user_id, purpose, email, email_canonical, created_at, expires_at, token_version FROM email_links ",
            $where
        )
    };
}
macro_rules! select_two_factor {
    ($where:literal) => {
        concat!(
            "SELECT user_id, secret, created_at, enabled_at, last_step, recovery_salt FROM two_factor ",
            $where
        )
    };
}
macro_rules! select_challenge {
    ($where:literal) => {
        concat!(
            "SELECT token_hash, user_id, remember, created_at, expires_at, token_version, failures FROM sign_in_challenges ",
            $where
        )
    };
}
macro_rules! select_passkey {
    ($where:literal) => {
        concat!(
            "SELECT id, user_id, credential_id, name, credential, backed_up, created_at, last_used_at FROM passkeys ",
            $where
        )
    };
}
macro_rules! select_audit {
    ($where:literal) => {
        concat!(
            "SELECT user_id, seq, created_at, kind, ip, device, request_id, detail, prev_hash, hash FROM audit_events ",
            $where
        )
    };
}

mod cached;
pub mod chain;
mod postgres;
pub mod settings;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use secrecy::ExposeSecret;

pub use cached::CachedStore;
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

pub use settings::{DatabasePoolSettings, DatabaseSettings};

// Rows that hold a password hash or a credential's hash have a hand-written `Debug` (below)
// that leaves the hash out, so `?user` in a log line cannot leak it.
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UserRecord {
    /// Internal and sequential: never shown to clients.
    pub id: i64,
    /// The account's public handle (128 random bits, hex): an access token's `sub`.
    pub public_id: String,
    pub username: String,
    pub email: String,
    /// `email` as addresses are compared (`model::email::canonical_email`).
    pub email_canonical: String,
    pub password_hash: String,
    pub created_at: i64,
    /// Carried by every JWT; a token with an older version is refused.
    pub token_version: i64,
    /// When the owner last proved they read mail sent to `email`; `None`: not yet.
    pub email_verified_at: Option<i64>,
    /// Sign-in needs a second factor (enrolment finished; see `two_factor`).
    pub two_factor_enabled: bool,
}

/// An account's authenticator enrolment (see the `two_factor` migration).
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TwoFactorRecord {
    pub user_id: i64,
    /// Sealed (`auth::secret_box`): never the secret itself.
    pub secret: Vec<u8>,
    pub created_at: i64,
    /// `None` while enrolment waits for its first code.
    pub enabled_at: Option<i64>,
    /// The time step of the last accepted code.
    pub last_step: Option<i64>,
    pub recovery_salt: Option<Vec<u8>>,
}

/// New recovery codes as stored: their salt and digests, and the codes themselves sealed for
/// the one session that may see them once.
#[derive(Clone)]
pub struct NewRecoveryCodes {
    pub salt: Vec<u8>,
    pub digests: Vec<Vec<u8>>,
    pub reveal_to_session: String,
    pub sealed_codes: Vec<u8>,
    pub reveal_until: i64,
}

/// A sign-in waiting for its second step (see the `sign_in_challenges` migration).
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SignInChallengeRecord {
    pub token_hash: Vec<u8>,
    pub user_id: i64,
    pub remember: bool,
    pub created_at: i64,
    pub expires_at: i64,
    pub token_version: i64,
    pub failures: i64,
}

/// A registered passkey (see the `passkeys` migration).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PasskeyRecord {
    pub id: i64,
    pub user_id: i64,
    pub credential_id: Vec<u8>,
    pub name: String,
    /// webauthn-rs's `Passkey` as JSON: a public key, its counter and backup flags.
    pub credential: String,
    pub backed_up: bool,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// A passkey ceremony waiting for the browser's answer (see the `passkey_ceremonies`
/// migration). No `Debug`: the token hash stays out of logs, as with sessions.
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PasskeyCeremonyRecord {
    pub token_hash: Vec<u8>,
    /// `register`, `sign_in` or `second_factor` (`auth::passkeys::Purpose`).
    pub purpose: String,
    pub user_id: Option<i64>,
    /// The ceremony's server-side state, as webauthn-rs serialises it.
    pub state: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// A link mailed to someone (see the `email_links` migration). Only the token's hash is here.
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EmailLinkRecord {
    pub token_hash: Vec<u8>,
    pub user_id: i64,
    /// `verify_email`, `reset_password` or `change_email` (`auth::email_links::Purpose`).
    pub purpose: String,
    /// The address the link was sent to, as stored and canonical.
    pub email: String,
    pub email_canonical: String,
    pub created_at: i64,
    pub expires_at: i64,
    /// The account's credential epoch when the link was made.
    pub token_version: i64,
}

#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ApiKeyRecord {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub prefix: String,
    pub secret_hash: Vec<u8>,
    pub scopes: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

#[derive(Clone)]
pub struct NewUser {
    /// Made by the caller (`auth::public_id`): storage stores ids, it does not invent them.
    pub public_id: String,
    pub username: String,
    pub username_canonical: String,
    pub email: String,
    pub email_canonical: String,
    pub password_hash: String,
    pub created_at: i64,
}

#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SessionRecord {
    pub token_hash: Vec<u8>,
    /// The public handle shown in the session list (the token hash never leaves the server).
    pub id: String,
    pub user_id: i64,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    /// "Remember me": no idle timeout (only the absolute lifetime) and a persistent cookie.
    pub remember: bool,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The account's credential epoch (`UserRecord::token_version`) when the session began:
    /// once the account's moves on (password change, sign out everywhere), this session is
    /// refused.
    pub token_version: i64,
}

/// A session row joined with its account's (`select_session_with_user`): a signed-in request's
/// lookup is one statement, not two.
#[derive(sqlx::FromRow)]
struct SessionWithUser {
    #[sqlx(flatten)]
    user: UserRecord,
    session_token_hash: Vec<u8>,
    session_id: String,
    session_created_at: i64,
    session_last_seen_at: i64,
    session_expires_at: i64,
    session_remember: bool,
    session_ip: Option<String>,
    session_user_agent: Option<String>,
    session_token_version: i64,
}

impl SessionWithUser {
    fn into_parts(self) -> (SessionRecord, UserRecord) {
        let session = SessionRecord {
            token_hash: self.session_token_hash,
            id: self.session_id,
            user_id: self.user.id,
            created_at: self.session_created_at,
            last_seen_at: self.session_last_seen_at,
            expires_at: self.session_expires_at,
            remember: self.session_remember,
            ip: self.session_ip,
            user_agent: self.session_user_agent,
            token_version: self.session_token_version,
        };
        (session, self.user)
    }
}

const REDACTED: &str = "[redacted]";

impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("id", &self.id)
            .field("public_id", &self.public_id)
            .field("username", &self.username)
            .field("email", &self.email)
            .field("password_hash", &REDACTED)
            .field("created_at", &self.created_at)
            .field("token_version", &self.token_version)
            .field("email_verified_at", &self.email_verified_at)
            .field("two_factor_enabled", &self.two_factor_enabled)
            .finish()
    }
}

impl std::fmt::Debug for EmailLinkRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailLinkRecord")
            .field("token_hash", &REDACTED)
            .field("user_id", &self.user_id)
            .field("purpose", &self.purpose)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for TwoFactorRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwoFactorRecord")
            .field("user_id", &self.user_id)
            .field("secret", &REDACTED)
            .field("enabled_at", &self.enabled_at)
            .field("last_step", &self.last_step)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for NewRecoveryCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewRecoveryCodes")
            .field("count", &self.digests.len())
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for SignInChallengeRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInChallengeRecord")
            .field("token_hash", &REDACTED)
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .field("failures", &self.failures)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("username", &self.username)
            .field("email", &self.email)
            .field("password_hash", &REDACTED)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ApiKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyRecord")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("name", &self.name)
            .field("prefix", &self.prefix)
            .field("secret_hash", &REDACTED)
            .field("scopes", &self.scopes)
            .field("expires_at", &self.expires_at)
            .field("revoked_at", &self.revoked_at)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRecord")
            .field("token_hash", &REDACTED)
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .field("remember", &self.remember)
            .field("token_version", &self.token_version)
            .finish_non_exhaustive()
    }
}

/// A security event to append to its account's chain (see `server::audit`). `Deserialize`:
/// the SQLite store reads events from JSON that SQLite builds, as arrays in this field order
/// (`sqlite::audit_records_from_json`).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Deserialize)]
pub struct NewAuditEvent {
    pub user_id: i64,
    pub created_at: i64,
    pub kind: String,
    pub ip: Option<String>,
    /// A device summary ("Firefox on Linux"), never the raw User-Agent.
    pub device: Option<String>,
    pub request_id: Option<String>,
    pub detail: Option<String>,
}

/// A stored security event: the event, its place in the chain and its hashes.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditRecord {
    #[sqlx(flatten)]
    pub event: NewAuditEvent,
    pub seq: i64,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

/// Everything `/account` shows of one account, as rows (`Store::account_rows`): what the
/// six reads of its cards would give, read together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRows {
    /// As `Store::sessions_of` orders them.
    pub sessions: Vec<SessionRecord>,
    /// As `Store::api_keys_of` orders them.
    pub api_keys: Vec<ApiKeyRecord>,
    /// As `Store::passkeys_of` orders them.
    pub passkeys: Vec<PasskeyRecord>,
    pub two_factor: Option<TwoFactorRecord>,
    pub recovery_codes_left: u64,
    /// The account's link of the purpose asked for (`Store::email_link_of`).
    pub email_link: Option<EmailLinkRecord>,
    /// The newest events, as many as asked for (`Store::audit_events_of` with no `before_seq`).
    pub audit_events: Vec<AuditRecord>,
}

/// A look at the connection pool (`Store::pool_sample`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoolSample {
    pub in_use: u32,
    pub idle: u32,
    pub acquire: Option<std::time::Duration>,
}

impl PoolSample {
    /// Reads the pool's counts, then times getting a connection from it.
    pub(crate) async fn of<DB: sqlx::Database>(pool: &sqlx::Pool<DB>) -> Self {
        let (size, idle) = (pool.size(), pool.num_idle() as u32);
        let started = std::time::Instant::now();
        let acquire = pool.acquire().await.ok().map(|_| started.elapsed());
        Self {
            in_use: size.saturating_sub(idle),
            idle,
            acquire,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write (detected through sqlx's error kind, never by
    /// matching the database's message text).
    #[error("unique constraint violated")]
    UniqueViolation,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported DATABASE_URL scheme (expected sqlite:, postgres:// or postgresql://)")]
    UnsupportedUrl,
    #[error("could not create the database directory: {0}")]
    Io(#[from] std::io::Error),
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Inserts a user; `UniqueViolation` when the username or email is taken.
    async fn insert_user(&self, user: &NewUser) -> Result<UserRecord, StoreError>;
    async fn user_by_id(&self, id: i64) -> Result<Option<UserRecord>, StoreError>;
    /// The account an access token names (its `sub`).
    async fn user_by_public_id(&self, public_id: &str) -> Result<Option<UserRecord>, StoreError>;
    async fn user_by_username(&self, canonical: &str) -> Result<Option<UserRecord>, StoreError>;
    async fn user_by_email(&self, canonical: &str) -> Result<Option<UserRecord>, StoreError>;
    /// Stores a re-hash of the same password (parameters upgraded); tokens stay valid. Only
    /// while the stored hash is still `replaced`: a re-hash computed from the old password
    /// must never overwrite a password changed in the meantime. `false` when it did not.
    async fn set_password_hash(
        &self,
        user_id: i64,
        replaced: &str,
        hash: &str,
    ) -> Result<bool, StoreError>;
    /// Stores a new password and, in the same statement, moves the account to a new
    /// credential epoch (every JWT and every session of the old one dies). Answers the new
    /// epoch.
    async fn replace_password(&self, user_id: i64, hash: &str) -> Result<i64, StoreError>;
    /// Moves the user's sessions of epoch `from` to epoch `to` (a password change that keeps
    /// the other devices signed in).
    async fn rebind_sessions(&self, user_id: i64, from: i64, to: i64) -> Result<u64, StoreError>;
    /// Records that the owner of `email_canonical` proved they read its mail, if that is
    /// still the account's address; `false` when it is not (or the account is gone).
    async fn set_email_verified(
        &self,
        user_id: i64,
        email_canonical: &str,
        at: i64,
    ) -> Result<bool, StoreError>;
    /// Makes `email` the account's (verified) address; `UniqueViolation` when another account
    /// has it.
    async fn change_email(
        &self,
        user_id: i64,
        email: &str,
        email_canonical: &str,
        verified_at: i64,
    ) -> Result<(), StoreError>;
    /// Invalidates every outstanding JWT of the user.
    async fn bump_token_version(&self, user_id: i64) -> Result<(), StoreError>;
    /// Ends every session of the user (sign out everywhere).
    async fn delete_user_sessions(&self, user_id: i64) -> Result<u64, StoreError>;

    async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<i64, StoreError>;
    async fn api_key_by_prefix(&self, prefix: &str) -> Result<Option<ApiKeyRecord>, StoreError>;
    async fn api_keys_of(&self, user_id: i64) -> Result<Vec<ApiKeyRecord>, StoreError>;
    /// Revokes one of the user's keys; `false` if the user has no such active key.
    async fn revoke_api_key(&self, user_id: i64, key_id: i64, now: i64)
        -> Result<bool, StoreError>;
    async fn touch_api_key(&self, key_id: i64, now: i64) -> Result<(), StoreError>;

    async fn insert_session(&self, session: &SessionRecord) -> Result<(), StoreError>;
    async fn session(&self, token_hash: &[u8]) -> Result<Option<SessionRecord>, StoreError>;
    /// The session with this token hash and its account, in one round trip.
    async fn session_with_user(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<(SessionRecord, UserRecord)>, StoreError>;
    async fn touch_session(&self, token_hash: &[u8], last_seen_at: i64) -> Result<(), StoreError>;
    async fn delete_session(&self, token_hash: &[u8]) -> Result<(), StoreError>;
    /// The user's sessions, most recently used first (expired rows included until purged).
    /// Ties (the same second) are ordered by the public id, so every backend lists them alike.
    async fn sessions_of(&self, user_id: i64) -> Result<Vec<SessionRecord>, StoreError>;
    /// Ends one of the user's sessions by its public id; `false` if the user has no such session.
    async fn delete_user_session(&self, user_id: i64, id: &str) -> Result<bool, StoreError>;
    /// Ends every session of the user except the one with `keep` as token hash.
    async fn delete_other_sessions(&self, user_id: i64, keep: &[u8]) -> Result<u64, StoreError>;
    /// Deletes sessions past their absolute lifetime, or idle for longer than `idle_secs`
    /// (remembered sessions have no idle timeout).
    async fn delete_expired_sessions(&self, now: i64, idle_secs: i64) -> Result<u64, StoreError>;

    /// Stores a new link, replacing the account's previous link of the same purpose (which
    /// stops working), in one statement.
    async fn replace_email_link(&self, link: &EmailLinkRecord) -> Result<(), StoreError>;
    /// The link with this token hash, left in place (a page showing what a link will do).
    async fn email_link(&self, token_hash: &[u8]) -> Result<Option<EmailLinkRecord>, StoreError>;
    /// Deletes the link with this token hash and answers it: of two requests racing with one
    /// link, only one gets it.
    async fn take_email_link(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<EmailLinkRecord>, StoreError>;
    /// The account's pending link of `purpose`, if any (a pending change of address).
    async fn email_link_of(
        &self,
        user_id: i64,
        purpose: &str,
    ) -> Result<Option<EmailLinkRecord>, StoreError>;
    /// Deletes the account's links of `purpose` (a cancelled change, a link made moot).
    async fn delete_email_links(&self, user_id: i64, purpose: &str) -> Result<u64, StoreError>;
    /// Deletes links past their lifetime.
    async fn delete_expired_email_links(&self, now: i64) -> Result<u64, StoreError>;

    /// The account's authenticator enrolment, finished or not.
    async fn two_factor_of(&self, user_id: i64) -> Result<Option<TwoFactorRecord>, StoreError>;
    /// Starts (or restarts) enrolment with a new sealed secret, unless two-factor is already on
    /// (`false` then: an enabled secret is never replaced this way).
    async fn begin_two_factor(
        &self,
        user_id: i64,
        sealed_secret: &[u8],
        now: i64,
    ) -> Result<bool, StoreError>;
    /// Finishes enrolment (the first code, of `step`, was right) and stores the first recovery
    /// codes, in one transaction; `false` when there was no unfinished enrolment.
    async fn enable_two_factor(
        &self,
        user_id: i64,
        step: i64,
        now: i64,
        codes: &NewRecoveryCodes,
    ) -> Result<bool, StoreError>;
    /// Replaces the account's recovery codes (the old ones stop working) in one transaction.
    async fn replace_recovery_codes(
        &self,
        user_id: i64,
        codes: &NewRecoveryCodes,
    ) -> Result<(), StoreError>;
    /// Records that a code of `step` was accepted, only if no code of that step or a later one
    /// was: `false` means a replay (or two-factor is off).
    async fn use_totp_step(&self, user_id: i64, step: i64) -> Result<bool, StoreError>;
    /// Deletes the recovery code with this digest: `true` for the one request that used it.
    async fn use_recovery_code(&self, user_id: i64, digest: &[u8]) -> Result<bool, StoreError>;
    async fn count_recovery_codes(&self, user_id: i64) -> Result<u64, StoreError>;
    /// Takes the sealed recovery codes waiting to be shown to `session_id` (deleting them) if
    /// they have not expired.
    async fn take_recovery_code_reveal(
        &self,
        user_id: i64,
        session_id: &str,
        now: i64,
    ) -> Result<Option<Vec<u8>>, StoreError>;
    /// Turns two-factor off (or drops an unfinished enrolment): the secret, the recovery codes,
    /// any waiting reveal and every sign-in waiting for a second step, in one transaction (a
    /// waiting sign-in must not outlive the factor it waits for, even if another is enrolled
    /// within its five minutes). `false` when there was nothing.
    async fn delete_two_factor(&self, user_id: i64) -> Result<bool, StoreError>;

    async fn insert_sign_in_challenge(
        &self,
        challenge: &SignInChallengeRecord,
    ) -> Result<(), StoreError>;
    async fn sign_in_challenge(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<SignInChallengeRecord>, StoreError>;
    /// Counts a wrong code against the challenge and answers its failures so far.
    async fn fail_sign_in_challenge(&self, token_hash: &[u8]) -> Result<i64, StoreError>;
    /// Deletes the challenge and answers it: of two requests racing with one, only one gets it.
    async fn take_sign_in_challenge(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<SignInChallengeRecord>, StoreError>;
    /// Deletes challenges and recovery-code reveals past their lifetime.
    async fn delete_expired_two_factor_state(&self, now: i64) -> Result<u64, StoreError>;

    /// The account's passkeys, oldest first.
    async fn passkeys_of(&self, user_id: i64) -> Result<Vec<PasskeyRecord>, StoreError>;
    /// The passkey with this credential id, whoever owns it.
    async fn passkey_by_credential_id(
        &self,
        credential_id: &[u8],
    ) -> Result<Option<PasskeyRecord>, StoreError>;
    /// Stores a new passkey; `false` when its credential id is already registered.
    async fn insert_passkey(&self, passkey: &PasskeyRecord) -> Result<bool, StoreError>;
    /// Records a use: the updated credential (counter, backup flags) and when.
    async fn passkey_used(
        &self,
        id: i64,
        credential: &str,
        backed_up: bool,
        now: i64,
    ) -> Result<(), StoreError>;
    /// Renames one of the account's passkeys; `false` when it has none with this credential id.
    async fn rename_passkey(
        &self,
        user_id: i64,
        credential_id: &[u8],
        name: &str,
    ) -> Result<bool, StoreError>;
    /// Deletes one of the account's passkeys and answers it (`None`: no such passkey of theirs).
    async fn delete_passkey(
        &self,
        user_id: i64,
        credential_id: &[u8],
    ) -> Result<Option<PasskeyRecord>, StoreError>;
    async fn insert_passkey_ceremony(
        &self,
        ceremony: &PasskeyCeremonyRecord,
    ) -> Result<(), StoreError>;
    /// Deletes the ceremony of `purpose` with this token hash and answers it: single use, and
    /// of two requests racing with one, only one gets it.
    async fn take_passkey_ceremony(
        &self,
        token_hash: &[u8],
        purpose: &str,
    ) -> Result<Option<PasskeyCeremonyRecord>, StoreError>;
    /// Deletes ceremonies past their lifetime.
    async fn delete_expired_passkey_ceremonies(&self, now: i64) -> Result<u64, StoreError>;

    /// Appends an event to its user's chain: reads the chain's last row and inserts the next
    /// one (`seq + 1`, hash over the previous hash) in one transaction. Concurrent appends for
    /// one user wait their turn (SQLite's write lock, PostgreSQL's per-user advisory lock);
    /// UNIQUE (user_id, seq) refuses any that would fork the chain.
    async fn append_audit_event(&self, event: &NewAuditEvent) -> Result<AuditRecord, StoreError>;
    /// The user's latest `limit` events before `before_seq` (all when `None`), newest first.
    async fn audit_events_of(
        &self,
        user_id: i64,
        before_seq: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError>;
    /// Every event in (user_id, seq) order, `limit` at a time after `after` (for verification).
    async fn audit_events_page(
        &self,
        after: Option<(i64, i64)>,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError>;
    /// Erases an account in one transaction: the user row (sessions and API keys cascade),
    /// and the user's event chain, replaced by `final_event` whose `prev_hash` is the erased
    /// chain's last hash, so the erasure itself stays on record.
    async fn delete_account(
        &self,
        user_id: i64,
        final_event: &NewAuditEvent,
    ) -> Result<AuditRecord, StoreError>;

    /// What `/account` shows of `user_id`, in one read where the backend allows: the link of
    /// `link_purpose` and the newest `events` events. Equal, row for row, to what the separate
    /// reads give (a test holds both backends to that).
    async fn account_rows(
        &self,
        user_id: i64,
        link_purpose: &str,
        events: i64,
    ) -> Result<AccountRows, StoreError>;

    /// Sessions not yet past their absolute lifetime nor idle for `idle_secs` (remembered
    /// sessions have no idle timeout): the metrics' level of active sessions.
    async fn count_active_sessions(&self, now: i64, idle_secs: i64) -> Result<u64, StoreError>;

    /// The pool's connections in use and idle, and how long one took to get right now
    /// (`None` when none could be had within the acquire timeout): for the metrics.
    async fn pool_sample(&self) -> PoolSample;

    /// Answers when the database can serve a query (readiness).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Closes the connections, after in-flight queries finish (graceful shutdown).
    async fn close(&self);
}

/// Which implementation a `DATABASE_URL` selects, by its scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> Option<Self> {
        let scheme = url.split_once(':')?.0.to_ascii_lowercase();
        match scheme.as_str() {
            "sqlite" => Some(Self::Sqlite),
            // `postgresql` is the spelling libpq documents; sqlx accepts both.
            "postgres" | "postgresql" if url[scheme.len()..].starts_with("://") => {
                Some(Self::Postgres)
            }
            _ => None,
        }
    }
}

/// Opens the database named by `DATABASE_URL` and runs its migrations.
pub async fn connect(settings: &DatabaseSettings) -> Result<Arc<dyn Store>, StoreError> {
    let url = settings.url.expose_secret();
    let pool = &settings.pool;
    match Backend::of_url(url) {
        Some(Backend::Sqlite) => Ok(Arc::new(SqliteStore::connect(url, pool).await?)),
        Some(Backend::Postgres) => Ok(Arc::new(PostgresStore::connect(url, pool).await?)),
        None => Err(StoreError::UnsupportedUrl),
    }
}

impl StoreError {
    /// The database is unreachable or overloaded rather than wrong: the client should be
    /// told to retry shortly (503 + Retry-After), not that something broke.
    pub fn is_unavailable(&self) -> bool {
        let StoreError::Database(err) = self else {
            return false;
        };
        match err {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(db) => {
                let code = db.code().unwrap_or_default();
                // PostgreSQL: class 08 (connection exception), 57P01-57P03 (server shutting
                // down or starting up), 53300 (too many connections). SQLite: 5 and 6
                // (SQLITE_BUSY / SQLITE_LOCKED after the busy timeout).
                code.starts_with("08")
                    || matches!(&*code, "57P01" | "57P02" | "57P03" | "53300" | "5" | "6")
            }
            _ => false,
        }
    }
}

/// Begins a transaction (`begin`, a future that `pool.begin…()` returns) in a task of its own.
///
/// sqlx 0.8's `begin` and `begin_with` are not cancel-safe: dropped between running `BEGIN`
/// and recording it (a client that disconnects, a timeout), they hand the connection back to
/// the pool inside the transaction. On SQLite it then holds the write lock, and every other
/// write waits out the busy timeout and fails (`sqlite::tests`, found by the load benchmark);
/// on PostgreSQL the next borrower's statements run inside it (transact-rs/sqlx#4393). A task
/// runs to the end whoever stops waiting for it, and a transaction nobody receives is
/// dropped, which rolls it back. (The rest of a transaction is safe: dropping a `Transaction`
/// rolls back, and a commit, once sent, completes.)
pub(crate) async fn begin_in_own_task<T: Send + 'static>(
    begin: impl std::future::Future<Output = Result<T, sqlx::Error>> + Send + 'static,
) -> Result<T, StoreError> {
    match tokio::spawn(begin).await {
        Ok(begun) => Ok(begun?),
        Err(join) => Err(sqlx::Error::Io(std::io::Error::other(join)).into()),
    }
}

pub(crate) fn map_unique(err: sqlx::Error) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::UniqueViolation,
        _ => StoreError::Database(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_print_no_hash() {
        let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g";
        let user = UserRecord {
            id: 1,
            public_id: "0f".repeat(16),
            username: "alice".into(),
            email: "alice@example.com".into(),
            email_canonical: "alice@example.com".into(),
            password_hash: hash.into(),
            created_at: 0,
            token_version: 0,
            email_verified_at: None,
            two_factor_enabled: false,
        };
        let new_user = NewUser {
            public_id: "0f".repeat(16),
            username: "alice".into(),
            username_canonical: "alice".into(),
            email: "alice@example.com".into(),
            email_canonical: "alice@example.com".into(),
            password_hash: hash.into(),
            created_at: 0,
        };
        for printed in [format!("{user:?}"), format!("{new_user:?}")] {
            assert!(printed.contains("alice"), "{printed}");
            assert!(!printed.contains("argon2"), "{printed}");
        }
        let secret = vec![0xabu8; 32];
        let key = ApiKeyRecord {
            id: 1,
            user_id: 1,
            name: "ci".into(),
            prefix: "abcd1234".into(),
            secret_hash: secret.clone(),
            scopes: "read:profile".into(),
            created_at: 0,
            expires_at: None,
            last_used_at: None,
            revoked_at: None,
        };
        let session = SessionRecord {
            token_hash: secret,
            id: "s1".into(),
            user_id: 1,
            created_at: 0,
            last_seen_at: 0,
            expires_at: 0,
            remember: false,
            ip: None,
            user_agent: None,
            token_version: 0,
        };
        for printed in [format!("{key:?}"), format!("{session:?}")] {
            assert!(!printed.contains("171"), "{printed}"); // 0xab as a decimal byte
            assert!(printed.contains("[redacted]"), "{printed}");
        }
    }

    #[test]
    fn the_url_scheme_selects_the_backend() {
        for (url, backend) in [
            ("sqlite://data/gatehouse.db?mode=rwc", Some(Backend::Sqlite)),
            ("sqlite::memory:", Some(Backend::Sqlite)),
            ("postgres://u:p@db:5432/app", Some(Backend::Postgres)),
            ("postgresql://db/app", Some(Backend::Postgres)),
            ("POSTGRES://db/app", Some(Backend::Postgres)),
            ("postgres:db", None),
            ("mysql://db/app", None),
            ("data/gatehouse.db", None),
        ] {
            assert_eq!(Backend::of_url(url), backend, "{url}");
        }
    }
}
