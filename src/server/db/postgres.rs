use std::str::FromStr;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use super::chain::{chain_hash, next_link};
use super::settings::DatabasePoolSettings;
use super::{
    begin_in_own_task, map_unique, AccountRows, ApiKeyRecord, AuditRecord, EmailLinkRecord,
    NewAuditEvent, NewRecoveryCodes, NewUser, PasskeyCeremonyRecord, PasskeyRecord, PoolSample,
    SessionRecord, SessionWithUser, SignInChallengeRecord, Store, StoreError, TwoFactorRecord,
    UserRecord,
};

/// A PostgreSQL server (`DATABASE_URL=postgres://…`): for several app instances sharing one
/// database. Behaves exactly as `SqliteStore`; the integration tests run against both.
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    pub async fn connect(url: &str, pool: &DatabasePoolSettings) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?.application_name("gatehouse");
        // The acquire timeout also bounds opening a connection (sqlx has no separate connect
        // timeout for PostgreSQL), so an unreachable server fails the start or the request
        // after that long instead of hanging.
        let pool = PgPoolOptions::new()
            .max_connections(pool.max_connections)
            .acquire_timeout(pool.acquire_timeout)
            .connect_with(options)
            .await?;
        // sqlx holds an advisory lock while migrating, so instances starting together take
        // turns.
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
    }
}

/// PostgreSQL `text` cannot hold a NUL character (binding one is an error), so no stored row
/// can equal a key that contains one. Lookups answer "not found" for such a key without asking,
/// as SQLite would: a sign-in typed with `%00` is an unknown account (401), not a 500.
fn unstorable(key: &str) -> bool {
    key.contains('\0')
}

type PgTx = sqlx::Transaction<'static, sqlx::Postgres>;

impl PostgresStore {
    /// A transaction, begun in a task of its own so a cancelled request cannot leave it half
    /// begun (`begin_in_own_task`).
    async fn begin(&self) -> Result<PgTx, StoreError> {
        let pool = self.pool.clone();
        begin_in_own_task(async move { pool.begin().await }).await
    }

    /// Starts a transaction that owns `user_id`'s audit chain until it ends.
    ///
    /// Appending reads the chain head and inserts the row after it. Two transactions doing
    /// that at once for one user would read the same head; the UNIQUE (user_id, seq)
    /// constraint refuses the second insert, but retrying after it starves under load (with
    /// 20 appends at once, one writer may lose 19 times in a row). A transaction-scoped
    /// advisory lock keyed by the user id queues the writers instead, and under READ COMMITTED
    /// each one's head query, run after it gets the lock, sees the previous writer's committed
    /// row. It is released at commit or rollback, so it cannot leak. Only appends for the same
    /// user wait for each other (another application's advisory lock on the same number
    /// would only make an append wait, never corrupt a chain, which the constraint protects).
    async fn begin_chain(&self, user_id: i64) -> Result<PgTx, StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    /// Inserts the next row of `event.user_id`'s chain inside `tx`.
    async fn append_in(
        tx: &mut PgTx,
        event: &NewAuditEvent,
        last: Option<(i64, Vec<u8>)>,
    ) -> Result<AuditRecord, StoreError> {
        let (seq, prev_hash) = next_link(last);
        let hash = chain_hash(&prev_hash, seq, event);
        sqlx::query(
            "INSERT INTO audit_events (user_id, seq, created_at, kind, ip, device, request_id, detail, prev_hash, hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
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

    async fn chain_head(tx: &mut PgTx, user_id: i64) -> Result<Option<(i64, Vec<u8>)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT seq, hash FROM audit_events WHERE user_id = $1 ORDER BY seq DESC LIMIT 1",
        )
        .bind(user_id)
        .fetch_optional(&mut **tx)
        .await?)
    }

    /// Replaces the account's recovery codes and their waiting reveal inside `tx`.
    async fn store_recovery_codes(
        tx: &mut PgTx,
        user_id: i64,
        codes: &NewRecoveryCodes,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut **tx)
            .await?;
        for digest in &codes.digests {
            sqlx::query("INSERT INTO recovery_codes (user_id, digest) VALUES ($1, $2)")
                .bind(user_id)
                .bind(digest)
                .execute(&mut **tx)
                .await?;
        }
        sqlx::query(
            "INSERT INTO recovery_code_reveals (user_id, session_id, codes, expires_at) VALUES ($1, $2, $3, $4)
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
impl Store for PostgresStore {
    async fn insert_user(&self, user: &NewUser) -> Result<UserRecord, StoreError> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (public_id, username, username_canonical, email, email_canonical, password_hash, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
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
        Ok(sqlx::query_as(select_user!("WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn user_by_public_id(&self, public_id: &str) -> Result<Option<UserRecord>, StoreError> {
        if unstorable(public_id) {
            return Ok(None);
        }
        Ok(sqlx::query_as(select_user!("WHERE public_id = $1"))
            .bind(public_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn user_by_username(&self, canonical: &str) -> Result<Option<UserRecord>, StoreError> {
        if unstorable(canonical) {
            return Ok(None);
        }
        Ok(
            sqlx::query_as(select_user!("WHERE username_canonical = $1"))
                .bind(canonical)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn user_by_email(&self, canonical: &str) -> Result<Option<UserRecord>, StoreError> {
        if unstorable(canonical) {
            return Ok(None);
        }
        Ok(sqlx::query_as(select_user!("WHERE email_canonical = $1"))
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
            sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3")
                .bind(hash)
                .bind(user_id)
                .bind(replaced)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn replace_password(&self, user_id: i64, hash: &str) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "UPDATE users SET password_hash = $1, token_version = token_version + 1 WHERE id = $2 RETURNING token_version",
        )
        .bind(hash)
        .bind(user_id)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn rebind_sessions(&self, user_id: i64, from: i64, to: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE sessions SET token_version = $1 WHERE user_id = $2 AND token_version = $3",
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
            "UPDATE users SET email_verified_at = $1 WHERE id = $2 AND email_canonical = $3",
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
            "UPDATE users SET email = $1, email_canonical = $2, email_verified_at = $3 WHERE id = $4",
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
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
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
        Ok(sqlx::query_as(select_email_link!("WHERE token_hash = $1"))
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn take_email_link(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<EmailLinkRecord>, StoreError> {
        Ok(sqlx::query_as(
            "DELETE FROM email_links WHERE token_hash = $1
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
            sqlx::query_as(select_email_link!("WHERE user_id = $1 AND purpose = $2"))
                .bind(user_id)
                .bind(purpose)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn delete_email_links(&self, user_id: i64, purpose: &str) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM email_links WHERE user_id = $1 AND purpose = $2")
            .bind(user_id)
            .bind(purpose)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn delete_expired_email_links(&self, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM email_links WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn bump_token_version(&self, user_id: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET token_version = token_version + 1 WHERE id = $1")
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn delete_user_sessions(&self, user_id: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<i64, StoreError> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO api_keys (user_id, name, prefix, secret_hash, scopes, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
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
        if unstorable(prefix) {
            return Ok(None);
        }
        Ok(sqlx::query_as(select_api_key!("WHERE prefix = $1"))
            .bind(prefix)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn api_keys_of(&self, user_id: i64) -> Result<Vec<ApiKeyRecord>, StoreError> {
        Ok(sqlx::query_as(select_api_key!(
            "WHERE user_id = $1 ORDER BY created_at DESC, id DESC"
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
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(key_id)
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn touch_api_key(&self, key_id: i64, now: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(key_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn insert_session(&self, s: &SessionRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, id, user_id, created_at, last_seen_at, expires_at, remember, ip, user_agent, token_version)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
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
        Ok(sqlx::query_as(select_session!("WHERE token_hash = $1"))
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn session_with_user(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<(SessionRecord, UserRecord)>, StoreError> {
        let row: Option<SessionWithUser> =
            sqlx::query_as(select_session_with_user!("WHERE sessions.token_hash = $1"))
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(SessionWithUser::into_parts))
    }

    async fn touch_session(&self, token_hash: &[u8], last_seen_at: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2")
            .bind(last_seen_at)
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn delete_session(&self, token_hash: &[u8]) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn sessions_of(&self, user_id: i64) -> Result<Vec<SessionRecord>, StoreError> {
        // `id` breaks ties: hex digits sort alike in SQLite's BINARY and any PostgreSQL
        // collation, so both backends give one order.
        Ok(sqlx::query_as(select_session!(
            "WHERE user_id = $1 ORDER BY last_seen_at DESC, created_at DESC, id"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn delete_user_session(&self, user_id: i64, id: &str) -> Result<bool, StoreError> {
        if unstorable(id) {
            return Ok(false);
        }
        let done = sqlx::query("DELETE FROM sessions WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_other_sessions(&self, user_id: i64, keep: &[u8]) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2")
            .bind(user_id)
            .bind(keep)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn delete_expired_sessions(&self, now: i64, idle_secs: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM sessions WHERE expires_at <= $1 OR (NOT remember AND last_seen_at + $2 <= $1)",
        )
        .bind(now)
        .bind(idle_secs)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn two_factor_of(&self, user_id: i64) -> Result<Option<TwoFactorRecord>, StoreError> {
        Ok(sqlx::query_as(select_two_factor!("WHERE user_id = $1"))
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
            "INSERT INTO two_factor (user_id, secret, created_at) VALUES ($1, $2, $3)
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
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE two_factor SET enabled_at = $1, last_step = $2, recovery_salt = $3
             WHERE user_id = $4 AND enabled_at IS NULL",
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
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE two_factor SET recovery_salt = $1 WHERE user_id = $2")
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
            "UPDATE two_factor SET last_step = $1
             WHERE user_id = $2 AND enabled_at IS NOT NULL AND (last_step IS NULL OR last_step < $3)",
        )
        .bind(step)
        .bind(user_id)
        .bind(step)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn use_recovery_code(&self, user_id: i64, digest: &[u8]) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1 AND digest = $2")
            .bind(user_id)
            .bind(digest)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn count_recovery_codes(&self, user_id: i64) -> Result<u64, StoreError> {
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1")
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
            "DELETE FROM recovery_code_reveals WHERE user_id = $1 AND session_id = $2 AND expires_at > $3
             RETURNING codes",
        )
        .bind(user_id)
        .bind(session_id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn delete_two_factor(&self, user_id: i64) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM recovery_code_reveals WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sign_in_challenges WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM two_factor WHERE user_id = $1")
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
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
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
        Ok(sqlx::query_as(select_challenge!("WHERE token_hash = $1"))
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn fail_sign_in_challenge(&self, token_hash: &[u8]) -> Result<i64, StoreError> {
        let failures: Option<i64> = sqlx::query_scalar(
            "UPDATE sign_in_challenges SET failures = failures + 1 WHERE token_hash = $1 RETURNING failures",
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
            "DELETE FROM sign_in_challenges WHERE token_hash = $1
             RETURNING token_hash, user_id, remember, created_at, expires_at, token_version, failures",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn delete_expired_two_factor_state(&self, now: i64) -> Result<u64, StoreError> {
        let challenges = sqlx::query("DELETE FROM sign_in_challenges WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        let reveals = sqlx::query("DELETE FROM recovery_code_reveals WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(challenges.rows_affected() + reveals.rows_affected())
    }

    async fn passkeys_of(&self, user_id: i64) -> Result<Vec<PasskeyRecord>, StoreError> {
        Ok(
            sqlx::query_as(select_passkey!("WHERE user_id = $1 ORDER BY id"))
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn passkey_by_credential_id(
        &self,
        credential_id: &[u8],
    ) -> Result<Option<PasskeyRecord>, StoreError> {
        Ok(sqlx::query_as(select_passkey!("WHERE credential_id = $1"))
            .bind(credential_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn insert_passkey(&self, passkey: &PasskeyRecord) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO passkeys (user_id, credential_id, name, credential, backed_up, created_at, last_used_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (credential_id) DO NOTHING",
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
            "UPDATE passkeys SET credential = $1, backed_up = $2, last_used_at = $3 WHERE id = $4",
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
            sqlx::query("UPDATE passkeys SET name = $1 WHERE user_id = $2 AND credential_id = $3")
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
            "DELETE FROM passkeys WHERE user_id = $1 AND credential_id = $2
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
             VALUES ($1, $2, $3, $4, $5, $6)",
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
            "DELETE FROM passkey_ceremonies WHERE token_hash = $1 AND purpose = $2
             RETURNING token_hash, purpose, user_id, state, created_at, expires_at",
        )
        .bind(token_hash)
        .bind(purpose)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn delete_expired_passkey_ceremonies(&self, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM passkey_ceremonies WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn append_audit_event(&self, event: &NewAuditEvent) -> Result<AuditRecord, StoreError> {
        let mut tx = self.begin_chain(event.user_id).await?;
        let last = Self::chain_head(&mut tx, event.user_id).await?;
        let record = Self::append_in(&mut tx, event, last).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn audit_events_of(
        &self,
        user_id: i64,
        before_seq: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        Ok(sqlx::query_as(select_audit!(
            "WHERE user_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3"
        ))
        .bind(user_id)
        .bind(before_seq.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The card reads side by side, each on a connection of its own: PostgreSQL's rows
    /// arrive on a socket the runtime already polls, so there is no worker thread to hand each
    /// read to and back, the cost one SQLite statement saves (`SqliteStore::account_rows`).
    async fn account_rows(
        &self,
        user_id: i64,
        link_purpose: &str,
        events: i64,
    ) -> Result<AccountRows, StoreError> {
        let (
            sessions,
            api_keys,
            passkeys,
            two_factor,
            recovery_codes_left,
            email_link,
            audit_events,
        ) = tokio::try_join!(
            self.sessions_of(user_id),
            self.api_keys_of(user_id),
            self.passkeys_of(user_id),
            self.two_factor_of(user_id),
            self.count_recovery_codes(user_id),
            self.email_link_of(user_id, link_purpose),
            self.audit_events_of(user_id, None, events),
        )?;
        Ok(AccountRows {
            sessions,
            api_keys,
            passkeys,
            two_factor,
            recovery_codes_left,
            email_link,
            audit_events,
        })
    }

    async fn audit_events_page(
        &self,
        after: Option<(i64, i64)>,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let (user_id, seq) = after.unwrap_or((i64::MIN, i64::MIN));
        Ok(sqlx::query_as(select_audit!(
            "WHERE (user_id, seq) > ($1, $2) ORDER BY user_id, seq LIMIT $3"
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
        let mut tx = self.begin_chain(user_id).await?;
        let last = Self::chain_head(&mut tx, user_id).await?;
        sqlx::query("DELETE FROM audit_events WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        let record = Self::append_in(&mut tx, final_event, last).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn count_active_sessions(&self, now: i64, idle_secs: i64) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sessions WHERE expires_at > $1 AND (remember OR last_seen_at + $2 > $3)",
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
