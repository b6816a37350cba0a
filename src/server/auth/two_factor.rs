//! Two-factor sign-in: turning it on (an authenticator app, confirmed by its first code, and
//! ten recovery codes), renewing the recovery codes, turning it off, and the sign-in step
//! that asks for a code after the password.
//!
//! Every wrong code, wherever it is typed, counts against the same per-account throttle as a
//! wrong password (`sign_in::account_throttle_key`), so a stolen password plus a stolen
//! session cannot guess codes quickly. Every change ends the account's other sessions and
//! sends its owner a notice.

use std::sync::Arc;

use crate::model::activity::{count_of, ActivityKind};
use crate::model::two_factor::{
    DisableTwoFactorForm, Enrolment, PasswordConfirmForm, RecoveryCodes, SecondFactorCode,
    SecondFactorForm, TwoFactorStatus, CODE_ALREADY_USED, WRONG_CODE,
};
use crate::model::{AppError, FieldErrors};
use crate::server::clock::Clock;
use crate::server::db::{NewRecoveryCodes, Store, TwoFactorRecord, UserRecord};
use crate::server::error::ServiceError;
use crate::server::limits::throttle::AccountThrottle;
use crate::server::limits::Limits;
use crate::server::metrics;

use super::activity::ActivityLog;
use super::client::ClientMeta;
use super::notices::{Notices, TwoFactorChange};
use super::password::PasswordHasher;
use super::recovery_codes;
use super::secret_box::SecretBox;
use super::session::SessionToken;
use super::sessions::{CurrentSession, Sessions, SignedIn};
use super::sign_in::{account_throttle_key, throttled, SignIn};
use super::totp::{self, TotpSecret};

/// The label of the key that seals TOTP secrets and recovery codes waiting to be shown.
pub const SEALING_LABEL: &str = "gatehouse/two-factor/xchacha20poly1305/v1";
/// An enrolment shows its secret for this long; then it must be started again.
pub const ENROLMENT_LIFETIME_SECS: i64 = 30 * 60;
/// New recovery codes can be shown (once) for this long after they were made.
pub const REVEAL_LIFETIME_SECS: i64 = 10 * 60;
/// Wrong codes one waiting sign-in takes before it ends (the password must be typed again).
pub const MAX_CHALLENGE_FAILURES: i64 = 5;

pub const ALREADY_ON: &str = "Two-factor authentication is already on.";
pub const NOT_ON: &str = "Two-factor authentication is not on.";
pub const SETUP_EXPIRED: &str = "This setup has expired. Start again.";
pub const RECOVERY_CODE_CANNOT_CONFIRM: &str =
    "Enter the 6-digit code your authenticator app shows now.";

#[derive(Clone)]
pub struct TwoFactor {
    pub(super) store: Arc<dyn Store>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) hasher: PasswordHasher,
    pub(super) limits: Arc<Limits>,
    pub(super) throttle: Arc<AccountThrottle>,
    pub(super) sealer: SecretBox,
    pub(super) activity: ActivityLog,
    pub(super) sessions: Sessions,
    pub(super) sign_in: SignIn,
    pub(super) notices: Notices,
}

/// Which kind of code was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UsedFactor {
    Authenticator,
    Recovery,
}

fn secret_context(user_id: i64) -> Vec<u8> {
    format!("totp-secret/user:{user_id}").into_bytes()
}

fn codes_context(user_id: i64) -> Vec<u8> {
    format!("recovery-codes/user:{user_id}").into_bytes()
}

fn code_error(message: &str) -> ServiceError {
    AppError::Validation(FieldErrors::single("code", message)).into()
}

fn password_error(message: &str) -> ServiceError {
    AppError::Validation(FieldErrors::single("password", message)).into()
}

impl TwoFactor {
    /// What `/account` shows: on or off, the recovery codes left, and an enrolment waiting for
    /// its first code (with its secret: shown until confirmed, never after).
    pub async fn status(&self, current: &CurrentSession) -> Result<TwoFactorStatus, ServiceError> {
        let user_id = current.user.id;
        let record = self.store.two_factor_of(user_id).await?;
        // The codes are counted only where the status shows them.
        let recovery_codes_left = match &record {
            Some(record) if record.enabled_at.is_some() => {
                self.store.count_recovery_codes(user_id).await?
            }
            _ => 0,
        };
        self.status_of(current, record, recovery_codes_left)
    }

    /// `status` from the enrolment and the count of recovery codes left, read already.
    pub(super) fn status_of(
        &self,
        current: &CurrentSession,
        record: Option<TwoFactorRecord>,
        recovery_codes_left: u64,
    ) -> Result<TwoFactorStatus, ServiceError> {
        let user = &current.user;
        let Some(record) = record else {
            return Ok(TwoFactorStatus {
                enabled: false,
                recovery_codes_left: 0,
                enrolment: None,
            });
        };
        if record.enabled_at.is_some() {
            return Ok(TwoFactorStatus {
                enabled: true,
                recovery_codes_left,
                enrolment: None,
            });
        }
        let enrolment = match self.live_enrolment_secret(&record) {
            Some(secret) => {
                let otpauth_url = secret.otpauth_url(&user.username);
                let qr_svg = totp::qr_svg(&otpauth_url).ok_or_else(|| {
                    ServiceError::Internal("the enrolment QR code could not be drawn".into())
                })?;
                Some(Enrolment {
                    secret_base32: secret.base32_grouped(),
                    otpauth_url,
                    qr_svg,
                })
            }
            None => None,
        };
        Ok(TwoFactorStatus {
            enabled: false,
            recovery_codes_left: 0,
            enrolment,
        })
    }

    /// The secret of an unfinished enrolment that has not expired.
    fn live_enrolment_secret(&self, record: &TwoFactorRecord) -> Option<TotpSecret> {
        let fresh = self.clock.now() - record.created_at < ENROLMENT_LIFETIME_SECS;
        (record.enabled_at.is_none() && fresh)
            .then(|| self.open_secret(record))
            .flatten()
    }

    fn open_secret(&self, record: &TwoFactorRecord) -> Option<TotpSecret> {
        let opened = self
            .sealer
            .open(&record.secret, &secret_context(record.user_id));
        if opened.is_none() {
            // Not the client's fault, and not something to hide from the operator.
            tracing::error!(
                event = "two_factor.secret_unreadable",
                user_id = record.user_id,
                "a TOTP secret does not open: SECRET_KEY changed since it was sealed?"
            );
        }
        opened.map(TotpSecret::from_bytes)
    }

    /// Starts an enrolment after the current password: a new secret, sealed, shown on the
    /// account page until its first code confirms it. Starting again replaces the secret.
    pub async fn start(
        &self,
        current: &CurrentSession,
        form: &PasswordConfirmForm,
        meta: &ClientMeta,
    ) -> Result<(), ServiceError> {
        form.check().map_err(AppError::from)?;
        let user = &current.user;
        if user.two_factor_enabled {
            return Err(password_error(ALREADY_ON));
        }
        self.sign_in
            .confirm_password(user, &form.password, "password", meta)
            .await?;
        let secret = TotpSecret::generate();
        let sealed = self.sealer.seal(secret.expose(), &secret_context(user.id));
        if !self
            .store
            .begin_two_factor(user.id, &sealed, self.clock.now())
            .await?
        {
            return Err(password_error(ALREADY_ON));
        }
        tracing::info!(event = "two_factor.enrolment_started", user_id = user.id);
        Ok(())
    }

    /// Drops an unfinished enrolment (its secret is never used).
    pub async fn cancel(&self, current: &CurrentSession) -> Result<(), ServiceError> {
        if !current.user.two_factor_enabled {
            self.store.delete_two_factor(current.user.id).await?;
        }
        Ok(())
    }

    /// Finishes an enrolment with the first code from the app: two-factor is on, ten recovery
    /// codes wait to be shown (once, to this session), the other sessions end.
    pub async fn confirm(
        &self,
        current: &CurrentSession,
        form: &SecondFactorForm,
        meta: &ClientMeta,
    ) -> Result<(), ServiceError> {
        let SecondFactorCode::Authenticator(code) = form.check().map_err(AppError::from)? else {
            return Err(code_error(RECOVERY_CODE_CANNOT_CONFIRM));
        };
        let user = &current.user;
        if user.two_factor_enabled {
            return Err(code_error(ALREADY_ON));
        }
        let record = self.store.two_factor_of(user.id).await?;
        let Some(secret) = record
            .as_ref()
            .and_then(|record| self.live_enrolment_secret(record))
        else {
            return Err(code_error(SETUP_EXPIRED));
        };
        let key = account_throttle_key(user);
        let attempt = self.throttle.reserve(&key).await.map_err(throttled)?;
        let Some(step) = secret.matching_step(&code, self.clock.now()) else {
            self.record_wrong_code(
                user,
                attempt.starts_waiting(),
                "turning on two-factor",
                meta,
            )
            .await;
            return Err(code_error(WRONG_CODE));
        };
        self.throttle.clear(&key).await;
        let stored = self.new_recovery_codes(current).await?;
        if !self
            .store
            .enable_two_factor(user.id, step, self.clock.now(), &stored)
            .await?
        {
            // Finished by another request meanwhile (a double submit).
            return Err(code_error(ALREADY_ON));
        }
        self.changed(
            current,
            ActivityKind::TwoFactorEnabled,
            TwoFactorChange::Enabled,
            meta,
        )
        .await
    }

    /// New recovery codes after the current password: the old ones stop working, the new ones
    /// wait to be shown (once, to this session), the other sessions end.
    pub async fn regenerate_recovery_codes(
        &self,
        current: &CurrentSession,
        form: &PasswordConfirmForm,
        meta: &ClientMeta,
    ) -> Result<(), ServiceError> {
        form.check().map_err(AppError::from)?;
        let user = &current.user;
        if !user.two_factor_enabled {
            return Err(password_error(NOT_ON));
        }
        self.sign_in
            .confirm_password(user, &form.password, "password", meta)
            .await?;
        let stored = self.new_recovery_codes(current).await?;
        self.store.replace_recovery_codes(user.id, &stored).await?;
        self.changed(
            current,
            ActivityKind::RecoveryCodesRegenerated,
            TwoFactorChange::RecoveryCodesRegenerated,
            meta,
        )
        .await
    }

    /// Turns two-factor off after the password and a code (an authenticator code or a
    /// recovery code): the secret and the codes are deleted, the other sessions end.
    pub async fn disable(
        &self,
        current: &CurrentSession,
        form: &DisableTwoFactorForm,
        meta: &ClientMeta,
    ) -> Result<(), ServiceError> {
        let code = form.check().map_err(AppError::from)?;
        let user = &current.user;
        if !user.two_factor_enabled {
            return Err(code_error(NOT_ON));
        }
        self.sign_in
            .confirm_password(user, &form.password, "password", meta)
            .await?;
        self.check_code(user, &code, "turning off two-factor", meta)
            .await?;
        self.store.delete_two_factor(user.id).await?;
        self.changed(
            current,
            ActivityKind::TwoFactorDisabled,
            TwoFactorChange::Disabled,
            meta,
        )
        .await
    }

    /// The recovery codes made by this session, the first time it asks (then never again).
    pub async fn take_recovery_codes(
        &self,
        current: &CurrentSession,
    ) -> Result<Option<RecoveryCodes>, ServiceError> {
        let user_id = current.user.id;
        let Some(sealed) = self
            .store
            .take_recovery_code_reveal(user_id, &current.session.id, self.clock.now())
            .await?
        else {
            return Ok(None);
        };
        let opened = self
            .sealer
            .open(&sealed, &codes_context(user_id))
            .ok_or_else(|| ServiceError::Internal("recovery codes to show do not open".into()))?;
        let text = String::from_utf8(opened)
            .map_err(|_| ServiceError::Internal("recovery codes to show are not text".into()))?;
        Ok(Some(RecoveryCodes(
            text.lines().map(str::to_string).collect(),
        )))
    }

    /// Is the sign-in this browser's challenge cookie names still waiting for a code?
    pub async fn sign_in_waiting(&self, token: &SessionToken) -> Result<bool, ServiceError> {
        Ok(self
            .store
            .sign_in_challenge(&token.hash())
            .await?
            .is_some_and(|challenge| self.clock.now() < challenge.expires_at))
    }

    /// The second step of signing in to an account with two-factor on: the code (an
    /// authenticator code or a recovery code) for the sign-in whose password was right. Only
    /// now is the session made, with the "remember me" choice of the first step.
    pub async fn finish_sign_in(
        &self,
        token: &SessionToken,
        form: &SecondFactorForm,
        meta: &ClientMeta,
    ) -> Result<SignedIn, ServiceError> {
        self.limits
            .check(&self.limits.two_factor, meta.ip_key())
            .await?;
        let code = form.check().map_err(AppError::from)?;
        let hash = token.hash();
        let user = self.waiting_sign_in(&hash).await?;
        let used = match self.check_code(&user, &code, "at sign-in", meta).await {
            Ok(used) => used,
            Err(ServiceError::Client(AppError::Validation(fields))) => {
                metrics::sign_in("wrong_code");
                let failures = self.store.fail_sign_in_challenge(&hash).await?;
                if failures >= MAX_CHALLENGE_FAILURES {
                    self.store.take_sign_in_challenge(&hash).await?;
                    tracing::warn!(event = "login.challenge_exhausted", user_id = user.id);
                }
                return Err(AppError::Validation(fields).into());
            }
            Err(other) => return Err(other),
        };
        let how = match used {
            UsedFactor::Authenticator => "with an authenticator code",
            UsedFactor::Recovery => "with a recovery code",
        };
        self.complete_sign_in(&hash, &user, how, meta).await
    }

    /// The account of the sign-in waiting for its second step under this challenge token
    /// hash, while it is live and still stands: a password change (or two-factor going off)
    /// since the password was checked drops it, and the person starts over.
    pub(super) async fn waiting_sign_in(
        &self,
        challenge_hash: &[u8],
    ) -> Result<UserRecord, ServiceError> {
        let challenge = self
            .store
            .sign_in_challenge(challenge_hash)
            .await?
            .filter(|challenge| self.clock.now() < challenge.expires_at)
            .ok_or(AppError::SignInExpired)?;
        let user = self.store.user_by_id(challenge.user_id).await?;
        match user
            .filter(|user| user.token_version == challenge.token_version && user.two_factor_enabled)
        {
            Some(user) => Ok(user),
            None => {
                self.store.take_sign_in_challenge(challenge_hash).await?;
                Err(AppError::SignInExpired.into())
            }
        }
    }

    /// Ends a waiting sign-in whose second step was right (`how`: which factor, for the
    /// activity log): the session starts, with the "remember me" choice of the first step.
    pub(super) async fn complete_sign_in(
        &self,
        challenge_hash: &[u8],
        user: &UserRecord,
        how: &str,
        meta: &ClientMeta,
    ) -> Result<SignedIn, ServiceError> {
        // Taken in one statement: of two requests racing with one challenge, one gets it.
        let challenge = self
            .store
            .take_sign_in_challenge(challenge_hash)
            .await?
            .ok_or(AppError::SignInExpired)?;
        let signed_in = self.sessions.start(user, challenge.remember, meta).await?;
        metrics::sign_in("success");
        self.sign_in
            .record_signed_in(user, challenge.remember, Some(how), meta)
            .await;
        Ok(signed_in)
    }

    /// Checks a code of an account with two-factor on, under the per-account throttle. An
    /// authenticator code is accepted once (its step, and every earlier one, is then spent);
    /// a recovery code is used up. A wrong code is a `code` field error and is logged.
    async fn check_code(
        &self,
        user: &UserRecord,
        code: &SecondFactorCode,
        context: &str,
        meta: &ClientMeta,
    ) -> Result<UsedFactor, ServiceError> {
        let key = account_throttle_key(user);
        let attempt = self.throttle.reserve(&key).await.map_err(throttled)?;
        let record = self
            .store
            .two_factor_of(user.id)
            .await?
            .filter(|record| record.enabled_at.is_some())
            .ok_or_else(|| code_error(NOT_ON))?;
        let outcome = match code {
            SecondFactorCode::Authenticator(code) => {
                let secret = self.open_secret(&record).ok_or_else(|| {
                    ServiceError::Internal("the account's TOTP secret does not open".into())
                })?;
                match secret.matching_step(code, self.clock.now()) {
                    None => Err(WRONG_CODE),
                    Some(step) if self.store.use_totp_step(user.id, step).await? => {
                        Ok(UsedFactor::Authenticator)
                    }
                    Some(_) => Err(CODE_ALREADY_USED),
                }
            }
            SecondFactorCode::Recovery(code) => {
                let salt = record.recovery_salt.as_deref().unwrap_or_default();
                let digest = recovery_codes::digest(&self.hasher, code, salt).await?;
                if self.store.use_recovery_code(user.id, &digest).await? {
                    Ok(UsedFactor::Recovery)
                } else {
                    Err(WRONG_CODE)
                }
            }
        };
        match outcome {
            Ok(used) => {
                self.throttle.clear(&key).await;
                if used == UsedFactor::Recovery {
                    self.recovery_code_used(user, meta).await?;
                }
                Ok(used)
            }
            Err(message) => {
                tracing::warn!(
                    event = "two_factor.code_refused",
                    user_id = user.id,
                    replay = message == CODE_ALREADY_USED,
                    ip = meta.ip.as_deref(),
                );
                self.record_wrong_code(user, attempt.starts_waiting(), context, meta)
                    .await;
                Err(code_error(message))
            }
        }
    }

    async fn recovery_code_used(
        &self,
        user: &UserRecord,
        meta: &ClientMeta,
    ) -> Result<(), ServiceError> {
        let left = self.store.count_recovery_codes(user.id).await?;
        self.activity
            .record(
                user.id,
                ActivityKind::RecoveryCodeUsed,
                meta,
                Some(format!("{} left", count_of(left, "code"))),
            )
            .await;
        self.notices
            .two_factor_changed(user, TwoFactorChange::RecoveryCodeUsed { left }, meta);
        Ok(())
    }

    async fn record_wrong_code(
        &self,
        user: &UserRecord,
        starts_waiting: bool,
        context: &str,
        meta: &ClientMeta,
    ) {
        self.activity
            .record(
                user.id,
                ActivityKind::SecondFactorFailed,
                meta,
                Some(format!("wrong code {context}")),
            )
            .await;
        if starts_waiting {
            self.activity
                .record(user.id, ActivityKind::SignInThrottled, meta, None)
                .await;
        }
    }

    /// Ten new codes: their digests under a new salt, and the codes sealed for this session.
    async fn new_recovery_codes(
        &self,
        current: &CurrentSession,
    ) -> Result<NewRecoveryCodes, ServiceError> {
        let user_id = current.user.id;
        let codes = recovery_codes::generate();
        let salt = recovery_codes::new_salt();
        let mut digests = Vec::with_capacity(codes.len());
        for code in &codes {
            digests.push(recovery_codes::digest(&self.hasher, code, &salt).await?);
        }
        let sealed_codes = self
            .sealer
            .seal(codes.join("\n").as_bytes(), &codes_context(user_id));
        Ok(NewRecoveryCodes {
            salt,
            digests,
            reveal_to_session: current.session.id.clone(),
            sealed_codes,
            reveal_until: self.clock.now() + REVEAL_LIFETIME_SECS,
        })
    }

    /// What follows every change to the second factor: the other sessions end, the activity
    /// log says so, and the owner gets a notice.
    async fn changed(
        &self,
        current: &CurrentSession,
        kind: ActivityKind,
        change: TwoFactorChange,
        meta: &ClientMeta,
    ) -> Result<(), ServiceError> {
        let user = &current.user;
        let ended = self
            .store
            .delete_other_sessions(user.id, &current.session.token_hash)
            .await?;
        self.activity
            .record(
                user.id,
                kind,
                meta,
                Some(format!("{} ended", count_of(ended, "other session"))),
            )
            .await;
        self.notices.two_factor_changed(user, change, meta);
        Ok(())
    }

    /// Deletes sign-ins that waited too long and recovery codes nobody came to see.
    pub async fn purge_expired(&self) -> Result<u64, ServiceError> {
        Ok(self
            .store
            .delete_expired_two_factor_state(self.clock.now())
            .await?)
    }
}

/// What `gatehouse two-factor reset` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperatorReset {
    NoSuchAccount,
    NotEnabled,
    Reset {
        username: String,
        sessions_ended: u64,
    },
}

/// Turns two-factor off for an account whose owner lost both the authenticator and the
/// recovery codes (or after `SECRET_KEY` changed): the support path, run by an operator once
/// they have checked who is asking. Every session and access token of the account ends, the
/// activity log says an operator did it, and the owner is told by mail, so a reset they did
/// not ask for does not go unnoticed.
pub async fn reset_by_operator(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    notices: Notices,
    account: &str,
) -> Result<OperatorReset, ServiceError> {
    let form = crate::model::LoginForm {
        username: account.to_string(),
        password: Default::default(),
    };
    let user = match form.identifier() {
        crate::model::forms::LoginIdentifier::Email(email) => store.user_by_email(&email).await?,
        crate::model::forms::LoginIdentifier::Username(name) => {
            store.user_by_username(&name).await?
        }
    };
    let Some(user) = user else {
        return Ok(OperatorReset::NoSuchAccount);
    };
    if !user.two_factor_enabled {
        return Ok(OperatorReset::NotEnabled);
    }
    store.delete_two_factor(user.id).await?;
    store.bump_token_version(user.id).await?;
    let sessions_ended = store.delete_user_sessions(user.id).await?;
    let meta = ClientMeta {
        ip: None,
        user_agent: None,
        request_id: Some("gatehouse two-factor reset".into()),
    };
    ActivityLog { store, clock }
        .record(
            user.id,
            ActivityKind::TwoFactorDisabled,
            &meta,
            Some(format!(
                "reset by an operator; {} ended, access tokens revoked",
                count_of(sessions_ended, "session")
            )),
        )
        .await;
    notices.two_factor_changed(&user, TwoFactorChange::ResetByOperator, &meta);
    tracing::warn!(event = "two_factor.reset_by_operator", user_id = user.id);
    Ok(OperatorReset::Reset {
        username: user.username,
        sessions_ended,
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::{LoginOutcome, SignedIn};
    use super::*;
    use crate::model::LoginForm;

    fn password_form(password: &str) -> PasswordConfirmForm {
        PasswordConfirmForm {
            password: password.into(),
        }
    }

    fn code(code: &str) -> SecondFactorForm {
        SecondFactorForm { code: code.into() }
    }

    fn field_error(result: Result<impl Sized, ServiceError>, field: &str) -> String {
        match result {
            Err(ServiceError::Client(AppError::Validation(fields))) => fields
                .get(field)
                .unwrap_or_else(|| panic!("no error on {field}"))
                .to_string(),
            Err(other) => panic!("not a field error: {other:?}"),
            Ok(_) => panic!("accepted"),
        }
    }

    /// The secret as the page shows it, read back as an authenticator app would.
    fn secret_of(status: &TwoFactorStatus) -> TotpSecret {
        TotpSecret::from_base32(
            &status
                .enrolment
                .as_ref()
                .expect("an enrolment")
                .secret_base32,
        )
        .unwrap()
    }

    impl Fixture {
        fn code_now(&self, secret: &TotpSecret, steps_ahead: i64) -> String {
            secret.code_at_step(totp::step_of(self.clock.now()) + steps_ahead)
        }

        /// Registers `name` and turns two-factor on; answers the session, the secret and
        /// the recovery codes.
        async fn enrolled(&self, name: &str) -> (SignedIn, TotpSecret, Vec<String>) {
            let signed_in = self.register(name).await;
            let (secret, codes) = self.enrol(&signed_in).await;
            (signed_in, secret, codes)
        }

        /// Turns two-factor on for an account that is signed in; answers the secret and the
        /// recovery codes.
        async fn enrol(&self, signed_in: &SignedIn) -> (TotpSecret, Vec<String>) {
            let current = self.current(signed_in).await;
            let tf = &self.auth.two_factor;
            tf.start(&current, &password_form(PASSWORD), &meta())
                .await
                .unwrap();
            let secret = secret_of(&tf.status(&current).await.unwrap());
            tf.confirm(&current, &code(&self.code_now(&secret, 0)), &meta())
                .await
                .unwrap();
            let codes = tf.take_recovery_codes(&current).await.unwrap().unwrap().0;
            // The first code's step is spent: later tests start from the next one.
            self.advance(totp::STEP_SECS as u64);
            (secret, codes)
        }

        /// Turns two-factor off with the password and `recovery_code`.
        async fn turn_off(&self, signed_in: &SignedIn, recovery_code: &str) {
            let current = self.current(signed_in).await;
            let off = DisableTwoFactorForm {
                password: PASSWORD.into(),
                code: recovery_code.into(),
            };
            self.auth
                .two_factor
                .disable(&current, &off, &meta())
                .await
                .unwrap();
        }

        async fn password_step(&self, name: &str, remember: bool) -> SessionToken {
            let form = LoginForm {
                username: name.into(),
                password: PASSWORD.into(),
            };
            match self
                .auth
                .sign_in
                .login(&form, remember, &meta())
                .await
                .unwrap()
            {
                LoginOutcome::SecondFactor(token) => token,
                LoginOutcome::SignedIn(_) => panic!("signed in with the password alone"),
            }
        }
    }

    #[tokio::test]
    async fn enrolment_needs_the_password_then_a_right_code_and_shows_ten_codes_once() {
        let f = fixture().await;
        let this = f.register("alice").await;
        let other = f.login("alice", false).await;
        let current = f.current(&this).await;
        let tf = &f.auth.two_factor;
        let wrong = tf
            .start(&current, &password_form("not my password"), &meta())
            .await;
        assert_eq!(
            field_error(wrong, "password"),
            crate::model::forms::WRONG_CURRENT_PASSWORD
        );
        tf.start(&current, &password_form(PASSWORD), &meta())
            .await
            .unwrap();
        let status = tf.status(&current).await.unwrap();
        assert!(!status.enabled);
        let enrolment = status.enrolment.clone().unwrap();
        assert!(enrolment.qr_svg.starts_with("<svg"));
        assert!(enrolment.otpauth_url.contains("Gatehouse:alice"));
        let secret = secret_of(&status);
        // Sealed at rest: the stored value is not the secret.
        let stored = f
            .store
            .two_factor_of(current.user_id())
            .await
            .unwrap()
            .unwrap();
        assert!(!stored
            .secret
            .windows(secret.expose().len())
            .any(|w| w == secret.expose()));

        let wrong_code = f.code_now(&secret, 5);
        let refused = tf.confirm(&current, &code(&wrong_code), &meta()).await;
        assert_eq!(field_error(refused, "code"), WRONG_CODE);
        tf.confirm(&current, &code(&f.code_now(&secret, 0)), &meta())
            .await
            .unwrap();

        let status = tf.status(&current).await.unwrap();
        assert!(status.enabled && status.enrolment.is_none());
        assert_eq!(status.recovery_codes_left, 10);
        let codes = tf.take_recovery_codes(&current).await.unwrap().unwrap();
        assert_eq!(codes.0.len(), 10);
        assert!(tf.take_recovery_codes(&current).await.unwrap().is_none());
        // The other session ended; this one goes on.
        assert!(f
            .auth
            .sessions
            .current(&other.token)
            .await
            .unwrap()
            .is_none());
        assert!(f
            .auth
            .sessions
            .current(&this.token)
            .await
            .unwrap()
            .is_some());
        let kinds: Vec<_> = f
            .auth
            .activity
            .recent(current.user_id())
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert!(kinds.contains(&ActivityKind::TwoFactorEnabled));
        assert!(kinds.contains(&ActivityKind::SecondFactorFailed));
        let mail = f.sent_mail().await;
        assert!(mail
            .iter()
            .any(|m| m.subject.contains("Two-factor authentication is on")));
    }

    #[tokio::test]
    async fn the_password_alone_never_signs_in_and_the_code_step_makes_the_session() {
        let f = fixture().await;
        let (_, secret, _) = f.enrolled("alice").await;
        let token = f.password_step("alice", true).await;
        assert!(f.auth.two_factor.sign_in_waiting(&token).await.unwrap());
        // The challenge token is no session.
        assert!(f.auth.sessions.current(&token).await.unwrap().is_none());
        let signed_in = f
            .auth
            .two_factor
            .finish_sign_in(&token, &code(&f.code_now(&secret, 0)), &meta())
            .await
            .unwrap();
        assert!(signed_in.remember, "remember me carried over");
        assert!(f
            .auth
            .sessions
            .current(&signed_in.token)
            .await
            .unwrap()
            .is_some());
        // The challenge is used up.
        assert!(!f.auth.two_factor.sign_in_waiting(&token).await.unwrap());
        let again = f
            .auth
            .two_factor
            .finish_sign_in(&token, &code(&f.code_now(&secret, 0)), &meta())
            .await;
        assert!(matches!(
            again,
            Err(ServiceError::Client(AppError::SignInExpired))
        ));
    }

    #[tokio::test]
    async fn a_code_is_refused_once_used_until_a_later_step_and_the_window_is_one_step() {
        let f = fixture().await;
        let (_, secret, _) = f.enrolled("alice").await;
        let tf = &f.auth.two_factor;
        // One step behind and one ahead are accepted; two are not.
        let token = f.password_step("alice", false).await;
        let refused = tf
            .finish_sign_in(&token, &code(&f.code_now(&secret, 2)), &meta())
            .await;
        assert_eq!(field_error(refused, "code"), WRONG_CODE);
        let early = f.code_now(&secret, 1);
        tf.finish_sign_in(&token, &code(&early), &meta())
            .await
            .unwrap();
        // The same code again, and the current step's (earlier than the one used): replays.
        let token = f.password_step("alice", false).await;
        let replay = tf.finish_sign_in(&token, &code(&early), &meta()).await;
        assert_eq!(field_error(replay, "code"), CODE_ALREADY_USED);
        let older = tf
            .finish_sign_in(&token, &code(&f.code_now(&secret, 0)), &meta())
            .await;
        assert_eq!(field_error(older, "code"), CODE_ALREADY_USED);
        // Three steps later, the code of the step before now is after the one used: fresh.
        f.advance(3 * totp::STEP_SECS as u64);
        tf.finish_sign_in(&token, &code(&f.code_now(&secret, -1)), &meta())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_recovery_code_works_once_and_its_owner_is_told() {
        let f = fixture().await;
        let (this, _, codes) = f.enrolled("alice").await;
        let tf = &f.auth.two_factor;
        let token = f.password_step("alice", false).await;
        // Typed in capitals and without the dash: still the code.
        let typed = codes[3].to_uppercase().replace('-', "");
        tf.finish_sign_in(&token, &code(&typed), &meta())
            .await
            .unwrap();
        let token = f.password_step("alice", false).await;
        let reused = tf.finish_sign_in(&token, &code(&codes[3]), &meta()).await;
        assert_eq!(field_error(reused, "code"), WRONG_CODE);
        let current = f.current(&this).await;
        assert_eq!(tf.status(&current).await.unwrap().recovery_codes_left, 9);
        let events = f.auth.activity.recent(current.user_id()).await.unwrap();
        let used = events
            .iter()
            .find(|e| e.kind == ActivityKind::RecoveryCodeUsed)
            .unwrap();
        assert_eq!(used.detail.as_deref(), Some("9 codes left"));
        let mail = f.sent_mail().await;
        assert!(mail
            .iter()
            .any(|m| m.subject.contains("A recovery code was used")
                && m.text.contains("9 of your recovery codes are left")));
    }

    #[tokio::test]
    async fn wrong_codes_end_the_waiting_sign_in_and_count_against_the_account() {
        let f = fixture().await;
        let (_, secret, _) = f.enrolled("alice").await;
        let tf = &f.auth.two_factor;
        let token = f.password_step("alice", false).await;
        let wrong = f.code_now(&secret, 7);
        for _ in 0..MAX_CHALLENGE_FAILURES {
            let refused = tf.finish_sign_in(&token, &code(&wrong), &meta()).await;
            assert_eq!(field_error(refused, "code"), WRONG_CODE);
        }
        let after = tf
            .finish_sign_in(&token, &code(&f.code_now(&secret, 0)), &meta())
            .await;
        assert!(matches!(
            after,
            Err(ServiceError::Client(AppError::SignInExpired))
        ));
        // The same throttle as wrong passwords: the account now waits.
        let user = f.store.user_by_username("alice").await.unwrap().unwrap();
        assert!(f
            .auth
            .two_factor
            .throttle
            .reserve(&account_throttle_key(&user))
            .await
            .is_err());
    }

    #[tokio::test]
    async fn a_waiting_sign_in_expires_and_dies_with_a_password_change() {
        let f = fixture().await;
        let (this, secret, _) = f.enrolled("alice").await;
        let tf = &f.auth.two_factor;
        let token = f.password_step("alice", false).await;
        f.advance(crate::server::auth::session::CHALLENGE_LIFETIME_SECS as u64);
        let late = tf
            .finish_sign_in(&token, &code(&f.code_now(&secret, 0)), &meta())
            .await;
        assert!(matches!(
            late,
            Err(ServiceError::Client(AppError::SignInExpired))
        ));

        let token = f.password_step("alice", false).await;
        let current = f.current(&this).await;
        let change = crate::model::forms::ChangePasswordForm {
            current_password: PASSWORD.into(),
            new_password: "a brand new passphrase".into(),
            new_password_confirm: "a brand new passphrase".into(),
        };
        f.auth
            .account
            .change_password(&current, &change, true, &meta())
            .await
            .unwrap();
        let stale = tf
            .finish_sign_in(&token, &code(&f.code_now(&secret, 0)), &meta())
            .await;
        assert!(matches!(
            stale,
            Err(ServiceError::Client(AppError::SignInExpired))
        ));
        // Changing the password did not turn two-factor off.
        let user = f.store.user_by_username("alice").await.unwrap().unwrap();
        assert!(user.two_factor_enabled);
    }

    #[tokio::test]
    async fn the_password_grant_refuses_an_enrolled_account_after_the_password() {
        let f = fixture().await;
        f.enrolled("alice").await;
        let client = crate::server::auth::ClientId::password_grant();
        let form = |password: &str| LoginForm {
            username: "alice".into(),
            password: password.into(),
        };
        let wrong = f
            .auth
            .tokens
            .password_grant(&form("nope nope"), &client, &meta())
            .await;
        assert!(matches!(
            wrong,
            Err(ServiceError::Client(AppError::InvalidCredentials))
        ));
        let right = f
            .auth
            .tokens
            .password_grant(&form(PASSWORD), &client, &meta())
            .await;
        assert!(matches!(
            right,
            Err(ServiceError::Client(AppError::SecondFactorRequired))
        ));
    }

    #[tokio::test]
    async fn turning_off_needs_the_password_and_a_code_and_ends_other_sessions() {
        let f = fixture().await;
        let (this, secret, codes) = f.enrolled("alice").await;
        let token = f.password_step("alice", false).await;
        let other = f
            .auth
            .two_factor
            .finish_sign_in(&token, &code(&f.code_now(&secret, 0)), &meta())
            .await
            .unwrap();
        let current = f.current(&this).await;
        let tf = &f.auth.two_factor;
        let off = |password: &str, code: &str| DisableTwoFactorForm {
            password: password.into(),
            code: code.into(),
        };
        let refused = tf
            .disable(&current, &off("nope nope", &codes[0]), &meta())
            .await;
        assert!(field_error(refused, "password").contains("current password"));
        let refused = tf
            .disable(&current, &off(PASSWORD, "aaaaa-aaaaa"), &meta())
            .await;
        assert_eq!(field_error(refused, "code"), WRONG_CODE);
        tf.disable(&current, &off(PASSWORD, &codes[0]), &meta())
            .await
            .unwrap();
        assert!(f
            .auth
            .sessions
            .current(&other.token)
            .await
            .unwrap()
            .is_none());
        assert!(f
            .store
            .two_factor_of(current.user_id())
            .await
            .unwrap()
            .is_none());
        // The password alone signs in again.
        f.login("alice", false).await;
    }

    #[tokio::test]
    async fn new_recovery_codes_need_the_password_and_replace_the_old_ones() {
        let f = fixture().await;
        let (this, _, old) = f.enrolled("alice").await;
        let current = f.current(&this).await;
        let tf = &f.auth.two_factor;
        let wrong = tf
            .regenerate_recovery_codes(&current, &password_form("nope nope"), &meta())
            .await;
        assert!(field_error(wrong, "password").contains("current password"));
        tf.regenerate_recovery_codes(&current, &password_form(PASSWORD), &meta())
            .await
            .unwrap();
        let new = tf.take_recovery_codes(&current).await.unwrap().unwrap().0;
        assert_ne!(new, old);
        let token = f.password_step("alice", false).await;
        let stale = tf.finish_sign_in(&token, &code(&old[0]), &meta()).await;
        assert_eq!(field_error(stale, "code"), WRONG_CODE);
        tf.finish_sign_in(&token, &code(&new[0]), &meta())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_setup_not_confirmed_within_thirty_minutes_must_be_started_again() {
        assert_eq!(ENROLMENT_LIFETIME_SECS, 30 * 60);
        let f = fixture().await;
        let this = f.register("alice").await;
        let current = f.current(&this).await;
        let tf = &f.auth.two_factor;
        tf.start(&current, &password_form(PASSWORD), &meta())
            .await
            .unwrap();
        let secret = secret_of(&tf.status(&current).await.unwrap());
        // A second before the end the setup is still shown...
        f.advance(ENROLMENT_LIFETIME_SECS as u64 - 1);
        assert!(tf.status(&current).await.unwrap().enrolment.is_some());
        // ...and at 30 minutes it is gone, and its secret's right code turns nothing on.
        f.advance(1);
        assert!(tf.status(&current).await.unwrap().enrolment.is_none());
        let late = tf
            .confirm(&current, &code(&f.code_now(&secret, 0)), &meta())
            .await;
        assert_eq!(field_error(late, "code"), SETUP_EXPIRED);
        let user = f.store.user_by_username("alice").await.unwrap().unwrap();
        assert!(!user.two_factor_enabled);
        // Started again: a new secret, which works.
        tf.start(&current, &password_form(PASSWORD), &meta())
            .await
            .unwrap();
        let fresh = secret_of(&tf.status(&current).await.unwrap());
        assert_ne!(fresh.expose(), secret.expose());
        tf.confirm(&current, &code(&f.code_now(&fresh, 0)), &meta())
            .await
            .unwrap();
    }

    /// Exactly one of two results is `Ok`; answers the other.
    fn one_winner<T>(
        a: Result<T, ServiceError>,
        b: Result<T, ServiceError>,
    ) -> Result<(), ServiceError> {
        match (a.map(|_| ()), b.map(|_| ())) {
            (Ok(()), Ok(())) => panic!("both racing requests won"),
            (Ok(()), loser) | (loser, Ok(())) => loser,
            (a, b) => panic!("neither won: {a:?} / {b:?}"),
        }
    }

    #[tokio::test]
    async fn two_requests_racing_with_one_code_cannot_both_win() {
        let f = fixture().await;
        let (_, secret, codes) = f.enrolled("alice").await;
        let tf = &f.auth.two_factor;
        let m = meta();
        // One authenticator code, two waiting sign-ins (the password typed on two devices),
        // sent at once.
        let (a, b) = (
            f.password_step("alice", false).await,
            f.password_step("alice", false).await,
        );
        let now = code(&f.code_now(&secret, 0));
        let (ra, rb) = tokio::join!(
            tf.finish_sign_in(&a, &now, &m),
            tf.finish_sign_in(&b, &now, &m)
        );
        assert_eq!(field_error(one_winner(ra, rb), "code"), CODE_ALREADY_USED);

        // One recovery code, from four sign-ins at once (the account throttle's free
        // attempts): one wins, the others find it used.
        let mut waiting = Vec::new();
        for _ in 0..4 {
            waiting.push(f.password_step("alice", false).await);
        }
        let recovery = code(&codes[0]);
        let results = futures::future::join_all(
            waiting
                .iter()
                .map(|token| tf.finish_sign_in(token, &recovery, &m)),
        )
        .await;
        let wins = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(wins, 1, "{wins} sign-ins with one recovery code");
        for result in results.into_iter().filter(|r| r.is_err()) {
            assert_eq!(field_error(result, "code"), WRONG_CODE);
        }

        // One waiting sign-in answered twice at once with two right codes (this step's and
        // the next, both in the window: a double submit, or a stolen challenge cookie with a
        // code of its own): one session, not two.
        f.advance(totp::STEP_SECS as u64);
        let one = f.password_step("alice", false).await;
        let (this_step, next_step) = (code(&f.code_now(&secret, 0)), code(&f.code_now(&secret, 1)));
        let (ra, rb) = tokio::join!(
            tf.finish_sign_in(&one, &this_step, &m),
            tf.finish_sign_in(&one, &next_step, &m)
        );
        match one_winner(ra, rb) {
            // Second to take the waiting sign-in, or its code's step was spent by the other.
            Err(ServiceError::Client(AppError::SignInExpired)) => {}
            other => assert_eq!(field_error(other, "code"), CODE_ALREADY_USED),
        }
        let user = f.store.user_by_username("alice").await.unwrap().unwrap();
        // The enrolling session, and one per race.
        assert_eq!(f.store.sessions_of(user.id).await.unwrap().len(), 4);
    }

    #[tokio::test]
    async fn turning_two_factor_off_ends_waiting_sign_ins() {
        let f = fixture().await;
        let (this, secret, codes) = f.enrolled("alice").await;
        let tf = &f.auth.two_factor;
        let waiting = f.password_step("alice", false).await;
        f.turn_off(&this, &codes[0]).await;
        // The password was right and the code is right, but the sign-in waited on a second
        // factor that is gone: it is over, and the person starts again.
        let after = tf
            .finish_sign_in(&waiting, &code(&f.code_now(&secret, 0)), &meta())
            .await;
        assert!(
            matches!(after, Err(ServiceError::Client(AppError::SignInExpired))),
            "{:?}",
            after.map(|_| ())
        );
        assert!(!tf.sign_in_waiting(&waiting).await.unwrap());
        // And it stays over when two-factor is turned on again.
        let (fresh, _) = f.enrol(&this).await;
        let again = tf
            .finish_sign_in(&waiting, &code(&f.code_now(&fresh, 0)), &meta())
            .await;
        assert!(matches!(
            again,
            Err(ServiceError::Client(AppError::SignInExpired))
        ));
    }

    #[tokio::test]
    async fn a_waiting_sign_in_does_not_survive_two_factor_going_off_and_on_again() {
        let f = fixture().await;
        let (this, _secret, codes) = f.enrolled("alice").await;
        let tf = &f.auth.two_factor;
        let waiting = f.password_step("alice", false).await;
        f.turn_off(&this, &codes[0]).await;
        // Nobody touches the waiting sign-in while the factor is gone; a new one is enrolled
        // within its five minutes.
        let (fresh, _) = f.enrol(&this).await;
        let revived = tf
            .finish_sign_in(&waiting, &code(&f.code_now(&fresh, 0)), &meta())
            .await;
        assert!(
            matches!(revived, Err(ServiceError::Client(AppError::SignInExpired))),
            "{:?}",
            revived.map(|_| ())
        );
    }

    #[tokio::test]
    async fn new_recovery_codes_end_the_other_sessions() {
        let f = fixture().await;
        let (this, secret, _) = f.enrolled("alice").await;
        let tf = &f.auth.two_factor;
        let token = f.password_step("alice", false).await;
        let other = tf
            .finish_sign_in(&token, &code(&f.code_now(&secret, 0)), &meta())
            .await
            .unwrap();
        assert!(f
            .auth
            .sessions
            .current(&other.token)
            .await
            .unwrap()
            .is_some());
        let current = f.current(&this).await;
        tf.regenerate_recovery_codes(&current, &password_form(PASSWORD), &meta())
            .await
            .unwrap();
        assert!(
            f.auth
                .sessions
                .current(&other.token)
                .await
                .unwrap()
                .is_none(),
            "the other session outlived new recovery codes"
        );
        assert!(f
            .auth
            .sessions
            .current(&this.token)
            .await
            .unwrap()
            .is_some());
        let events = f.auth.activity.recent(current.user_id()).await.unwrap();
        let regenerated = events
            .iter()
            .find(|e| e.kind == ActivityKind::RecoveryCodesRegenerated)
            .expect("logged");
        assert_eq!(regenerated.detail.as_deref(), Some("1 other session ended"));
    }
}
