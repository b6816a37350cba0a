//! The authentication service: registration, sign-in, sessions. Server functions (browser)
//! and the JSON API both call these methods, so the rules live in exactly one place.

use std::sync::Arc;

use secrecy::SecretString;

use crate::model::forms::LoginIdentifier;
use crate::model::{AppError, FieldErrors, LoginForm, PasswordPolicy, RegisterForm};
use crate::server::clock::Clock;
use crate::server::config::{SessionSettings, Settings};
use crate::server::db::{NewUser, SessionRecord, Store, StoreError, UserRecord};
use crate::server::error::ServiceError;
use crate::server::limits::throttle::AccountThrottle;
use crate::server::limits::Limits;

use super::password::PasswordHasher;
use super::session::SessionToken;

/// `last_seen_at` is written at most this often per session, so browsing is not a database
/// write per request.
pub const TOUCH_INTERVAL_SECS: i64 = 60;
/// Enough of a User-Agent to tell devices apart, without letting a client store kilobytes.
const MAX_USER_AGENT_CHARS: usize = 256;

pub const USERNAME_TAKEN: &str = "That username is already taken.";
pub const EMAIL_TAKEN: &str = "An account with this email already exists.";

/// Who is on the other end, recorded with each session.
#[derive(Debug, Clone, Default)]
pub struct ClientMeta {
    /// The client address (through trusted proxies, see `limits::client_ip`).
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl ClientMeta {
    /// The per-IP rate-limit key. Requests without a known address share one bucket.
    fn ip_key(&self) -> &str {
        self.ip.as_deref().unwrap_or("unknown")
    }
}

/// A successful registration or sign-in: the account and the new session's token.
pub struct SignedIn {
    pub user: UserRecord,
    pub token: SessionToken,
}

pub struct AuthService {
    store: Arc<dyn Store>,
    hasher: PasswordHasher,
    clock: Arc<dyn Clock>,
    sessions: SessionSettings,
    policy: PasswordPolicy,
    limits: Limits,
    throttle: AccountThrottle,
}

impl AuthService {
    pub fn new(
        store: Arc<dyn Store>,
        hasher: PasswordHasher,
        clock: Arc<dyn Clock>,
        settings: &Settings,
    ) -> Self {
        let rules = &settings.rate_limits;
        Self {
            store,
            hasher,
            sessions: settings.session.clone(),
            policy: settings.password_policy,
            limits: Limits::in_process(
                rules.login.clone(),
                rules.register.clone(),
                rules.global.clone(),
            ),
            throttle: AccountThrottle::new(clock.clone()),
            clock,
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn password_policy(&self) -> PasswordPolicy {
        self.policy
    }

    pub fn session_settings(&self) -> &SessionSettings {
        &self.sessions
    }

    pub fn hasher(&self) -> &PasswordHasher {
        &self.hasher
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Creates the account and signs it in.
    pub async fn register(
        &self,
        form: &RegisterForm,
        meta: &ClientMeta,
    ) -> Result<SignedIn, ServiceError> {
        self.limits
            .check(&self.limits.register, meta.ip_key())
            .await?;
        form.check(&self.policy).map_err(AppError::from)?;

        // Checked before hashing so both fields can be reported at once and no argon2 work is
        // spent on a doomed insert. The unique indexes remain the real guard (see below).
        let taken = self.taken_fields(form).await?;
        if !taken.is_empty() {
            tracing::info!(event = "register.rejected", reason = "duplicate");
            return Err(AppError::Validation(taken).into());
        }

        let password_hash = self
            .hasher
            .hash(SecretString::from(form.password.clone()))
            .await?;
        let new_user = NewUser {
            username: form.display_username(),
            username_canonical: form.canonical_username(),
            email: form.normalized_email(),
            email_canonical: form.canonical_email(),
            password_hash,
            created_at: self.clock.now(),
        };
        let user = match self.store.insert_user(&new_user).await {
            Ok(user) => user,
            // Another registration won the race between our check and the insert.
            Err(StoreError::UniqueViolation) => {
                let taken = self.taken_fields(form).await?;
                let fields = if taken.is_empty() {
                    FieldErrors::single("username", USERNAME_TAKEN)
                } else {
                    taken
                };
                return Err(AppError::Validation(fields).into());
            }
            Err(other) => return Err(other.into()),
        };
        tracing::info!(event = "register.succeeded", user_id = user.id);
        let token = self.start_session(&user, meta).await?;
        Ok(SignedIn { user, token })
    }

    async fn taken_fields(&self, form: &RegisterForm) -> Result<FieldErrors, ServiceError> {
        let mut taken = FieldErrors::default();
        if self
            .store
            .user_by_username(&form.canonical_username())
            .await?
            .is_some()
        {
            taken.insert("username", USERNAME_TAKEN);
        }
        if self
            .store
            .user_by_email(&form.canonical_email())
            .await?
            .is_some()
        {
            taken.insert("email", EMAIL_TAKEN);
        }
        Ok(taken)
    }

    /// Signs in with a username or email. Unknown account and wrong password are one error,
    /// and both run exactly one argon2 verification.
    pub async fn login(
        &self,
        form: &LoginForm,
        meta: &ClientMeta,
    ) -> Result<SignedIn, ServiceError> {
        self.limits.check(&self.limits.login, meta.ip_key()).await?;
        form.check().map_err(AppError::from)?;
        let identifier = form.identifier();
        let user = match &identifier {
            LoginIdentifier::Email(email) => self.store.user_by_email(email).await?,
            LoginIdentifier::Username(name) => self.store.user_by_username(name).await?,
        };
        // One throttle per account; a name with no account gets its own, which behaves the
        // same, so the throttle's answer cannot tell the two apart.
        let throttle_key = match (&user, &identifier) {
            (Some(user), _) => format!("user:{}", user.id),
            (None, LoginIdentifier::Email(email)) => format!("email:{email}"),
            (None, LoginIdentifier::Username(name)) => format!("name:{name}"),
        };
        if let Err(wait) = self.throttle.check(&throttle_key) {
            tracing::warn!(
                event = "login.throttled",
                user_id = user.as_ref().map(|u| u.id),
                wait_secs = wait
            );
            return Err(AppError::RateLimited {
                retry_after_secs: wait,
                limit: 0,
                window_secs: 0,
            }
            .into());
        }
        let password = SecretString::from(form.password.clone());
        let verified = self
            .hasher
            .verify(
                password.clone(),
                user.as_ref().map(|u| u.password_hash.as_str()),
            )
            .await?;
        let user = match (user, verified) {
            (Some(user), true) => user,
            (user, _) => {
                // The typed identifier is not logged: people paste passwords into it by mistake.
                self.throttle.record_failure(&throttle_key);
                tracing::warn!(
                    event = "login.failed",
                    reason = if user.is_some() {
                        "wrong_password"
                    } else {
                        "unknown_account"
                    },
                    user_id = user.as_ref().map(|u| u.id),
                    ip = meta.ip.as_deref(),
                );
                return Err(AppError::InvalidCredentials.into());
            }
        };
        self.throttle.clear(&throttle_key);
        if self.hasher.needs_rehash(&user.password_hash) {
            self.upgrade_hash(&user, password).await;
        }
        tracing::info!(
            event = "login.succeeded",
            user_id = user.id,
            ip = meta.ip.as_deref()
        );
        let token = self.start_session(&user, meta).await?;
        Ok(SignedIn { user, token })
    }

    /// Replaces a hash made with older parameters. Failure is logged, not fatal: the person
    /// proved their password and is signed in either way.
    async fn upgrade_hash(&self, user: &UserRecord, password: SecretString) {
        let result = async {
            let hash = self.hasher.hash(password).await?;
            self.store.set_password_hash(user.id, &hash).await?;
            Ok::<_, ServiceError>(())
        }
        .await;
        match result {
            Ok(()) => tracing::info!(event = "password.rehashed", user_id = user.id),
            Err(error) => {
                tracing::warn!(event = "password.rehash_failed", user_id = user.id, %error)
            }
        }
    }

    /// A fresh session with a fresh token: never reuses an id the browser already had.
    async fn start_session(
        &self,
        user: &UserRecord,
        meta: &ClientMeta,
    ) -> Result<SessionToken, ServiceError> {
        let now = self.clock.now();
        let token = SessionToken::generate();
        let record = SessionRecord {
            token_hash: token.hash(),
            user_id: user.id,
            created_at: now,
            last_seen_at: now,
            expires_at: now + self.sessions.absolute_timeout.as_secs() as i64,
            ip: meta.ip.clone(),
            user_agent: meta
                .user_agent
                .as_ref()
                .map(|ua| ua.chars().take(MAX_USER_AGENT_CHARS).collect()),
        };
        self.store.insert_session(&record).await?;
        Ok(token)
    }

    /// The signed-in user for a session token, or `None` when the session is unknown or has
    /// expired (an expired row is deleted on the spot).
    pub async fn user_for_session(
        &self,
        token: &SessionToken,
    ) -> Result<Option<UserRecord>, ServiceError> {
        let hash = token.hash();
        let Some(session) = self.store.session(&hash).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        let idle_limit = session.last_seen_at + self.sessions.idle_timeout.as_secs() as i64;
        if now >= session.expires_at || now >= idle_limit {
            self.store.delete_session(&hash).await?;
            tracing::info!(event = "session.expired", user_id = session.user_id);
            return Ok(None);
        }
        if now - session.last_seen_at >= TOUCH_INTERVAL_SECS {
            self.store.touch_session(&hash, now).await?;
        }
        Ok(self.store.user_by_id(session.user_id).await?)
    }

    /// Ends the session server-side; the cookie alone is worthless afterwards.
    pub async fn logout(&self, token: &SessionToken) -> Result<(), ServiceError> {
        let hash = token.hash();
        if let Some(session) = self.store.session(&hash).await? {
            self.store.delete_session(&hash).await?;
            tracing::info!(event = "logout", user_id = session.user_id);
        }
        Ok(())
    }

    /// Forgets rate-limit and throttle state that has expired; run periodically.
    pub fn prune_limits(&self) {
        self.limits.prune();
        self.throttle.prune();
    }

    /// Deletes expired sessions; run periodically by the server.
    pub async fn purge_expired_sessions(&self) -> Result<u64, ServiceError> {
        let idle = self.sessions.idle_timeout.as_secs() as i64;
        Ok(self
            .store
            .delete_expired_sessions(self.clock.now(), idle)
            .await?)
    }
}
