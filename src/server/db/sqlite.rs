use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use super::chain::{chain_hash, next_link};
use super::settings::DatabasePoolSettings;
use super::{
    begin_in_own_task, map_unique, AccountRows, ApiKeyRecord, AuditRecord, EmailLinkRecord,
    NewAuditEvent, NewRecoveryCodes, NewUser, PasskeyCeremonyRecord, PasskeyRecord, PoolSample,
    SessionRecord, SessionWithUser, SignInChallengeRecord, Store, StoreError, TwoFactorRecord,
    UserRecord,
};

/// The embedded default: one SQLite file (WAL mode), created on first run.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    pub async fn connect(url: &str, pool: &DatabasePoolSettings) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            // WAL lets readers run while one writer commits; NORMAL is durable in WAL mode
            // except for the last transactions on power loss, the usual trade-off.
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        // SQLite creates the file but not its directory (`data/` on a fresh clone).
        if let Some(dir) = options.get_filename().parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)?;
            }
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(pool.max_connections)
            .acquire_timeout(pool.acquire_timeout)
            .connect_with(options)
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        Ok(Self { pool })
    }
}

type SqliteTx = sqlx::Transaction<'static, sqlx::Sqlite>;

/// `select_audit!`'s events as one row: a JSON array, newest first, of `AuditJson`s (read by
/// `audit_records_from_json`). The aggregate's own ORDER BY (SQLite 3.44 and later; the bundled
/// one is 3.46) keeps the order: a subquery's ORDER BY alone does not promise it to the
/// aggregate.
macro_rules! select_audit_json {
    ($where:literal) => {
        concat!(
            "SELECT json_group_array(json_array(json_array(user_id, created_at, kind, ip, device, ",
            "request_id, detail), seq, hex(prev_hash), hex(hash)) ORDER BY seq DESC) FROM (",
            select_audit!($where),
            ")"
        )
    };
}

/// One event as `audit_events_of` has SQLite write it: the event's fields as an array in the
/// order `NewAuditEvent` declares them, then its place in the chain and its hashes in hex.
#[derive(serde::Deserialize)]
struct AuditJson(NewAuditEvent, i64, String, String);

/// The records of `audit_events_of`'s JSON array. What SQLite wrote and this cannot read is a
/// decoding error of the query, as a row of the wrong shape would be.
fn audit_records_from_json(events: &str) -> Result<Vec<AuditRecord>, sqlx::Error> {
    from_json::<Vec<AuditJson>>(events)?
        .into_iter()
        .map(|AuditJson(event, seq, prev_hash, hash)| {
            Ok(AuditRecord {
                event,
                seq,
                prev_hash: unhex(&prev_hash)?,
                hash: unhex(&hash)?,
            })
        })
        .collect()
}

/// `account_rows` in one statement: each card's rows as one column of JSON, built by SQLite,
/// blobs in hex (JSON has no bytes; `hex(NULL)` is `''`, hence the `iif` for the one
/// nullable blob). Each array lists a record's columns in the order its struct declares them,
/// and each aggregate has the ORDER BY of the separate read it stands for.
///
/// Why one statement: sqlx runs every SQLite connection on a worker thread of its own, so
/// each statement is a hand-off to that thread and back, and each result row a message of its
/// own. The page's separate reads were seven statements (six cards; two-factor counts its
/// codes too), each on a pooled connection of its own; this is one statement and one row
/// (docs/benchmarks.md).
macro_rules! select_account_json {
    () => {
        concat!(
            "SELECT ",
            "(SELECT json_group_array(json_array(hex(token_hash), id, user_id, created_at, last_seen_at, expires_at, \
             remember, ip, user_agent, token_version) ORDER BY last_seen_at DESC, created_at DESC, id) \
             FROM sessions WHERE user_id = ?1) AS sessions, ",
            "(SELECT json_group_array(json_array(id, user_id, name, prefix, hex(secret_hash), scopes, created_at, \
             expires_at, last_used_at, revoked_at) ORDER BY created_at DESC, id DESC) FROM api_keys WHERE user_id = ?1) AS api_keys, ",
            "(SELECT json_group_array(json_array(id, user_id, hex(credential_id), name, credential, backed_up, \
             created_at, last_used_at) ORDER BY id) FROM passkeys WHERE user_id = ?1) AS passkeys, ",
            "(SELECT json_array(user_id, hex(secret), created_at, enabled_at, last_step, \
             iif(recovery_salt IS NULL, NULL, hex(recovery_salt))) FROM two_factor WHERE user_id = ?1) AS two_factor, ",
            "(SELECT COUNT(*) FROM recovery_codes WHERE user_id = ?1) AS recovery_codes, ",
            "(SELECT json_array(hex(token_hash), user_id, purpose, email, email_canonical, created_at, expires_at, \
             token_version) FROM email_links WHERE user_id = ?1 AND purpose = ?2) AS email_link, (",
            select_audit_json!("WHERE user_id = ?1 ORDER BY seq DESC LIMIT ?3"),
            ") AS audit_events"
        )
    };
}

/// The columns of `select_account_json!`, as SQLite returns them.
#[derive(sqlx::FromRow)]
struct AccountJson {
    sessions: String,
    api_keys: String,
    passkeys: String,
    two_factor: Option<String>,
    recovery_codes: i64,
    email_link: Option<String>,
    audit_events: String,
}

// One record per JSON array, fields in the order of the record's struct; blobs in hex and
// SQLite's 0/1 for booleans.
#[derive(serde::Deserialize)]
struct SessionJson(
    String,
    String,
    i64,
    i64,
    i64,
    i64,
    i64,
    Option<String>,
    Option<String>,
    i64,
);
#[derive(serde::Deserialize)]
struct ApiKeyJson(
    i64,
    i64,
    String,
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);
#[derive(serde::Deserialize)]
struct PasskeyJson(i64, i64, String, String, String, i64, i64, Option<i64>);
#[derive(serde::Deserialize)]
struct TwoFactorJson(i64, String, i64, Option<i64>, Option<i64>, Option<String>);
#[derive(serde::Deserialize)]
struct EmailLinkJson(String, i64, String, String, String, i64, i64, i64);

fn decode_error(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> sqlx::Error {
    sqlx::Error::Decode(err.into())
}

fn from_json<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, sqlx::Error> {
    serde_json::from_str(json).map_err(decode_error)
}

fn unhex(hex: &str) -> Result<Vec<u8>, sqlx::Error> {
    hex::decode(hex).map_err(decode_error)
}

impl AccountJson {
    /// The records the JSON stands for. What SQLite wrote and this cannot read is a decoding
    /// error of the query, as a row of the wrong shape would be.
    fn into_rows(self) -> Result<AccountRows, sqlx::Error> {
        let sessions = from_json::<Vec<SessionJson>>(&self.sessions)?
            .into_iter()
            .map(
                |SessionJson(
                    hash,
                    id,
                    user_id,
                    created,
                    seen,
                    expires,
                    remember,
                    ip,
                    agent,
                    version,
                )| {
                    Ok(SessionRecord {
                        token_hash: unhex(&hash)?,
                        id,
                        user_id,
                        created_at: created,
                        last_seen_at: seen,
                        expires_at: expires,
                        remember: remember != 0,
                        ip,
                        user_agent: agent,
                        token_version: version,
                    })
                },
            )
            .collect::<Result<_, sqlx::Error>>()?;
        let api_keys = from_json::<Vec<ApiKeyJson>>(&self.api_keys)?
            .into_iter()
            .map(
                |ApiKeyJson(
                    id,
                    user_id,
                    name,
                    prefix,
                    hash,
                    scopes,
                    created,
                    expires,
                    used,
                    revoked,
                )| {
                    Ok(ApiKeyRecord {
                        id,
                        user_id,
                        name,
                        prefix,
                        secret_hash: unhex(&hash)?,
                        scopes,
                        created_at: created,
                        expires_at: expires,
                        last_used_at: used,
                        revoked_at: revoked,
                    })
                },
            )
            .collect::<Result<_, sqlx::Error>>()?;
        let passkeys = from_json::<Vec<PasskeyJson>>(&self.passkeys)?
            .into_iter()
            .map(
                |PasskeyJson(
                    id,
                    user_id,
                    credential_id,
                    name,
                    credential,
                    backed_up,
                    created,
                    used,
                )| {
                    Ok(PasskeyRecord {
                        id,
                        user_id,
                        credential_id: unhex(&credential_id)?,
                        name,
                        credential,
                        backed_up: backed_up != 0,
                        created_at: created,
                        last_used_at: used,
                    })
                },
            )
            .collect::<Result<_, sqlx::Error>>()?;
        let two_factor = self
            .two_factor
            .map(|json| {
                let TwoFactorJson(user_id, secret, created, enabled, last_step, salt) =
                    from_json(&json)?;
                Ok::<_, sqlx::Error>(TwoFactorRecord {
                    user_id,
                    secret: unhex(&secret)?,
                    created_at: created,
                    enabled_at: enabled,
                    last_step,
                    recovery_salt: salt.as_deref().map(unhex).transpose()?,
                })
            })
            .transpose()?;
        let email_link = self
            .email_link
            .map(|json| {
                let EmailLinkJson(
                    hash,
                    user_id,
                    purpose,
                    email,
                    canonical,
                    created,
                    expires,
                    version,
                ) = from_json(&json)?;
                Ok::<_, sqlx::Error>(EmailLinkRecord {
                    token_hash: unhex(&hash)?,
                    user_id,
                    purpose,
                    email,
                    email_canonical: canonical,
                    created_at: created,
                    expires_at: expires,
                    token_version: version,
                })
            })
            .transpose()?;
        Ok(AccountRows {
            sessions,
            api_keys,
            passkeys,
            two_factor,
            recovery_codes_left: self.recovery_codes.max(0) as u64,
            email_link,
            audit_events: audit_records_from_json(&self.audit_events)?,
        })
    }
}

impl SqliteStore {
    /// `BEGIN IMMEDIATE` takes the write lock up front: a deferred transaction that reads the
    /// chain head and then writes would fail with SQLITE_BUSY_SNAPSHOT when another
    /// connection committed in between, instead of waiting its turn.
    /// In a task of its own, so a cancelled request cannot leave it half begun
    /// (`begin_in_own_task`).
    async fn begin_write(&self) -> Result<SqliteTx, StoreError> {
        let pool = self.pool.clone();
        begin_in_own_task(async move { pool.begin_with("BEGIN IMMEDIATE").await }).await
    }

    /// Inserts the next row of `event.user_id`'s chain inside `tx`.
    async fn append_in(
        tx: &mut SqliteTx,
        event: &NewAuditEvent,
        last: Option<(i64, Vec<u8>)>,
    ) -> Result<AuditRecord, StoreError> {
        let (seq, prev_hash) = next_link(last);
        let hash = chain_hash(&prev_hash, seq, event);
        sqlx::query(
            "INSERT INTO audit_events (user_id, seq, created_at, kind, ip, device, request_id, detail, prev_hash, hash)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(event.user_id)
        .bind(seq)
        .bind(event.created_at)
        .bind(&event.kind)
        .bind(&event.ip)
        .bind(&event.device)
        .bind(&event.request_id)
        .bind(&event.detail)
        .bind(&prev_hash)
        .bind(&hash)
        .execute(&mut **tx)
        .await
        .map_err(map_unique)?;
        Ok(AuditRecord {
            event: event.clone(),
            seq,
            prev_hash,
            hash,
        })
    }

    async fn chain_head(
        tx: &mut SqliteTx,
        user_id: i64,
    ) -> Result<Option<(i64, Vec<u8>)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT seq, hash FROM audit_events WHERE user_id = ? ORDER BY seq DESC LIMIT 1",
        )
        .bind(user_id)
        .fetch_optional(&mut **tx)
        .await?)
    }

    /// Replaces the account's recovery codes and their waiting reveal inside `tx`.
    async fn store_recovery_codes(
        tx: &mut SqliteTx,
        user_id: i64,
        codes: &NewRecoveryCodes,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = ?")
            .bind(user_id)
            .execute(&mut **tx)
            .await?;
        for digest in &codes.digests {
            sqlx::query("INSERT INTO recovery_codes (user_id, digest) VALUES (?, ?)")
                .bind(user_id)
                .bind(digest)
                .execute(&mut **tx)
                .await?;
        }
        sqlx::query(
            "INSERT INTO recovery_code_reveals (user_id, session_id, codes, expires_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (user_id) DO UPDATE SET session_id = excluded.session_id, codes = excluded.codes, expires_at = excluded.expires_at",
        )
        .bind(user_id)
        .bind(&codes.reveal_to_session)
        .bind(&codes.sealed_codes)
        .bind(codes.reveal_until)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn insert_user(&self, user: &NewUser) -> Result<UserRecord, StoreError> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (public_id, username, username_canonical, email, email_canonical, password_hash, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(&user.public_id)
        .bind(&user.username)
        .bind(&user.username_canonical)
        .bind(&user.email)
        .bind(&user.email_canonical)
        .bind(&user.password_hash)
        .bind(user.created_at)
        .fetch_one(&self.pool)
        .await
        .map_err(map_unique)?;
        Ok(UserRecord {
            id,
            public_id: user.public_id.clone(),
            username: user.username.clone(),
            email: user.email.clone(),
            email_canonical: user.email_canonical.clone(),
            password_hash: user.password_hash.clone(),
            created_at: user.created_at,
            token_version: 0,
            email_verified_at: None,
            two_factor_enabled: false,
        })
    }

    async fn user_by_id(&self, id: i64) -> Result<Option<UserRecord>, StoreError> {
        Ok(sqlx::query_as(select_user!("WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn user_by_public_id(&self, public_id: &str) -> Result<Option<UserRecord>, StoreError> {
        Ok(sqlx::query_as(select_user!("WHERE public_id = ?"))
            .bind(public_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn user_by_username(&self, canonical: &str) -> Result<Option<UserRecord>, StoreError> {
        Ok(sqlx::query_as(select_user!("WHERE username_canonical = ?"))
            .bind(canonical)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn user_by_email(&self, canonical: &str) -> Result<Option<UserRecord>, StoreError> {
        Ok(sqlx::query_as(select_user!("WHERE email_canonical = ?"))
            .bind(canonical)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn set_password_hash(
        &self,
        user_id: i64,
        replaced: &str,
        hash: &str,
    ) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?")
                .bind(hash)
                .bind(user_id)
                .bind(replaced)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn replace_password(&self, user_id: i64, hash: &str) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "UPDATE users SET password_hash = ?, token_version = token_version + 1 WHERE id = ? RETURNING token_version",
        )
        .bind(hash)
        .bind(user_id)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn rebind_sessions(&self, user_id: i64, from: i64, to: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE sessions SET token_version = ? WHERE user_id = ? AND token_version = ?",
        )
        .bind(to)
        .bind(user_id)
        .bind(from)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn set_email_verified(
        &self,
        user_id: i64,
        email_canonical: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE users SET email_verified_at = ? WHERE id = ? AND email_canonical = ?",
        )
        .bind(at)
        .bind(user_id)
        .bind(email_canonical)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn change_email(
        &self,
        user_id: i64,
        email: &str,
        email_canonical: &str,
        verified_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE users SET email = ?, email_canonical = ?, email_verified_at = ? WHERE id = ?",
        )
        .bind(email)
        .bind(email_canonical)
        .bind(verified_at)
        .bind(user_id)
        .execute(&self.pool)
        .await
        .map_err(map_unique)?;
        Ok(())
    }

    async fn replace_email_link(&self, link: &EmailLinkRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO email_links (token_hash, user_id, purpose, email, email_canonical, created_at, expires_at, token_version)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (user_id, purpose) DO UPDATE SET token_hash = excluded.token_hash,
                 email = excluded.email, email_canonical = excluded.email_canonical,
                 created_at = excluded.created_at, expires_at = excluded.expires_at,
                 token_version = excluded.token_version",
        )
        .bind(&link.token_hash)
        .bind(link.user_id)
        .bind(&link.purpose)
        .bind(&link.email)
        .bind(&link.email_canonical)
        .bind(link.created_at)
        .bind(link.expires_at)
        .bind(link.token_version)
        .execute(&self.pool)
        .await
        .map_err(map_unique)?;
        Ok(())
    }

    async fn email_link(&self, token_hash: &[u8]) -> Result<Option<EmailLinkRecord>, StoreError> {
        Ok(sqlx::query_as(select_email_link!("WHERE token_hash = ?"))
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn take_email_link(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<EmailLinkRecord>, StoreError> {
        Ok(sqlx::query_as(
            "DELETE FROM email_links WHERE token_hash = ?
             RETURNING token_hash, user_id, purpose, email, email_canonical, created_at, expires_at, token_version",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn email_link_of(
        &self,
        user_id: i64,
        purpose: &str,
    ) -> Result<Option<EmailLinkRecord>, StoreError> {
        Ok(
            sqlx::query_as(select_email_link!("WHERE user_id = ? AND purpose = ?"))
                .bind(user_id)
                .bind(purpose)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn delete_email_links(&self, user_id: i64, purpose: &str) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM email_links WHERE user_id = ? AND purpose = ?")
            .bind(user_id)
            .bind(purpose)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn delete_expired_email_links(&self, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM email_links WHERE expires_at <= ?")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn bump_token_version(&self, user_id: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET token_version = token_version + 1 WHERE id = ?")
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn delete_user_sessions(&self, user_id: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE user_id = ?")
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<i64, StoreError> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO api_keys (user_id, name, prefix, secret_hash, scopes, created_at, expires_at)
             VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(key.user_id)
        .bind(&key.name)
        .bind(&key.prefix)
        .bind(&key.secret_hash)
        .bind(&key.scopes)
        .bind(key.created_at)
        .bind(key.expires_at)
        .fetch_one(&self.pool)
        .await
        .map_err(map_unique)?;
        Ok(id)
    }

    async fn api_key_by_prefix(&self, prefix: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        Ok(sqlx::query_as(select_api_key!("WHERE prefix = ?"))
            .bind(prefix)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn api_keys_of(&self, user_id: i64) -> Result<Vec<ApiKeyRecord>, StoreError> {
        Ok(sqlx::query_as(select_api_key!(
            "WHERE user_id = ? ORDER BY created_at DESC, id DESC"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn revoke_api_key(
        &self,
        user_id: i64,
        key_id: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL")
            .bind(now)
            .bind(key_id)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn touch_api_key(&self, key_id: i64, now: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE api_keys SET last_used_at = ? WHERE id = ?")
            .bind(now)
            .bind(key_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn insert_session(&self, s: &SessionRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, id, user_id, created_at, last_seen_at, expires_at, remember, ip, user_agent, token_version)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&s.token_hash)
        .bind(&s.id)
        .bind(s.user_id)
        .bind(s.created_at)
        .bind(s.last_seen_at)
        .bind(s.expires_at)
        .bind(s.remember)
        .bind(&s.ip)
        .bind(&s.user_agent)
        .bind(s.token_version)
        .execute(&self.pool)
        .await
        .map_err(map_unique)?;
        Ok(())
    }

    async fn session(&self, token_hash: &[u8]) -> Result<Option<SessionRecord>, StoreError> {
        Ok(sqlx::query_as(select_session!("WHERE token_hash = ?"))
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn session_with_user(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<(SessionRecord, UserRecord)>, StoreError> {
        let row: Option<SessionWithUser> =
            sqlx::query_as(select_session_with_user!("WHERE sessions.token_hash = ?"))
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(SessionWithUser::into_parts))
    }

    async fn touch_session(&self, token_hash: &[u8], last_seen_at: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET last_seen_at = ? WHERE token_hash = ?")
            .bind(last_seen_at)
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn delete_session(&self, token_hash: &[u8]) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn sessions_of(&self, user_id: i64) -> Result<Vec<SessionRecord>, StoreError> {
        // `id` breaks ties, as in `PostgresStore`, so both backends give one order.
        Ok(sqlx::query_as(select_session!(
            "WHERE user_id = ? ORDER BY last_seen_at DESC, created_at DESC, id"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn delete_user_session(&self, user_id: i64, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE id = ? AND user_id = ?")
            .bind(id)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_other_sessions(&self, user_id: i64, keep: &[u8]) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE user_id = ? AND token_hash <> ?")
            .bind(user_id)
            .bind(keep)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn delete_expired_sessions(&self, now: i64, idle_secs: i64) -> Result<u64, StoreError> {
        let done =
            sqlx::query("DELETE FROM sessions WHERE expires_at <= ? OR (remember = 0 AND last_seen_at + ? <= ?)")
                .bind(now)
                .bind(idle_secs)
                .bind(now)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected())
    }

    async fn two_factor_of(&self, user_id: i64) -> Result<Option<TwoFactorRecord>, StoreError> {
        Ok(sqlx::query_as(select_two_factor!("WHERE user_id = ?"))
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn begin_two_factor(
        &self,
        user_id: i64,
        sealed_secret: &[u8],
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO two_factor (user_id, secret, created_at) VALUES (?, ?, ?)
             ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at
             WHERE two_factor.enabled_at IS NULL",
        )
        .bind(user_id)
        .bind(sealed_secret)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn enable_two_factor(
        &self,
        user_id: i64,
        step: i64,
        now: i64,
        codes: &NewRecoveryCodes,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE two_factor SET enabled_at = ?, last_step = ?, recovery_salt = ?
             WHERE user_id = ? AND enabled_at IS NULL",
        )
        .bind(now)
        .bind(step)
        .bind(&codes.salt)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        Self::store_recovery_codes(&mut tx, user_id, codes).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn replace_recovery_codes(
        &self,
        user_id: i64,
        codes: &NewRecoveryCodes,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE two_factor SET recovery_salt = ? WHERE user_id = ?")
            .bind(&codes.salt)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        Self::store_recovery_codes(&mut tx, user_id, codes).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn use_totp_step(&self, user_id: i64, step: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE two_factor SET last_step = ?
             WHERE user_id = ? AND enabled_at IS NOT NULL AND (last_step IS NULL OR last_step < ?)",
        )
        .bind(step)
        .bind(user_id)
        .bind(step)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn use_recovery_code(&self, user_id: i64, digest: &[u8]) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM recovery_codes WHERE user_id = ? AND digest = ?")
            .bind(user_id)
            .bind(digest)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn count_recovery_codes(&self, user_id: i64) -> Result<u64, StoreError> {
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM recovery_codes WHERE user_id = ?")
                .bind(user_id)
                .fetch_one(&self.pool)
                .await?;
        Ok(count.max(0) as u64)
    }

    async fn take_recovery_code_reveal(
        &self,
        user_id: i64,
        session_id: &str,
        now: i64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(sqlx::query_scalar(
            "DELETE FROM recovery_code_reveals WHERE user_id = ? AND session_id = ? AND expires_at > ?
             RETURNING codes",
        )
        .bind(user_id)
        .bind(session_id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn delete_two_factor(&self, user_id: i64) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = ?")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM recovery_code_reveals WHERE user_id = ?")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sign_in_challenges WHERE user_id = ?")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM two_factor WHERE user_id = ?")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_sign_in_challenge(
        &self,
        challenge: &SignInChallengeRecord,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sign_in_challenges (token_hash, user_id, remember, created_at, expires_at, token_version, failures)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&challenge.token_hash)
        .bind(challenge.user_id)
        .bind(challenge.remember)
        .bind(challenge.created_at)
        .bind(challenge.expires_at)
        .bind(challenge.token_version)
        .bind(challenge.failures)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn sign_in_challenge(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<SignInChallengeRecord>, StoreError> {
        Ok(sqlx::query_as(select_challenge!("WHERE token_hash = ?"))
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn fail_sign_in_challenge(&self, token_hash: &[u8]) -> Result<i64, StoreError> {
        let failures: Option<i64> = sqlx::query_scalar(
            "UPDATE sign_in_challenges SET failures = failures + 1 WHERE token_hash = ? RETURNING failures",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        // Gone meanwhile (taken or purged): as good as used up.
        Ok(failures.unwrap_or(i64::MAX))
    }

    async fn take_sign_in_challenge(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<SignInChallengeRecord>, StoreError> {
        Ok(sqlx::query_as(
            "DELETE FROM sign_in_challenges WHERE token_hash = ?
             RETURNING token_hash, user_id, remember, created_at, expires_at, token_version, failures",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn delete_expired_two_factor_state(&self, now: i64) -> Result<u64, StoreError> {
        let challenges = sqlx::query("DELETE FROM sign_in_challenges WHERE expires_at <= ?")
            .bind(now)
            .execute(&self.pool)
            .await?;
        let reveals = sqlx::query("DELETE FROM recovery_code_reveals WHERE expires_at <= ?")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(challenges.rows_affected() + reveals.rows_affected())
    }

    async fn passkeys_of(&self, user_id: i64) -> Result<Vec<PasskeyRecord>, StoreError> {
        Ok(
            sqlx::query_as(select_passkey!("WHERE user_id = ?1 ORDER BY id"))
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn passkey_by_credential_id(
        &self,
        credential_id: &[u8],
    ) -> Result<Option<PasskeyRecord>, StoreError> {
        Ok(sqlx::query_as(select_passkey!("WHERE credential_id = ?1"))
            .bind(credential_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn insert_passkey(&self, passkey: &PasskeyRecord) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO passkeys (user_id, credential_id, name, credential, backed_up, created_at, last_used_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (credential_id) DO NOTHING",
        )
        .bind(passkey.user_id)
        .bind(&passkey.credential_id)
        .bind(&passkey.name)
        .bind(&passkey.credential)
        .bind(passkey.backed_up)
        .bind(passkey.created_at)
        .bind(passkey.last_used_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn passkey_used(
        &self,
        id: i64,
        credential: &str,
        backed_up: bool,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE passkeys SET credential = ?1, backed_up = ?2, last_used_at = ?3 WHERE id = ?4",
        )
        .bind(credential)
        .bind(backed_up)
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn rename_passkey(
        &self,
        user_id: i64,
        credential_id: &[u8],
        name: &str,
    ) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE passkeys SET name = ?1 WHERE user_id = ?2 AND credential_id = ?3")
                .bind(name)
                .bind(user_id)
                .bind(credential_id)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_passkey(
        &self,
        user_id: i64,
        credential_id: &[u8],
    ) -> Result<Option<PasskeyRecord>, StoreError> {
        Ok(sqlx::query_as(
            "DELETE FROM passkeys WHERE user_id = ?1 AND credential_id = ?2
             RETURNING id, user_id, credential_id, name, credential, backed_up, created_at, last_used_at",
        )
        .bind(user_id)
        .bind(credential_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn insert_passkey_ceremony(
        &self,
        ceremony: &PasskeyCeremonyRecord,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO passkey_ceremonies (token_hash, purpose, user_id, state, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(&ceremony.token_hash)
        .bind(&ceremony.purpose)
        .bind(ceremony.user_id)
        .bind(&ceremony.state)
        .bind(ceremony.created_at)
        .bind(ceremony.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn take_passkey_ceremony(
        &self,
        token_hash: &[u8],
        purpose: &str,
    ) -> Result<Option<PasskeyCeremonyRecord>, StoreError> {
        Ok(sqlx::query_as(
            "DELETE FROM passkey_ceremonies WHERE token_hash = ?1 AND purpose = ?2
             RETURNING token_hash, purpose, user_id, state, created_at, expires_at",
        )
        .bind(token_hash)
        .bind(purpose)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn delete_expired_passkey_ceremonies(&self, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM passkey_ceremonies WHERE expires_at <= ?1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn append_audit_event(&self, event: &NewAuditEvent) -> Result<AuditRecord, StoreError> {
        // The immediate transaction serialises writers, so the unique (user_id, seq) index
        // never fires here; it is the guard for backends without a database-wide write lock.
        let mut tx = self.begin_write().await?;
        let last = Self::chain_head(&mut tx, event.user_id).await?;
        let record = Self::append_in(&mut tx, event, last).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// The events come back as one row holding them all as a JSON array, which SQLite builds,
    /// instead of one row per event. sqlx-sqlite runs each connection on a thread of its own
    /// and hands every result row to the async side as a channel message of its own, each
    /// column copied out in an allocation of its own (sqlx-sqlite 0.8, `connection/worker.rs`):
    /// for the account page's 50 events, a thread handoff per event on every render. One row
    /// made `/account` 1.06× faster side by side (docs/benchmarks.md). PostgreSQL's rows arrive
    /// together on one socket, so its store reads them as rows.
    async fn audit_events_of(
        &self,
        user_id: i64,
        before_seq: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let events: String = sqlx::query_scalar(select_audit_json!(
            "WHERE user_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?"
        ))
        .bind(user_id)
        .bind(before_seq.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_one(&self.pool)
        .await?;
        Ok(audit_records_from_json(&events)?)
    }

    async fn account_rows(
        &self,
        user_id: i64,
        link_purpose: &str,
        events: i64,
    ) -> Result<AccountRows, StoreError> {
        let json: AccountJson = sqlx::query_as(select_account_json!())
            .bind(user_id)
            .bind(link_purpose)
            .bind(events)
            .fetch_one(&self.pool)
            .await?;
        Ok(json.into_rows()?)
    }

    async fn audit_events_page(
        &self,
        after: Option<(i64, i64)>,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let (user_id, seq) = after.unwrap_or((i64::MIN, i64::MIN));
        Ok(sqlx::query_as(select_audit!(
            "WHERE (user_id, seq) > (?, ?) ORDER BY user_id, seq LIMIT ?"
        ))
        .bind(user_id)
        .bind(seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn delete_account(
        &self,
        user_id: i64,
        final_event: &NewAuditEvent,
    ) -> Result<AuditRecord, StoreError> {
        let mut tx = self.begin_write().await?;
        let last = Self::chain_head(&mut tx, user_id).await?;
        sqlx::query("DELETE FROM audit_events WHERE user_id = ?")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM users WHERE id = ?")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        let record = Self::append_in(&mut tx, final_event, last).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn count_active_sessions(&self, now: i64, idle_secs: i64) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sessions WHERE expires_at > ? AND (remember = 1 OR last_seen_at + ? > ?)",
        )
        .bind(now)
        .bind(idle_secs)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(count.max(0) as u64)
    }

    async fn pool_sample(&self) -> PoolSample {
        PoolSample::of(&self.pool).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sqlx::Connection;

    use super::*;

    /// A request whose client goes away is dropped wherever it is, also inside `BEGIN
    /// IMMEDIATE`. Found by the load benchmark: a connection went back to the pool still inside
    /// the transaction, holding SQLite's write lock, so every other write waited out the busy
    /// timeout (5 s) and failed, and activity-log events were lost.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_cancelled_while_it_begins_leaves_no_transaction_behind() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let pool = DatabasePoolSettings {
            max_connections: 2,
            acquire_timeout: Duration::from_secs(10),
        };
        let store = SqliteStore::connect(&url, &pool).await.unwrap();
        // Cancelled after 0 to ~200 µs: early ones before BEGIN runs, later ones after it, and
        // some in between, where sqlx 0.8 checks that its custom BEGIN took effect.
        for attempt in 0..3_000u64 {
            let cancel_after = Duration::from_nanos(attempt % 200 * 1_000);
            let _ = tokio::time::timeout(cancel_after, store.begin_write()).await;
        }
        // Each of the pool's connections, held at once so that both are checked, is outside
        // any transaction: it can begin one, and take the write lock without waiting.
        let mut first = store.pool.acquire().await.unwrap();
        let mut second = store.pool.acquire().await.unwrap();
        for connection in [&mut first, &mut second] {
            let began = tokio::time::timeout(
                Duration::from_secs(1),
                connection.begin_with("BEGIN IMMEDIATE"),
            )
            .await
            .expect("the write lock is held by a connection back in the pool");
            began.unwrap().rollback().await.unwrap();
        }
    }
}
