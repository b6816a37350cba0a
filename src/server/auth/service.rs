//! The authentication service: registration, sign-in, sessions. Server functions (browser)
//! and the JSON API both call these methods, so the rules live in exactly one place.

use std::sync::Arc;

use secrecy::SecretString;

use crate::model::activity::{count_of, ActivityKind, ActivityView, SessionList, SessionView};
use crate::model::forms::{ChangePasswordForm, DeleteAccountForm, LoginIdentifier};
use crate::model::{AppError, FieldErrors, LoginForm, PasswordPolicy, RegisterForm};
use crate::server::clock::Clock;
use crate::server::config::{SessionSettings, Settings};
use crate::server::db::{
    ApiKeyRecord, NewAuditEvent, NewUser, SessionRecord, Store, StoreError, UserRecord,
};
use crate::server::error::ServiceError;
use crate::server::limits::throttle::AccountThrottle;
use crate::server::limits::Limits;

use super::api_keys;
use super::client::{device_summary, ClientMeta};
use super::jwt::JwtKeys;
use super::password::PasswordHasher;
use super::session::SessionToken;

/// `last_seen_at` is written at most this often per session, so browsing is not a database
/// write per request.
pub const TOUCH_INTERVAL_SECS: i64 = 60;
/// How many events `/account` shows.
pub const ACTIVITY_SHOWN: i64 = 50;

pub const USERNAME_TAKEN: &str = "That username is already taken.";
pub const EMAIL_TAKEN: &str = "An account with this email already exists.";
pub const WRONG_CURRENT_PASSWORD: &str = "That is not your current password.";

/// A successful registration or sign-in: the account and the new session's token.
pub struct SignedIn {
    pub user: UserRecord,
    pub token: SessionToken,
    /// "Remember me": the cookie should outlive the browser session.
    pub remember: bool,
}

/// The signed-in person behind a session cookie, and that session.
pub struct CurrentSession {
    pub user: UserRecord,
    pub session: SessionRecord,
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
        let token = self.start_session(&user, false, meta).await?;
        Ok(SignedIn {
            user,
            token,
            remember: false,
        })
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
        self.audit(user.id, ActivityKind::AccountCreated, meta, None)
            .await;
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

    /// Signs in with a username or email and starts a browser session. Unknown account and
    /// wrong password are one error, and both run exactly one argon2 verification.
    pub async fn login(
        &self,
        form: &LoginForm,
        remember: bool,
        meta: &ClientMeta,
    ) -> Result<SignedIn, ServiceError> {
        let user = self.authenticate(form, meta).await?;
        let token = self.start_session(&user, remember, meta).await?;
        let detail = remember.then(|| "remembered on this device".to_string());
        self.audit(user.id, ActivityKind::SignedIn, meta, detail)
            .await;
        Ok(SignedIn {
            user,
            token,
            remember,
        })
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
            (Some(user), _) => account_throttle_key(user),
            (None, LoginIdentifier::Email(email)) => format!("email:{email}"),
            (None, LoginIdentifier::Username(name)) => format!("name:{name}"),
        };
        if let Err(wait) = self.throttle.check(&throttle_key).await {
            tracing::warn!(
                event = "login.throttled",
                user_id = user.as_ref().map(|u| u.id),
                wait_secs = wait
            );
            return Err(throttled(wait));
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
                self.record_failed_password(&throttle_key, user.as_ref(), meta, None)
                    .await;
                return Err(AppError::InvalidCredentials.into());
            }
        };
        self.throttle.clear(&throttle_key).await;
        if self.hasher.needs_rehash(&user.password_hash) {
            self.upgrade_hash(&user, password).await;
        }
        // The caller records the success (a session or an access token) in the activity log.
        Ok(user)
    }

    /// An access token for the user (after `authenticate`): (token, lifetime in seconds).
    pub async fn issue_access_token(
        &self,
        user: &UserRecord,
        meta: &ClientMeta,
    ) -> Result<(String, i64), ServiceError> {
        let token = self
            .jwt
            .issue(user.id, user.token_version, self.clock.now())
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        self.audit(user.id, ActivityKind::TokenIssued, meta, None)
            .await;
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
    pub async fn logout_everywhere(
        &self,
        user_id: i64,
        meta: &ClientMeta,
    ) -> Result<(), ServiceError> {
        self.store.bump_token_version(user_id).await?;
        let ended = self.store.delete_user_sessions(user_id).await?;
        let detail = format!(
            "{} ended, access tokens revoked",
            count_of(ended, "session")
        );
        self.audit(
            user_id,
            ActivityKind::SignedOutEverywhere,
            meta,
            Some(detail),
        )
        .await;
        Ok(())
    }

    /// Creates an API key; the full key is in the answer and nowhere else.
    pub async fn create_api_key(
        &self,
        user_id: i64,
        name: &str,
        expires_in_days: Option<u32>,
        meta: &ClientMeta,
    ) -> Result<CreatedKey, ServiceError> {
        let name = name.trim();
        // Control characters have no place in a label shown on the account page, and a NUL
        // cannot even be stored by PostgreSQL: refused alike on every backend.
        if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            return Err(AppError::Validation(FieldErrors::single(
                "name",
                "Give the key a name of 1 to 64 characters, without control characters.",
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
        let detail = format!("\"{}\" (gk_{}_…)", record.name, record.prefix);
        self.audit(user_id, ActivityKind::ApiKeyCreated, meta, Some(detail))
            .await;
        Ok(CreatedKey {
            record,
            secret: generated.full,
        })
    }

    pub async fn api_keys(&self, user_id: i64) -> Result<Vec<ApiKeyRecord>, ServiceError> {
        Ok(self.store.api_keys_of(user_id).await?)
    }

    /// Revokes one of the user's keys; `NotFound` for someone else's or an unknown key.
    pub async fn revoke_api_key(
        &self,
        user_id: i64,
        key_id: i64,
        meta: &ClientMeta,
    ) -> Result<(), ServiceError> {
        if !self
            .store
            .revoke_api_key(user_id, key_id, self.clock.now())
            .await?
        {
            return Err(AppError::NotFound.into());
        }
        let detail = self
            .store
            .api_keys_of(user_id)
            .await?
            .into_iter()
            .find(|k| k.id == key_id)
            .map(|k| format!("\"{}\" (gk_{}_…)", k.name, k.prefix));
        self.audit(user_id, ActivityKind::ApiKeyRevoked, meta, detail)
            .await;
        Ok(())
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

    /// A fresh session with a fresh token and a fresh public id: never reuses an id the
    /// browser already had (no session fixation).
    async fn start_session(
        &self,
        user: &UserRecord,
        remember: bool,
        meta: &ClientMeta,
    ) -> Result<SessionToken, ServiceError> {
        let now = self.clock.now();
        let token = SessionToken::generate();
        let record = SessionRecord {
            token_hash: token.hash(),
            id: super::session::public_session_id(),
            user_id: user.id,
            created_at: now,
            last_seen_at: now,
            expires_at: now + self.sessions.absolute_timeout.as_secs() as i64,
            remember,
            ip: meta.ip.clone(),
            user_agent: meta.user_agent.clone(),
        };
        self.store.insert_session(&record).await?;
        Ok(token)
    }

    /// When `session` stops being valid: its absolute expiry, or (unless remembered) the
    /// idle timeout counted from its last use.
    fn session_deadline(&self, session: &SessionRecord) -> i64 {
        if session.remember {
            session.expires_at
        } else {
            let idle = session.last_seen_at + self.sessions.idle_timeout.as_secs() as i64;
            idle.min(session.expires_at)
        }
    }

    /// The signed-in user and session for a session token, or `None` when the session is
    /// unknown or has expired (an expired row is deleted on the spot).
    pub async fn current_session(
        &self,
        token: &SessionToken,
    ) -> Result<Option<CurrentSession>, ServiceError> {
        let hash = token.hash();
        let Some(mut session) = self.store.session(&hash).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        if now >= self.session_deadline(&session) {
            self.store.delete_session(&hash).await?;
            tracing::info!(event = "session.expired", user_id = session.user_id);
            return Ok(None);
        }
        if now - session.last_seen_at >= TOUCH_INTERVAL_SECS {
            self.store.touch_session(&hash, now).await?;
            session.last_seen_at = now;
        }
        Ok(self
            .store
            .user_by_id(session.user_id)
            .await?
            .map(|user| CurrentSession { user, session }))
    }

    /// The signed-in user for a session token (see `current_session`).
    pub async fn user_for_session(
        &self,
        token: &SessionToken,
    ) -> Result<Option<UserRecord>, ServiceError> {
        Ok(self.current_session(token).await?.map(|c| c.user))
    }

    /// Ends the session server-side; the cookie alone is worthless afterwards.
    pub async fn logout(
        &self,
        token: &SessionToken,
        meta: &ClientMeta,
    ) -> Result<(), ServiceError> {
        let hash = token.hash();
        if let Some(session) = self.store.session(&hash).await? {
            self.store.delete_session(&hash).await?;
            self.audit(session.user_id, ActivityKind::SignedOut, meta, None)
                .await;
        }
        Ok(())
    }

    /// The user's live sessions: this one first, then the most recently used.
    pub async fn sessions(&self, current: &CurrentSession) -> Result<SessionList, ServiceError> {
        let now = self.clock.now();
        let mut sessions = self
            .store
            .sessions_of(current.user.id)
            .await?
            .into_iter()
            // Expired rows linger until the next purge; they are not sessions any more.
            .filter(|s| now < self.session_deadline(s))
            .map(|s| SessionView {
                current: s.token_hash == current.session.token_hash,
                device: s
                    .user_agent
                    .as_deref()
                    .and_then(device_summary)
                    .unwrap_or_else(|| "Unknown device".to_string()),
                id: s.id,
                created_at: s.created_at,
                last_seen_at: s.last_seen_at,
                expires_at: s.expires_at,
                ip: s.ip,
                remember: s.remember,
            })
            .collect::<Vec<_>>();
        // Stable: the store's most-recently-used order is kept behind this session.
        sessions.sort_by_key(|s| !s.current);
        Ok(SessionList {
            sessions,
            idle_timeout_secs: self.sessions.idle_timeout.as_secs(),
            absolute_timeout_secs: self.sessions.absolute_timeout.as_secs(),
        })
    }

    /// Ends one of the user's sessions by its public id; `NotFound` for anyone else's.
    pub async fn revoke_session(
        &self,
        user_id: i64,
        session_id: &str,
        meta: &ClientMeta,
    ) -> Result<(), ServiceError> {
        let target = self
            .store
            .sessions_of(user_id)
            .await?
            .into_iter()
            .find(|s| s.id == session_id);
        let Some(target) = target else {
            return Err(AppError::NotFound.into());
        };
        if !self.store.delete_user_session(user_id, session_id).await? {
            return Err(AppError::NotFound.into());
        }
        let detail = target.user_agent.as_deref().and_then(device_summary);
        let detail = match (detail, target.ip) {
            (Some(device), Some(ip)) => Some(format!("{device}, {ip}")),
            (device, ip) => device.or(ip),
        };
        self.audit(user_id, ActivityKind::SessionRevoked, meta, detail)
            .await;
        Ok(())
    }

    /// Ends every session of the user except the current one.
    pub async fn revoke_other_sessions(
        &self,
        current: &CurrentSession,
        meta: &ClientMeta,
    ) -> Result<u64, ServiceError> {
        let user_id = current.user.id;
        let ended = self
            .store
            .delete_other_sessions(user_id, &current.session.token_hash)
            .await?;
        let detail = format!("{} ended", count_of(ended, "session"));
        self.audit(
            user_id,
            ActivityKind::OtherSessionsRevoked,
            meta,
            Some(detail),
        )
        .await;
        Ok(ended)
    }

    /// Checks the current password of a signed-in person (password change, account
    /// deletion). A wrong guess counts against the same per-account throttle as a failed
    /// sign-in, so a stolen session cannot be used to guess the password quickly.
    async fn confirm_password(
        &self,
        user: &UserRecord,
        password: &str,
        field: &'static str,
        meta: &ClientMeta,
    ) -> Result<(), ServiceError> {
        let throttle_key = account_throttle_key(user);
        if let Err(wait) = self.throttle.check(&throttle_key).await {
            return Err(throttled(wait));
        }
        let verified = self
            .hasher
            .verify(
                SecretString::from(password.to_string()),
                Some(user.password_hash.as_str()),
            )
            .await?;
        if !verified {
            let detail = "current password entered on the account page";
            self.record_failed_password(&throttle_key, Some(user), meta, Some(detail.into()))
                .await;
            return Err(
                AppError::Validation(FieldErrors::single(field, WRONG_CURRENT_PASSWORD)).into(),
            );
        }
        self.throttle.clear(&throttle_key).await;
        Ok(())
    }

    /// Counts a wrong password against the account's throttle and, for a real account,
    /// records it in its activity log: the failure, and the lock-out once when this failure
    /// starts one (not once per refused attempt: an attacker hammering a throttled account
    /// must not turn each try into a database write). Failures for names without an account
    /// are only in the tracing log.
    async fn record_failed_password(
        &self,
        throttle_key: &str,
        user: Option<&UserRecord>,
        meta: &ClientMeta,
        detail: Option<String>,
    ) {
        let now_throttled = self.throttle.record_failure(throttle_key).await;
        if let Some(user) = user {
            self.audit(user.id, ActivityKind::SignInFailed, meta, detail)
                .await;
            if now_throttled {
                self.audit(user.id, ActivityKind::SignInThrottled, meta, None)
                    .await;
            }
        }
    }

    /// Changes the password of the person signed in with `current`. Every access token ends;
    /// other sessions end unless `keep_other_sessions`; this browser gets a new session (new
    /// token, new id) with the same remember-me choice, returned for the cookie.
    pub async fn change_password(
        &self,
        current: &CurrentSession,
        form: &ChangePasswordForm,
        keep_other_sessions: bool,
        meta: &ClientMeta,
    ) -> Result<SignedIn, ServiceError> {
        let user = &current.user;
        form.check(&self.policy, &user.username, &user.email)
            .map_err(AppError::from)?;
        self.confirm_password(user, &form.current_password, "current_password", meta)
            .await?;
        let hash = self
            .hasher
            .hash(SecretString::from(form.new_password.clone()))
            .await?;
        // One statement stores the hash and bumps the token version: no window in which the
        // new password works while old access tokens still do.
        self.store.replace_password(user.id, &hash).await?;
        let ended = if keep_other_sessions {
            self.store
                .delete_session(&current.session.token_hash)
                .await?;
            0
        } else {
            self.store.delete_user_sessions(user.id).await? - 1
        };
        let remember = current.session.remember;
        let token = self.start_session(user, remember, meta).await?;
        let detail = if keep_other_sessions {
            "other sessions kept, access tokens revoked".to_string()
        } else {
            format!(
                "{} ended, access tokens revoked",
                count_of(ended, "other session")
            )
        };
        self.audit(user.id, ActivityKind::PasswordChanged, meta, Some(detail))
            .await;
        let user = self
            .store
            .user_by_id(user.id)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        Ok(SignedIn {
            user,
            token,
            remember,
        })
    }

    /// Deletes the account after confirming its password: the user row, its sessions and
    /// API keys, and its activity log, leaving one `account.deleted` record (no address, no
    /// device) chained to the erased history. Every access token dies with the row.
    pub async fn delete_account(
        &self,
        user: &UserRecord,
        form: &DeleteAccountForm,
        meta: &ClientMeta,
    ) -> Result<(), ServiceError> {
        form.check(&user.username).map_err(AppError::from)?;
        self.confirm_password(user, &form.password, "password", meta)
            .await?;
        let record = NewAuditEvent {
            user_id: user.id,
            created_at: self.clock.now(),
            kind: ActivityKind::AccountDeleted.as_str().to_string(),
            ip: None,
            device: None,
            request_id: meta.request_id.clone(),
            detail: None,
        };
        let stored = self.store.delete_account(user.id, &record).await?;
        tracing::info!(
            event = ActivityKind::AccountDeleted.as_str(),
            user_id = user.id,
            chain_hash = %hex_prefix(&stored.hash),
        );
        Ok(())
    }

    /// The user's most recent security events, newest first.
    pub async fn activity(&self, user_id: i64) -> Result<Vec<ActivityView>, ServiceError> {
        let rows = self.store.audit_events_of(user_id, ACTIVITY_SHOWN).await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                Some(ActivityView {
                    kind: ActivityKind::parse(&row.event.kind)?,
                    at: row.event.created_at,
                    ip: row.event.ip,
                    device: row.event.device,
                    detail: row.event.detail,
                })
            })
            .collect())
    }

    /// Appends a security event to the user's chain and to the tracing log (with the new
    /// chain hash, which anchors the chain outside the database). A failed write is logged
    /// loudly but does not undo what already happened.
    async fn audit(
        &self,
        user_id: i64,
        kind: ActivityKind,
        meta: &ClientMeta,
        detail: Option<String>,
    ) {
        let event = NewAuditEvent {
            user_id,
            created_at: self.clock.now(),
            kind: kind.as_str().to_string(),
            ip: meta.ip.clone(),
            device: meta.device(),
            request_id: meta.request_id.clone(),
            detail,
        };
        match self.store.append_audit_event(&event).await {
            Ok(stored) => tracing::info!(
                event = kind.as_str(),
                user_id,
                ip = meta.ip.as_deref(),
                seq = stored.seq,
                chain_hash = %hex_prefix(&stored.hash),
            ),
            Err(error) => tracing::error!(
                event = kind.as_str(),
                user_id,
                %error,
                "could not write the security activity log"
            ),
        }
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

/// The first 8 bytes of a hash as hex: enough to anchor a chain head in the logs.
fn hex_prefix(hash: &[u8]) -> String {
    hash.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The throttle key of an existing account: sign-in and password confirmation share it.
fn account_throttle_key(user: &UserRecord) -> String {
    format!("user:{}", user.id)
}

/// The refusal while an account's throttle makes the next attempt wait `wait` seconds.
fn throttled(wait: u64) -> ServiceError {
    AppError::RateLimited {
        retry_after_secs: wait,
        limit: 0,
        window_secs: 0,
    }
    .into()
}
