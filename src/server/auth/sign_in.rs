//! Checking a password: sign-in (browser and OAuth2 password grant) and the confirmation the
//! account page asks for. Every path runs exactly one argon2 verification, under the per-IP
//! limit and the per-account throttle, and a wrong password counts the same wherever it was
//! typed.

use std::sync::Arc;

use secrecy::SecretString;

use crate::model::activity::ActivityKind;
use crate::model::forms::{LoginIdentifier, WRONG_CURRENT_PASSWORD};
use crate::model::{AppError, FieldErrors, LoginForm, Password};
use crate::server::clock::Clock;
use crate::server::db::{SignInChallengeRecord, Store, UserRecord};
use crate::server::error::ServiceError;
use crate::server::limits::throttle::{AccountThrottle, Attempt};
use crate::server::limits::Limits;
use crate::server::metrics;

use super::activity::ActivityLog;
use super::client::ClientMeta;
use super::failure_floor::FailureFloor;
use super::password::PasswordHasher;
use super::session::{SessionToken, CHALLENGE_LIFETIME_SECS};
use super::sessions::{Sessions, SignedIn};
use super::settings::VerificationMode;

/// What the right password leads to.
pub enum LoginOutcome {
    /// A session: the account has one factor.
    SignedIn(SignedIn),
    /// The account has two-factor on: no session yet. The token (for this browser's
    /// challenge cookie) names the sign-in that waits for a code (`TwoFactor::finish_sign_in`).
    SecondFactor(SessionToken),
}

#[derive(Clone)]
pub struct SignIn {
    pub(super) store: Arc<dyn Store>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) hasher: PasswordHasher,
    pub(super) limits: Arc<Limits>,
    pub(super) throttle: Arc<AccountThrottle>,
    pub(super) failure_floor: FailureFloor,
    /// `Required`: an account whose address is not confirmed does not sign in.
    pub(super) verification_mode: VerificationMode,
    pub(super) activity: ActivityLog,
    pub(super) sessions: Sessions,
}

impl SignIn {
    /// Signs in with a username or email and starts a browser session. Unknown account and
    /// wrong password are one error, and both run exactly one argon2 verification.
    pub async fn login(
        &self,
        form: &LoginForm,
        remember: bool,
        meta: &ClientMeta,
    ) -> Result<LoginOutcome, ServiceError> {
        let user = self.authenticate(form, meta).await?;
        if user.two_factor_enabled {
            // The password alone never makes a session for this account: a challenge waits
            // for the code, server-side, named by a token only this browser holds.
            let token = SessionToken::generate();
            let now = self.clock.now();
            self.store
                .insert_sign_in_challenge(&SignInChallengeRecord {
                    token_hash: token.hash(),
                    user_id: user.id,
                    remember,
                    created_at: now,
                    expires_at: now + CHALLENGE_LIFETIME_SECS,
                    token_version: user.token_version,
                    failures: 0,
                })
                .await?;
            tracing::info!(event = "login.second_factor_required", user_id = user.id);
            return Ok(LoginOutcome::SecondFactor(token));
        }
        let signed_in = self.sessions.start(&user, remember, meta).await?;
        self.record_signed_in(&user, remember, None, meta).await;
        Ok(LoginOutcome::SignedIn(signed_in))
    }

    /// "Signed in" in the activity log, saying how when it is worth saying.
    pub(super) async fn record_signed_in(
        &self,
        user: &UserRecord,
        remember: bool,
        second_factor: Option<&str>,
        meta: &ClientMeta,
    ) {
        let parts: Vec<&str> = [
            second_factor,
            remember.then_some("remembered on this device"),
        ]
        .into_iter()
        .flatten()
        .collect();
        let detail = (!parts.is_empty()).then(|| parts.join(", "));
        self.activity
            .record(user.id, ActivityKind::SignedIn, meta, detail)
            .await;
    }

    /// Checks credentials under the per-IP limit and the per-account throttle: the one path
    /// both browser sign-in and the OAuth2 password grant go through. The caller records the
    /// success (a session or an access token) in the activity log.
    pub(super) async fn authenticate(
        &self,
        form: &LoginForm,
        meta: &ClientMeta,
    ) -> Result<UserRecord, ServiceError> {
        if let Err(refused) = self.limits.check(&self.limits.login, meta.ip_key()).await {
            metrics::sign_in("rate_limited");
            return Err(refused.into());
        }
        if let Err(fields) = form.check() {
            metrics::sign_in("invalid");
            return Err(AppError::from(fields).into());
        }
        // From here on a failure depends on the account, so it takes the same time whichever
        // way it failed (`failure_floor`).
        let started = tokio::time::Instant::now();
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
        // Counted before the password is checked, in one atomic step with the check (see
        // `limits::throttle`); a success below clears it.
        let attempt = match self.throttle.reserve(&throttle_key).await {
            Ok(attempt) => attempt,
            Err(wait) => {
                tracing::warn!(
                    event = "login.throttled",
                    user_id = user.as_ref().map(|u| u.id),
                    wait_secs = wait
                );
                metrics::sign_in("throttled");
                return Err(throttled(wait));
            }
        };
        let password = SecretString::from(form.password.expose());
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
                self.record_failed_password(attempt, user.as_ref(), meta, None)
                    .await;
                self.failure_floor.wait_out(started).await;
                metrics::sign_in("wrong_credentials");
                return Err(AppError::InvalidCredentials.into());
            }
        };
        self.throttle.clear(&throttle_key).await;
        if self.hasher.needs_rehash(&user.password_hash) {
            self.upgrade_hash(&user, password).await;
        }
        // After the password: only someone who knows it learns that the address waits for
        // confirmation (and is offered a new link).
        self.check_may_sign_in(&user)?;
        // An account with two-factor on is not in yet: its code step counts the outcome.
        metrics::sign_in(if user.two_factor_enabled {
            "second_factor_required"
        } else {
            "success"
        });
        Ok(user)
    }

    /// Refuses an account that may not sign in yet, whatever proved who they are: in
    /// `EMAIL_VERIFICATION=required`, one whose address waits for confirmation.
    pub(super) fn check_may_sign_in(&self, user: &UserRecord) -> Result<(), ServiceError> {
        if self.verification_mode == VerificationMode::Required && user.email_verified_at.is_none()
        {
            tracing::info!(event = "login.unverified", user_id = user.id);
            metrics::sign_in("unverified");
            return Err(AppError::EmailNotVerified.into());
        }
        Ok(())
    }

    /// Checks the current password of a signed-in person (password change, account
    /// deletion, a new API key). A wrong guess counts against the same per-account throttle as a failed
    /// sign-in, so a stolen session cannot be used to guess the password quickly.
    pub(super) async fn confirm_password(
        &self,
        user: &UserRecord,
        password: &Password,
        field: &'static str,
        meta: &ClientMeta,
    ) -> Result<(), ServiceError> {
        let throttle_key = account_throttle_key(user);
        let attempt = self
            .throttle
            .reserve(&throttle_key)
            .await
            .map_err(throttled)?;
        let verified = self
            .hasher
            .verify(
                SecretString::from(password.expose()),
                Some(user.password_hash.as_str()),
            )
            .await?;
        if !verified {
            let detail = "wrong current password given to confirm a change";
            self.record_failed_password(attempt, Some(user), meta, Some(detail.into()))
                .await;
            return Err(
                AppError::Validation(FieldErrors::single(field, WRONG_CURRENT_PASSWORD)).into(),
            );
        }
        self.throttle.clear(&throttle_key).await;
        Ok(())
    }

    /// Records a wrong password (already counted by the throttle when the attempt was
    /// reserved) in a real account's activity log: the failure, and the lock-out once when
    /// this failure starts one (not once per refused attempt: an attacker hammering a
    /// throttled account must not turn each try into a database write). Failures for names
    /// without an account are only in the tracing log.
    pub(super) async fn record_failed_password(
        &self,
        attempt: Attempt,
        user: Option<&UserRecord>,
        meta: &ClientMeta,
        detail: Option<String>,
    ) {
        if let Some(user) = user {
            self.activity
                .record(user.id, ActivityKind::SignInFailed, meta, detail)
                .await;
            if attempt.starts_waiting() {
                self.activity
                    .record(user.id, ActivityKind::SignInThrottled, meta, None)
                    .await;
            }
        }
    }

    /// Replaces a hash made with older parameters. Failure is logged, not fatal: the person
    /// proved their password and is signed in either way.
    async fn upgrade_hash(&self, user: &UserRecord, password: SecretString) {
        let result = async {
            let hash = self.hasher.hash(password).await?;
            self.store
                .set_password_hash(user.id, &user.password_hash, &hash)
                .await
                .map_err(ServiceError::from)
        }
        .await;
        match result {
            Ok(true) => tracing::info!(event = "password.rehashed", user_id = user.id),
            // The password changed while we hashed the old one: keep the new one.
            Ok(false) => tracing::info!(event = "password.rehash_skipped", user_id = user.id),
            Err(error) => {
                tracing::warn!(event = "password.rehash_failed", user_id = user.id, %error)
            }
        }
    }
}

/// The throttle key of an existing account: sign-in, password confirmation and two-factor
/// codes share it.
pub(super) fn account_throttle_key(user: &UserRecord) -> String {
    format!("user:{}", user.id)
}

/// The refusal while an account's throttle makes the next attempt wait `wait` seconds.
pub(super) fn throttled(wait: u64) -> ServiceError {
    AppError::RateLimited {
        retry_after_secs: wait,
        limit: 0,
        window_secs: 0,
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use crate::server::limits::throttle::FREE_FAILURES;
    use std::time::Duration;

    fn login(name: &str, password: &str) -> LoginForm {
        LoginForm {
            username: name.into(),
            password: password.into(),
        }
    }

    /// A browser sign-in (not remembered) through the fixture's services.
    async fn attempt(
        f: &Fixture,
        name: &str,
        password: &str,
    ) -> Result<LoginOutcome, ServiceError> {
        f.auth
            .sign_in
            .login(&login(name, password), false, &meta())
            .await
    }

    #[tokio::test]
    async fn unknown_accounts_and_wrong_passwords_get_one_answer_and_one_verification() {
        let f = fixture().await;
        f.register("alice").await;
        let hasher = f.auth.sign_in.hasher.clone();
        for (name, password) in [("alice", "not the password"), ("nobody", PASSWORD)] {
            let before = hasher.verification_count();
            let refused = attempt(&f, name, password).await;
            assert!(
                matches!(
                    refused,
                    Err(ServiceError::Client(AppError::InvalidCredentials))
                ),
                "{name}"
            );
            assert_eq!(hasher.verification_count(), before + 1, "{name}");
        }
        // By email too, in any case.
        assert!(attempt(&f, "ALICE@example.com", PASSWORD).await.is_ok());
    }

    #[tokio::test]
    async fn every_failed_sign_in_takes_at_least_the_floor_whatever_failed() {
        let f = fixture().await;
        f.register("alice").await;
        f.register("bob").await;
        // bob was imported from the seed app: a bcrypt hash (cheap cost here, 12 there).
        let bob = f.store.user_by_username("bob").await.unwrap().unwrap();
        let seed_hash = bcrypt::hash(PASSWORD, 4).unwrap();
        assert!(f
            .store
            .set_password_hash(bob.id, &bob.password_hash, &seed_hash)
            .await
            .unwrap());
        let floor = Duration::from_millis(300);
        let mut sign_in = f.auth.sign_in.clone();
        sign_in.failure_floor = FailureFloor::fixed(floor);
        let over_bcrypt_limit = "x".repeat(73);
        for (name, password) in [
            ("nobody", PASSWORD),
            ("alice", "not the password"),
            ("bob", "not the password"),
            // Refused before any hashing (bcrypt reads 72 bytes only).
            ("bob", over_bcrypt_limit.as_str()),
        ] {
            let started = tokio::time::Instant::now();
            let refused = sign_in.login(&login(name, password), false, &meta()).await;
            let took = started.elapsed();
            assert!(
                matches!(
                    refused,
                    Err(ServiceError::Client(AppError::InvalidCredentials))
                ),
                "{name}"
            );
            assert!(took >= floor, "{name}: answered after {took:?}");
        }
        // The floor is for failures: the right password is not held back by it.
        assert!(sign_in
            .login(&login("bob", PASSWORD), false, &meta())
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn repeated_failures_delay_the_account_and_a_success_clears_them() {
        let f = fixture().await;
        f.register("alice").await;
        for _ in 0..FREE_FAILURES {
            let refused = attempt(&f, "alice", "wrong guess").await;
            assert!(matches!(
                refused,
                Err(ServiceError::Client(AppError::InvalidCredentials))
            ));
        }
        // Even the right password waits now: the answer must not tell a guesser it was right.
        let delayed = attempt(&f, "alice", PASSWORD).await;
        assert!(matches!(
            delayed,
            Err(ServiceError::Client(AppError::RateLimited { .. }))
        ));
        f.advance(60);
        assert!(attempt(&f, "alice", PASSWORD).await.is_ok());
        assert!(f.auth.sign_in.throttle.reserve("user:1").await.is_ok());
    }

    #[tokio::test]
    async fn an_account_has_one_count_by_name_or_address_and_it_slows_no_other_account() {
        let f = fixture().await;
        f.register("alice").await;
        f.register("bob").await;
        // Guesses by username and by address add up: both name the same account.
        for i in 0..FREE_FAILURES {
            let name = if i % 2 == 0 {
                "alice"
            } else {
                "Alice@Example.com"
            };
            assert!(matches!(
                attempt(&f, name, "wrong guess").await,
                Err(ServiceError::Client(AppError::InvalidCredentials))
            ));
        }
        for name in ["alice", "alice@example.com"] {
            assert!(matches!(
                attempt(&f, name, PASSWORD).await,
                Err(ServiceError::Client(AppError::RateLimited { .. }))
            ));
        }
        // Someone else's account is not held back by them.
        assert!(matches!(
            attempt(&f, "bob", PASSWORD).await,
            Ok(LoginOutcome::SignedIn(_))
        ));
    }

    #[tokio::test]
    async fn a_wrong_current_password_is_a_field_error_and_counts_as_a_failure() {
        let f = fixture().await;
        let signed_in = f.register("alice").await;
        let current = f.current(&signed_in).await;
        let refused = f
            .auth
            .sign_in
            .confirm_password(&current.user, &"nope nope".into(), "password", &meta())
            .await;
        let Err(ServiceError::Client(AppError::Validation(fields))) = refused else {
            panic!("not a field error");
        };
        assert_eq!(fields.get("password"), Some(WRONG_CURRENT_PASSWORD));
        let events = f.auth.activity.recent(current.user_id()).await.unwrap();
        assert_eq!(events[0].kind, ActivityKind::SignInFailed);
    }

    #[tokio::test]
    async fn an_unconfirmed_address_is_told_only_to_someone_who_knows_the_password() {
        let f = fixture_in(VerificationMode::Required).await;
        f.auth
            .registration
            .register(&register_form("alice"), &meta())
            .await
            .unwrap();
        // A wrong password learns nothing about the address.
        assert!(matches!(
            attempt(&f, "alice", "not the password").await,
            Err(ServiceError::Client(AppError::InvalidCredentials))
        ));
        assert!(matches!(
            attempt(&f, "alice", PASSWORD).await,
            Err(ServiceError::Client(AppError::EmailNotVerified))
        ));
        let alice = f.store.user_by_username("alice").await.unwrap().unwrap();
        assert!(f
            .store
            .set_email_verified(alice.id, &alice.email_canonical, START)
            .await
            .unwrap());
        assert!(matches!(
            attempt(&f, "alice", PASSWORD).await,
            Ok(LoginOutcome::SignedIn(_))
        ));
    }

    #[tokio::test]
    async fn a_sign_in_is_logged_saying_whether_this_device_is_remembered() {
        let f = fixture().await;
        let alice = f.register("alice").await;
        let user_id = f.current(&alice).await.user_id();
        for (remember, detail) in [(false, None), (true, Some("remembered on this device"))] {
            f.login("alice", remember).await;
            let events = f.auth.activity.recent(user_id).await.unwrap();
            assert_eq!(events[0].kind, ActivityKind::SignedIn, "{remember}");
            assert_eq!(events[0].detail.as_deref(), detail, "{remember}");
        }
    }

    #[test]
    fn a_throttled_account_is_told_how_long_to_wait_and_nothing_else() {
        let ServiceError::Client(AppError::RateLimited {
            retry_after_secs,
            limit,
            window_secs,
        }) = throttled(42)
        else {
            panic!("not a rate-limit refusal");
        };
        assert_eq!((retry_after_secs, limit, window_secs), (42, 0, 0));
    }
}
