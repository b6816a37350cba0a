//! Passkeys (WebAuthn): adding one to an account, signing in with one (no password, no second
//! step: a passkey with user verification is already two factors), answering the two-factor
//! step with one, renaming and removing them.
//!
//! The cryptography and the checks of the ceremony (challenge, origin, relying-party id, user
//! verification, signature counter) are webauthn-rs's. What is ours is where a ceremony's state
//! lives between its two requests: a `passkey_ceremonies` row named by the SHA-256 of a token
//! that only the browser which started it holds (its own cookie), taken with a `DELETE …
//! RETURNING`, so a challenge answers once, from that browser, within five minutes.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::Serialize;
use webauthn_rs::prelude::{
    Credential, DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, Uuid,
};
use webauthn_rs::{Webauthn, WebauthnBuilder};
use webauthn_rs_proto::ResidentKeyRequirement;

use crate::model::activity::ActivityKind;
use crate::model::passkey::{
    self, NewPasskeyForm, PasskeyNameForm, PasskeyStatus, ALREADY_REGISTERED, CEREMONY_EXPIRED,
    NOT_FOUND, NO_PASSKEYS, PASSWORD_NEEDED, REFUSED, UNKNOWN_PASSKEY,
};
use crate::model::{AppError, FieldErrors, Password};
use crate::server::clock::Clock;
use crate::server::db::{PasskeyCeremonyRecord, PasskeyRecord, Store, UserRecord};
use crate::server::error::ServiceError;
use crate::server::limits::Limits;
use crate::server::metrics;

use super::activity::ActivityLog;
use super::client::ClientMeta;
use super::notices::{Notices, TwoFactorChange};
use super::session::{SessionToken, PASSKEY_CEREMONY_LIFETIME_SECS};
use super::sessions::{CurrentSession, Sessions, SignedIn};
use super::settings::PasskeySettings;
use super::sign_in::SignIn;
use super::two_factor::TwoFactor;
use super::views::passkey_view;

/// Adding a passkey within this long of signing in needs no password again.
pub const RECENT_SIGN_IN_SECS: i64 = 5 * 60;
/// The site's name in the browser's passkey dialogs.
const RP_NAME: &str = "Gatehouse";

/// What a ceremony row is for: a token made for one purpose never finishes another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Register,
    SignIn,
    SecondFactor,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::SignIn => "sign_in",
            Self::SecondFactor => "second_factor",
        }
    }
}

/// The relying party passkeys are made for, or why there is none (see `PasskeySettings`).
#[derive(Clone)]
pub enum RelyingParty {
    Ready(Arc<Webauthn>),
    Off(String),
}

impl RelyingParty {
    /// Builds webauthn-rs's verifier for the configured id and origin (once, at start-up; a
    /// site without passkeys says so in the log).
    pub fn new(settings: &PasskeySettings) -> Result<Self, String> {
        match settings {
            PasskeySettings::Enabled { rp_id, origin } => WebauthnBuilder::new(rp_id, origin)
                .and_then(|builder| {
                    builder
                        .rp_name(RP_NAME)
                        .timeout(std::time::Duration::from_secs(
                            PASSKEY_CEREMONY_LIFETIME_SECS.unsigned_abs(),
                        ))
                        .build()
                })
                .map(|webauthn| Self::Ready(Arc::new(webauthn)))
                .map_err(|error| format!("relying party {rp_id} for {origin}: {error}")),
            PasskeySettings::Unavailable { reason } => {
                tracing::warn!(event = "passkeys.off", reason = reason.as_str());
                Ok(Self::Off(reason.clone()))
            }
        }
    }
}

#[derive(Clone)]
pub struct Passkeys {
    pub(super) store: Arc<dyn Store>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) relying_party: RelyingParty,
    pub(super) limits: Arc<Limits>,
    pub(super) activity: ActivityLog,
    pub(super) notices: Notices,
    pub(super) sessions: Sessions,
    pub(super) sign_in: SignIn,
    pub(super) two_factor: TwoFactor,
}

fn passkey_error(message: &str) -> ServiceError {
    passkey::passkey_error(message).into()
}

/// The browser's answer, as JSON (`PublicKeyCredential.toJSON()`).
fn parse_answer<T: DeserializeOwned>(json: &str) -> Result<T, ServiceError> {
    serde_json::from_str(json).map_err(|error| {
        tracing::info!(event = "passkey.answer_unreadable", %error);
        passkey_error(REFUSED)
    })
}

/// A passkey's id as the forms send it back (`views::passkey_view` made it).
fn decode_id(id: &str) -> Result<Vec<u8>, ServiceError> {
    URL_SAFE_NO_PAD
        .decode(id)
        .map_err(|_| passkey_error(NOT_FOUND))
}

/// The account's WebAuthn user handle: its public id (128 random bits), never the sequential
/// internal id, and nothing a person typed.
fn user_handle(user: &UserRecord) -> Result<Uuid, ServiceError> {
    Uuid::parse_str(&user.public_id)
        .map_err(|_| ServiceError::Internal("an account's public id is not 128-bit hex".into()))
}

fn internal(what: &str) -> impl FnOnce(serde_json::Error) -> ServiceError + '_ {
    move |error| ServiceError::Internal(format!("{what}: {error}"))
}

impl Passkeys {
    fn webauthn(&self) -> Result<&Webauthn, ServiceError> {
        match &self.relying_party {
            RelyingParty::Ready(webauthn) => Ok(webauthn),
            RelyingParty::Off(reason) => Err(passkey_error(reason)),
        }
    }

    /// What the passkeys section of `/account` shows.
    pub async fn status(&self, current: &CurrentSession) -> Result<PasskeyStatus, ServiceError> {
        let rows = self.store.passkeys_of(current.user.id).await?;
        Ok(self.status_of(current, rows))
    }

    /// `status` from the user's passkeys, read already.
    pub(super) fn status_of(
        &self,
        current: &CurrentSession,
        rows: Vec<PasskeyRecord>,
    ) -> PasskeyStatus {
        let passkeys = rows.into_iter().map(passkey_view).collect();
        PasskeyStatus {
            unavailable: match &self.relying_party {
                RelyingParty::Ready(_) => None,
                RelyingParty::Off(reason) => Some(reason.clone()),
            },
            passkeys,
            password_needed: !self.signed_in_recently(current),
        }
    }

    fn signed_in_recently(&self, current: &CurrentSession) -> bool {
        self.clock.now() - current.session.created_at <= RECENT_SIGN_IN_SECS
    }

    /// Starts adding a passkey: the options for `navigator.credentials.create`, as JSON, and
    /// the token binding the ceremony to this browser. Needs the password again unless the
    /// sign-in is recent: a session left open on a shared computer must not be enough to
    /// plant a passkey that outlives it.
    pub async fn start_registration(
        &self,
        current: &CurrentSession,
        password: Option<&Password>,
        meta: &ClientMeta,
    ) -> Result<(SessionToken, String), ServiceError> {
        let webauthn = self.webauthn()?;
        let user = &current.user;
        if !self.signed_in_recently(current) {
            match password.filter(|p| !p.expose().is_empty()) {
                Some(password) => {
                    self.sign_in
                        .confirm_password(user, password, "password", meta)
                        .await?
                }
                None => {
                    return Err(
                        AppError::from(FieldErrors::single("password", PASSWORD_NEEDED)).into(),
                    )
                }
            }
        }
        // The person's other passkeys: an authenticator that already holds one says so
        // instead of making a second.
        let existing = self
            .store
            .passkeys_of(user.id)
            .await?
            .into_iter()
            .map(|record| record.credential_id)
            .collect();
        let (mut options, state) = webauthn
            .start_passkey_registration(
                user_handle(user)?,
                &user.username,
                &user.username,
                Some(existing),
            )
            .map_err(|error| ServiceError::Internal(format!("passkey registration: {error}")))?;
        // A discoverable credential (a "resident key"), or signing in without a username
        // cannot find it: webauthn-rs leaves this to the relying party. The authenticator
        // enforces it; the server's checks do not depend on it.
        if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
            selection.require_resident_key = true;
            selection.resident_key = Some(ResidentKeyRequirement::Required);
        }
        let token = self.begin(Purpose::Register, Some(user.id), &state).await?;
        let options = serde_json::to_string(&options.public_key)
            .map_err(internal("passkey creation options"))?;
        Ok((token, options))
    }

    /// Finishes adding a passkey with the browser's answer. A blank name becomes the browser
    /// and system it was made on.
    pub async fn finish_registration(
        &self,
        current: &CurrentSession,
        token: Option<&SessionToken>,
        form: &NewPasskeyForm,
        answer: &str,
        meta: &ClientMeta,
    ) -> Result<(), ServiceError> {
        let webauthn = self.webauthn()?;
        let name = form.check().map_err(AppError::from)?;
        let user = &current.user;
        let (ceremony, state): (_, PasskeyRegistration) =
            self.take(token, Purpose::Register).await?;
        if ceremony.user_id != Some(user.id) {
            return Err(passkey_error(CEREMONY_EXPIRED));
        }
        let answer: RegisterPublicKeyCredential = parse_answer(answer)?;
        let passkey = webauthn
            .finish_passkey_registration(&answer, &state)
            .map_err(|error| {
                tracing::info!(event = "passkey.registration_refused", user_id = user.id, %error);
                passkey_error(REFUSED)
            })?;
        let name = name
            .or_else(|| meta.device())
            .unwrap_or_else(|| "Passkey".to_string());
        let now = self.clock.now();
        let record = PasskeyRecord {
            id: 0,
            user_id: user.id,
            credential_id: passkey.cred_id().to_vec(),
            name: name.clone(),
            credential: serde_json::to_string(&passkey).map_err(internal("a passkey"))?,
            backed_up: Credential::from(passkey).backup_state,
            created_at: now,
            last_used_at: None,
        };
        if !self.store.insert_passkey(&record).await? {
            return Err(passkey_error(ALREADY_REGISTERED));
        }
        tracing::info!(event = "passkey.added", user_id = user.id);
        self.activity
            .record(
                user.id,
                ActivityKind::PasskeyAdded,
                meta,
                Some(name.clone()),
            )
            .await;
        self.notices
            .two_factor_changed(user, TwoFactorChange::PasskeyAdded { name }, meta);
        Ok(())
    }

    /// Starts a sign-in with a passkey the browser finds itself (discoverable credentials):
    /// the options for `navigator.credentials.get` as JSON, and the ceremony's token.
    pub async fn start_sign_in(&self) -> Result<(SessionToken, String), ServiceError> {
        let webauthn = self.webauthn()?;
        // Not under the sign-in limit: /login starts one on every visit, for the autofill.
        // The answer is what counts as an attempt (`finish_sign_in`); unanswered ceremonies
        // are purged after five minutes.
        let (options, state) = webauthn
            .start_discoverable_authentication()
            .map_err(|error| ServiceError::Internal(format!("passkey sign-in: {error}")))?;
        let token = self.begin(Purpose::SignIn, None, &state).await?;
        let options = serde_json::to_string(&options.public_key)
            .map_err(internal("passkey request options"))?;
        Ok((token, options))
    }

    /// Finishes a passkey sign-in: the account is the one whose passkey signed the challenge,
    /// with user verification. Signs in without a password and without the second step.
    pub async fn finish_sign_in(
        &self,
        token: Option<&SessionToken>,
        answer: &str,
        remember: bool,
        meta: &ClientMeta,
    ) -> Result<SignedIn, ServiceError> {
        let webauthn = self.webauthn()?;
        if let Err(refused) = self.limits.check(&self.limits.login, meta.ip_key()).await {
            metrics::sign_in("rate_limited");
            return Err(refused.into());
        }
        let (_, state): (_, DiscoverableAuthentication) = self.take(token, Purpose::SignIn).await?;
        let answer: PublicKeyCredential = parse_answer(answer)?;
        let (handle, credential_id) = webauthn
            .identify_discoverable_authentication(&answer)
            .map_err(|_| passkey_error(REFUSED))?;
        let Some(record) = self.store.passkey_by_credential_id(credential_id).await? else {
            metrics::sign_in("wrong_credentials");
            return Err(passkey_error(UNKNOWN_PASSKEY));
        };
        let user = self
            .store
            .user_by_id(record.user_id)
            .await?
            .filter(|user| user_handle(user).is_ok_and(|owner| owner == handle))
            .ok_or_else(|| passkey_error(UNKNOWN_PASSKEY))?;
        let passkey = self.stored_passkey(&record)?;
        let result = webauthn.finish_discoverable_authentication_v2(&answer, state, &passkey);
        self.passkey_used(&user, record, passkey, result, meta)
            .await?;
        self.sign_in.check_may_sign_in(&user)?;
        let signed_in = self.sessions.start(&user, remember, meta).await?;
        metrics::sign_in("success");
        self.sign_in
            .record_signed_in(&user, remember, Some("with a passkey"), meta)
            .await;
        Ok(signed_in)
    }

    /// Starts answering the two-factor step with a passkey, for the sign-in waiting under
    /// `challenge`: the options name the account's passkeys.
    pub async fn start_second_factor(
        &self,
        challenge: &SessionToken,
        meta: &ClientMeta,
    ) -> Result<(SessionToken, String), ServiceError> {
        let webauthn = self.webauthn()?;
        self.limits
            .check(&self.limits.two_factor, meta.ip_key())
            .await?;
        let user = self.two_factor.waiting_sign_in(&challenge.hash()).await?;
        let passkeys = self.passkeys_of(&user).await?;
        if passkeys.is_empty() {
            return Err(passkey_error(NO_PASSKEYS));
        }
        let (options, state) = webauthn
            .start_passkey_authentication(&passkeys)
            .map_err(|error| ServiceError::Internal(format!("passkey second step: {error}")))?;
        let token = self
            .begin(Purpose::SecondFactor, Some(user.id), &state)
            .await?;
        let options = serde_json::to_string(&options.public_key)
            .map_err(internal("passkey request options"))?;
        Ok((token, options))
    }

    /// Finishes the two-factor step with a passkey of the waiting sign-in's account.
    pub async fn finish_second_factor(
        &self,
        challenge: &SessionToken,
        token: Option<&SessionToken>,
        answer: &str,
        meta: &ClientMeta,
    ) -> Result<SignedIn, ServiceError> {
        let webauthn = self.webauthn()?;
        let challenge_hash = challenge.hash();
        let user = self.two_factor.waiting_sign_in(&challenge_hash).await?;
        let (ceremony, state): (_, PasskeyAuthentication) =
            self.take(token, Purpose::SecondFactor).await?;
        if ceremony.user_id != Some(user.id) {
            return Err(passkey_error(CEREMONY_EXPIRED));
        }
        let answer: PublicKeyCredential = parse_answer(answer)?;
        let record = self
            .store
            .passkey_by_credential_id(answer.get_credential_id())
            .await?
            .filter(|record| record.user_id == user.id)
            .ok_or_else(|| passkey_error(UNKNOWN_PASSKEY))?;
        let passkey = self.stored_passkey(&record)?;
        let result = webauthn.finish_passkey_authentication(&answer, &state);
        self.passkey_used(&user, record, passkey, result, meta)
            .await?;
        self.two_factor
            .complete_sign_in(&challenge_hash, &user, "with a passkey", meta)
            .await
    }

    /// Renames one of the person's passkeys.
    pub async fn rename(
        &self,
        current: &CurrentSession,
        id: &str,
        form: &PasskeyNameForm,
        meta: &ClientMeta,
    ) -> Result<(), ServiceError> {
        let name = form.check().map_err(AppError::from)?;
        let user = &current.user;
        if !self
            .store
            .rename_passkey(user.id, &decode_id(id)?, &name)
            .await?
        {
            return Err(passkey_error(NOT_FOUND));
        }
        self.activity
            .record(user.id, ActivityKind::PasskeyRenamed, meta, Some(name))
            .await;
        Ok(())
    }

    /// Removes one of the person's passkeys (their password still signs them in: every
    /// account has one).
    pub async fn remove(
        &self,
        current: &CurrentSession,
        id: &str,
        meta: &ClientMeta,
    ) -> Result<(), ServiceError> {
        let user = &current.user;
        let removed = self
            .store
            .delete_passkey(user.id, &decode_id(id)?)
            .await?
            .ok_or_else(|| passkey_error(NOT_FOUND))?;
        tracing::info!(event = "passkey.removed", user_id = user.id);
        self.activity
            .record(
                user.id,
                ActivityKind::PasskeyRemoved,
                meta,
                Some(removed.name.clone()),
            )
            .await;
        self.notices.two_factor_changed(
            user,
            TwoFactorChange::PasskeyRemoved { name: removed.name },
            meta,
        );
        Ok(())
    }

    /// Can a passkey answer the two-factor step of the sign-in waiting under `challenge`?
    /// Where passkeys work and the account has one.
    pub async fn offered_for_second_step(
        &self,
        challenge: &SessionToken,
    ) -> Result<bool, ServiceError> {
        if self.webauthn().is_err() {
            return Ok(false);
        }
        match self.two_factor.waiting_sign_in(&challenge.hash()).await {
            Ok(user) => Ok(!self.store.passkeys_of(user.id).await?.is_empty()),
            Err(ServiceError::Client(_)) => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// Deletes ceremonies nobody finished.
    pub async fn purge_expired(&self) -> Result<u64, ServiceError> {
        Ok(self
            .store
            .delete_expired_passkey_ceremonies(self.clock.now())
            .await?)
    }

    async fn passkeys_of(&self, user: &UserRecord) -> Result<Vec<Passkey>, ServiceError> {
        self.store
            .passkeys_of(user.id)
            .await?
            .iter()
            .map(|record| self.stored_passkey(record))
            .collect()
    }

    fn stored_passkey(&self, record: &PasskeyRecord) -> Result<Passkey, ServiceError> {
        serde_json::from_str(&record.credential).map_err(internal("a stored passkey"))
    }

    /// After webauthn-rs checked an assertion: a refusal is logged against the account (the
    /// passkey was theirs), a success stores the new counter and backup state, as webauthn-rs
    /// asks, and when it was used.
    async fn passkey_used(
        &self,
        user: &UserRecord,
        record: PasskeyRecord,
        mut passkey: Passkey,
        result: Result<
            webauthn_rs::prelude::AuthenticationResult,
            webauthn_rs::prelude::WebauthnError,
        >,
        meta: &ClientMeta,
    ) -> Result<(), ServiceError> {
        let result = match result {
            Ok(result) => result,
            Err(error) => {
                // A counter that went backwards lands here too: a possible cloned key.
                tracing::warn!(event = "passkey.refused", user_id = user.id, %error);
                metrics::sign_in("wrong_credentials");
                self.activity
                    .record(
                        user.id,
                        ActivityKind::PasskeyRefused,
                        meta,
                        Some(record.name.clone()),
                    )
                    .await;
                return Err(passkey_error(REFUSED));
            }
        };
        passkey.update_credential(&result);
        let credential = serde_json::to_string(&passkey).map_err(internal("a passkey"))?;
        self.store
            .passkey_used(
                record.id,
                &credential,
                result.backup_state(),
                self.clock.now(),
            )
            .await?;
        Ok(())
    }

    /// Stores a ceremony's state under a new token's hash.
    async fn begin(
        &self,
        purpose: Purpose,
        user_id: Option<i64>,
        state: &impl Serialize,
    ) -> Result<SessionToken, ServiceError> {
        let token = SessionToken::generate();
        let now = self.clock.now();
        self.store
            .insert_passkey_ceremony(&PasskeyCeremonyRecord {
                token_hash: token.hash(),
                purpose: purpose.as_str().to_string(),
                user_id,
                state: serde_json::to_string(state).map_err(internal("a ceremony's state"))?,
                created_at: now,
                expires_at: now + PASSKEY_CEREMONY_LIFETIME_SECS,
            })
            .await?;
        Ok(token)
    }

    /// Takes (deletes) the ceremony of `purpose` this browser's token names, if it has not
    /// expired. A missing token, another browser's, a replay and an expired one all get the
    /// same answer: start again.
    async fn take<S: DeserializeOwned>(
        &self,
        token: Option<&SessionToken>,
        purpose: Purpose,
    ) -> Result<(PasskeyCeremonyRecord, S), ServiceError> {
        let token = token.ok_or_else(|| passkey_error(CEREMONY_EXPIRED))?;
        let ceremony = self
            .store
            .take_passkey_ceremony(&token.hash(), purpose.as_str())
            .await?
            .filter(|ceremony| self.clock.now() < ceremony.expires_at)
            .ok_or_else(|| passkey_error(CEREMONY_EXPIRED))?;
        let state =
            serde_json::from_str(&ceremony.state).map_err(internal("a ceremony's state"))?;
        Ok((ceremony, state))
    }
}
