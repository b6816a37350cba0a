//! The authentication service: registration, sign-in, sessions. Server functions (browser)
//! and the JSON API both call these methods, so the rules live in exactly one place.

use std::sync::Arc;

use secrecy::SecretString;

use crate::model::forms::LoginIdentifier;
use crate::model::{AppError, FieldErrors, LoginForm, PasswordPolicy, RegisterForm};
use crate::server::clock::Clock;
use crate::server::config::{SessionSettings, Settings};
use crate::server::db::{ApiKeyRecord, NewUser, SessionRecord, Store, StoreError, UserRecord};
use crate::server::error::ServiceError;
use crate::server::limits::throttle::AccountThrottle;
use crate::server::limits::Limits;

use super::api_keys;
use super::jwt::JwtKeys;
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
    jwt: JwtKeys,
}

/// Who an API request acts for, and through what.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: UserRecord,
    pub via: Credential,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A JWT from `/api/v1/token`: the full API.
    AccessToken,
    /// A personal API key: only its scopes (never key or session management).
    ApiKey { key_id: i64, scopes: Vec<String> },
}

/// A new API key: its record, and the full secret to show once.
pub struct CreatedKey {
    pub record: ApiKeyRecord,
    pub secret: String,
}

impl AuthService {
    pub fn new(
        store: Arc<dyn Store>,
        hasher: PasswordHasher,
        clock: Arc<dyn Clock>,
        settings: &Settings,
    ) -> Self {
        let (limits, throttle) = crate::server::limits::from_settings(settings, clock.clone());
        Self {
            store,
            hasher,
            sessions: settings.session.clone(),
            policy: settings.password_policy,
            limits,
            throttle,
            jwt: JwtKeys::new(
                &settings.secret_key,
                &settings.jwt.issuer,
                &settings.jwt.audience,
                settings.jwt.ttl_secs,
            ),
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

    /// Creates the account and signs it in (browser registration).
    pub async fn register(
        &self,
        form: &RegisterForm,
        meta: &ClientMeta,
    ) -> Result<SignedIn, ServiceError> {
        let user = self.create_account(form, meta).await?;
        let token = self.start_session(&user, meta).await?;
        Ok(SignedIn { user, token })
    }

    /// Creates the account (the API's registration: no session).
    pub async fn create_account(
        &self,
        form: &RegisterForm,
        meta: &ClientMeta,
    ) -> Result<UserRecord, ServiceError> {
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
        Ok(user)
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
    /// Signs in with a username or email and starts a browser session.
    pub async fn login(
        &self,
        form: &LoginForm,
        meta: &ClientMeta,
    ) -> Result<SignedIn, ServiceError> {
        let user = self.authenticate(form, meta).await?;
        let token = self.start_session(&user, meta).await?;
        Ok(SignedIn { user, token })
    }

    /// Checks credentials under the per-IP limit and the per-account throttle: the one path
    /// both browser sign-in and the OAuth2 password grant go through.
    pub async fn authenticate(
        &self,
        form: &LoginForm,
        meta: &ClientMeta,
    ) -> Result<UserRecord, ServiceError> {
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
        if let Err(wait) = self.throttle.check(&throttle_key).await {
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
                self.throttle.record_failure(&throttle_key).await;
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
        self.throttle.clear(&throttle_key).await;
        if self.hasher.needs_rehash(&user.password_hash) {
            self.upgrade_hash(&user, password).await;
        }
        tracing::info!(
            event = "login.succeeded",
            user_id = user.id,
            ip = meta.ip.as_deref()
        );
        Ok(user)
    }

    /// An access token for the user (after `authenticate`): (token, lifetime in seconds).
    pub fn issue_access_token(&self, user: &UserRecord) -> Result<(String, i64), ServiceError> {
        let token = self
            .jwt
            .issue(user.id, user.token_version, self.clock.now())
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        tracing::info!(event = "token.issued", user_id = user.id);
        Ok((token, self.jwt.ttl_secs))
    }

    /// Resolves an `Authorization: Bearer` credential: an API key (`gk_…`) or an access token.
    /// `None` for anything invalid, expired, revoked or unknown; the caller answers 401.
    pub async fn principal_for_bearer(
        &self,
        credential: &str,
    ) -> Result<Option<Principal>, ServiceError> {
        let now = self.clock.now();
        if credential.starts_with(api_keys::KEY_PREFIX) {
            let Some((prefix, secret)) = api_keys::parse(credential) else {
                return Ok(None);
            };
            let Some(key) = self.store.api_key_by_prefix(prefix).await? else {
                return Ok(None);
            };
            let usable = api_keys::secret_matches(secret, &key.secret_hash)
                && key.revoked_at.is_none()
                && key.expires_at.is_none_or(|t| now < t);
            if !usable {
                tracing::warn!(event = "api_key.refused", key_id = key.id);
                return Ok(None);
            }
            if key
                .last_used_at
                .is_none_or(|t| now - t >= TOUCH_INTERVAL_SECS)
            {
                self.store.touch_api_key(key.id, now).await?;
            }
            let Some(user) = self.store.user_by_id(key.user_id).await? else {
                return Ok(None);
            };
            let scopes = key.scopes.split_whitespace().map(str::to_string).collect();
            return Ok(Some(Principal {
                user,
                via: Credential::ApiKey {
                    key_id: key.id,
                    scopes,
                },
            }));
        }
        let claims = match self.jwt.verify(credential, now) {
            Ok(claims) => claims,
            Err(error) => {
                tracing::info!(event = "token.refused", %error);
                return Ok(None);
            }
        };
        let Ok(user_id) = claims.sub.parse::<i64>() else {
            return Ok(None);
        };
        let Some(user) = self.store.user_by_id(user_id).await? else {
            return Ok(None);
        };
        if user.token_version != claims.ver {
            tracing::info!(event = "token.revoked", user_id);
            return Ok(None);
        }
        Ok(Some(Principal {
            user,
            via: Credential::AccessToken,
        }))
    }

    /// Ends every session and every access token of the user.
    pub async fn logout_everywhere(&self, user_id: i64) -> Result<(), ServiceError> {
        self.store.bump_token_version(user_id).await?;
        let ended = self.store.delete_user_sessions(user_id).await?;
        tracing::info!(event = "logout.everywhere", user_id, sessions = ended);
        Ok(())
    }

    /// Creates an API key; the full key is in the answer and nowhere else.
    pub async fn create_api_key(
        &self,
        user_id: i64,
        name: &str,
        expires_in_days: Option<u32>,
    ) -> Result<CreatedKey, ServiceError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 64 {
            return Err(AppError::Validation(FieldErrors::single(
                "name",
                "Give the key a name of 1 to 64 characters.",
            ))
            .into());
        }
        if expires_in_days.is_some_and(|d| d == 0 || d > 3650) {
            return Err(AppError::Validation(FieldErrors::single(
                "expires_in_days",
                "Choose between 1 and 3650 days, or no expiry.",
            ))
            .into());
        }
        let now = self.clock.now();
        let generated = api_keys::generate();
        let mut record = ApiKeyRecord {
            id: 0,
            user_id,
            name: name.to_string(),
            prefix: generated.prefix,
            secret_hash: generated.secret_hash,
            scopes: api_keys::SCOPE_READ_PROFILE.to_string(),
            created_at: now,
            expires_at: expires_in_days.map(|d| now + i64::from(d) * 86_400),
            last_used_at: None,
            revoked_at: None,
        };
        record.id = self.store.insert_api_key(&record).await?;
        tracing::info!(event = "api_key.created", user_id, key_id = record.id);
        Ok(CreatedKey {
            record,
            secret: generated.full,
        })
    }

    pub async fn api_keys(&self, user_id: i64) -> Result<Vec<ApiKeyRecord>, ServiceError> {
        Ok(self.store.api_keys_of(user_id).await?)
    }

    /// Revokes one of the user's keys; `NotFound` for someone else's or an unknown key.
    pub async fn revoke_api_key(&self, user_id: i64, key_id: i64) -> Result<(), ServiceError> {
        if self
            .store
            .revoke_api_key(user_id, key_id, self.clock.now())
            .await?
        {
            tracing::info!(event = "api_key.revoked", user_id, key_id);
            Ok(())
        } else {
            Err(AppError::NotFound.into())
        }
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
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
    pub async fn prune_limits(&self) {
        self.limits.prune();
        self.throttle.prune().await;
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
