//! Proving an address: the link mailed at sign-up (and again on request), what following it
//! does, and moving an account to a new address, which becomes its sign-in address only once
//! a link mailed to it is followed.
//!
//! `VerificationMode` (`EMAIL_VERIFICATION`) decides whether an unconfirmed account may sign
//! in; registration and sign-in ask this service, and the rest is the same in both modes.

use std::sync::Arc;

use crate::model::activity::ActivityKind;
use crate::model::user::PendingConfirmation;
use crate::model::{AppError, ChangeEmailForm, EmailAddressForm};
use crate::server::clock::Clock;
use crate::server::db::{Store, StoreError, UserRecord};
use crate::server::error::ServiceError;
use crate::server::limits::{recipient_key, Limits};

use super::activity::ActivityLog;
use super::client::ClientMeta;
use super::email_links::{after_the_answer, EmailLinks, LiveLink, Purpose};
use super::notices::Notices;
use super::sessions::{CurrentSession, Sessions, SignedIn};
use super::settings::VerificationMode;
use super::sign_in::SignIn;

/// What following a confirmation link did.
pub enum Confirmed {
    /// The account's address is confirmed. `signed_in`: a new session, when verification is
    /// required (the link is the first proof the account has; following it signs in).
    Verified { signed_in: Option<SignedIn> },
    /// The account signs in with its new address from now on.
    EmailChanged,
}

#[derive(Clone)]
pub struct EmailVerification {
    pub(super) store: Arc<dyn Store>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) mode: VerificationMode,
    pub(super) links: EmailLinks,
    pub(super) limits: Arc<Limits>,
    pub(super) notices: Notices,
    pub(super) activity: ActivityLog,
    pub(super) sessions: Sessions,
    pub(super) sign_in: SignIn,
}

impl EmailVerification {
    pub fn mode(&self) -> VerificationMode {
        self.mode
    }

    /// Mails `user` a link that confirms their address (at sign-up, and on request).
    pub(super) async fn send_link(
        &self,
        user: &UserRecord,
        meta: &ClientMeta,
    ) -> Result<(), ServiceError> {
        let token = self
            .links
            .issue(
                user,
                Purpose::VerifyEmail,
                &user.email,
                &user.email_canonical,
            )
            .await?;
        self.notices.verify_email(user, &token, meta);
        Ok(())
    }

    /// "Send a new link", from the banner of a signed-in, unconfirmed account: limited per
    /// client address and per account (the refusal says so: it is the person's own account).
    /// Nothing is sent for an address already confirmed.
    pub async fn resend(
        &self,
        current: &CurrentSession,
        meta: &ClientMeta,
    ) -> Result<(), ServiceError> {
        let user = &current.user;
        if user.email_verified_at.is_some() {
            return Ok(());
        }
        self.limits.check(&self.limits.mail, meta.ip_key()).await?;
        self.limits
            .check(
                &self.limits.mail_recipient,
                recipient_key(&user.email_canonical),
            )
            .await?;
        self.send_link(user, meta).await
    }

    /// "Send a new link" by address, for someone who cannot sign in before confirming. The
    /// answer is the same whether or not an unconfirmed account has the address: the lookup
    /// and the mail happen after it, in the background (`resend_by_address`).
    pub async fn resend_to_address(
        &self,
        form: &EmailAddressForm,
        meta: &ClientMeta,
    ) -> Result<(), ServiceError> {
        self.limits.check(&self.limits.mail, meta.ip_key()).await?;
        form.check().map_err(AppError::from)?;
        let (this, address, client) = (self.clone(), form.canonical_email(), meta.clone());
        after_the_answer("verification.resend_failed", meta, async move {
            this.resend_by_address(&address, &client).await
        });
        Ok(())
    }

    async fn resend_by_address(
        &self,
        email_canonical: &str,
        meta: &ClientMeta,
    ) -> Result<(), ServiceError> {
        // Per recipient, silently: a refusal here must not answer differently.
        let recipient = recipient_key(email_canonical);
        if self
            .limits
            .check(&self.limits.mail_recipient, &recipient)
            .await
            .is_err()
        {
            return Ok(());
        }
        match self.store.user_by_email(email_canonical).await? {
            Some(user) if user.email_verified_at.is_none() => self.send_link(&user, meta).await,
            _ => {
                tracing::info!(event = "verification.resend_skipped");
                Ok(())
            }
        }
    }

    /// What the link behind `raw` will do, if it is a confirmation link that still works.
    pub async fn pending_confirmation(
        &self,
        raw: &str,
    ) -> Result<Option<PendingConfirmation>, ServiceError> {
        Ok(self.confirmation_link(raw).await?.map(|link| {
            let address = link.record.email;
            match link.purpose {
                Purpose::ChangeEmail => PendingConfirmation::ChangeEmail { address },
                _ => PendingConfirmation::VerifyEmail { address },
            }
        }))
    }

    /// Follows a confirmation link (the POST behind the page's button: mail scanners fetch
    /// links, so a GET never confirms anything).
    pub async fn confirm(&self, raw: &str, meta: &ClientMeta) -> Result<Confirmed, ServiceError> {
        // Checked before taking it, so that a reset link sent here is not used up.
        if self.confirmation_link(raw).await?.is_none() {
            return Err(AppError::LinkInvalid.into());
        }
        let link = self.links.take(raw).await?.ok_or(AppError::LinkInvalid)?;
        let user = self
            .store
            .user_by_id(link.record.user_id)
            .await?
            .ok_or(AppError::LinkInvalid)?;
        match link.purpose {
            Purpose::ChangeEmail => self.change_to(&user, &link, meta).await,
            _ => self.verify(&user, &link, meta).await,
        }
    }

    async fn verify(
        &self,
        user: &UserRecord,
        link: &LiveLink,
        meta: &ClientMeta,
    ) -> Result<Confirmed, ServiceError> {
        // A link to an address the account no longer has confirms nothing.
        let now = self.clock.now();
        if !self
            .store
            .set_email_verified(user.id, &link.record.email_canonical, now)
            .await?
        {
            return Err(AppError::LinkInvalid.into());
        }
        self.activity
            .record(user.id, ActivityKind::EmailVerified, meta, None)
            .await;
        // The link proves the address, not the person: an account with two-factor on (it
        // could have enrolled before verification became required) signs in with its code.
        let signed_in = match self.mode {
            VerificationMode::Required if !user.two_factor_enabled => {
                Some(self.sessions.start(user, false, meta).await?)
            }
            _ => None,
        };
        Ok(Confirmed::Verified { signed_in })
    }

    async fn change_to(
        &self,
        user: &UserRecord,
        link: &LiveLink,
        meta: &ClientMeta,
    ) -> Result<Confirmed, ServiceError> {
        let (email, canonical) = (&link.record.email, &link.record.email_canonical);
        match self
            .store
            .change_email(user.id, email, canonical, self.clock.now())
            .await
        {
            Ok(()) => {}
            // Another account took the address after the link was sent.
            Err(StoreError::UniqueViolation) => {
                tracing::info!(event = "email_change.taken_meanwhile", user_id = user.id);
                return Err(AppError::LinkInvalid.into());
            }
            Err(other) => return Err(other.into()),
        }
        // A confirmation link still on its way to the old address is moot now.
        self.links.revoke(user.id, Purpose::VerifyEmail).await?;
        self.activity
            .record(user.id, ActivityKind::EmailChanged, meta, None)
            .await;
        self.notices.email_changed(user, email, meta);
        Ok(Confirmed::EmailChanged)
    }

    /// The live link behind `raw` if it is one this service follows.
    async fn confirmation_link(&self, raw: &str) -> Result<Option<LiveLink>, ServiceError> {
        Ok(self
            .links
            .peek(raw)
            .await?
            .filter(|link| matches!(link.purpose, Purpose::VerifyEmail | Purpose::ChangeEmail)))
    }

    /// Asks to move the signed-in account to `form.new_email`: after the current password,
    /// a link to the new address, which becomes the sign-in address when it is followed.
    ///
    /// The answer is the same whether or not another account has the new address (then
    /// nothing is sent), so this form is no way to learn who has an account.
    pub async fn request_change(
        &self,
        current: &CurrentSession,
        form: &ChangeEmailForm,
        meta: &ClientMeta,
    ) -> Result<(), ServiceError> {
        let user = &current.user;
        self.limits.check(&self.limits.mail, meta.ip_key()).await?;
        form.check(&user.email).map_err(AppError::from)?;
        self.sign_in
            .confirm_password(user, &form.password, "password", meta)
            .await?;
        let (email, canonical) = (form.normalized_email(), form.canonical_email());
        self.activity
            .record(user.id, ActivityKind::EmailChangeRequested, meta, None)
            .await;
        if self
            .limits
            .check(&self.limits.mail_recipient, recipient_key(&canonical))
            .await
            .is_err()
        {
            return Ok(());
        }
        if self.store.user_by_email(&canonical).await?.is_some() {
            tracing::info!(event = "email_change.address_taken", user_id = user.id);
            return Ok(());
        }
        let token = self
            .links
            .issue(user, Purpose::ChangeEmail, &email, &canonical)
            .await?;
        self.notices.confirm_new_email(user, &email, &token, meta);
        Ok(())
    }

    /// The address a change is waiting on, if one is.
    pub async fn pending_change(&self, user_id: i64) -> Result<Option<String>, ServiceError> {
        Ok(self
            .links
            .pending(user_id, Purpose::ChangeEmail)
            .await?
            .map(|link| link.email))
    }

    /// Cancels a pending change: its link stops working.
    pub async fn cancel_change(&self, user_id: i64) -> Result<(), ServiceError> {
        self.links.revoke(user_id, Purpose::ChangeEmail).await
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::Registered;
    use super::*;
    use crate::model::LoginForm;

    /// The token in the last message to `to` with a link to `page`.
    fn token_in(mails: &[SentMail], to: &str, page: &str) -> String {
        let mail = mails
            .iter()
            .rev()
            .find(|m| m.to == to && m.text.contains(page))
            .unwrap_or_else(|| panic!("no {page} link to {to}"));
        let start = mail.text.find("token=").unwrap() + "token=".len();
        mail.text[start..]
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    }

    fn login_form(name: &str) -> LoginForm {
        LoginForm {
            username: name.into(),
            password: PASSWORD.into(),
        }
    }

    #[tokio::test]
    async fn required_mode_signs_in_only_after_the_link_and_the_link_signs_in() {
        let f = fixture_in(VerificationMode::Required).await;
        let registered = f
            .auth
            .registration
            .register(&register_form("alice"), &meta())
            .await
            .unwrap();
        assert!(matches!(registered, Registered::CheckInbox));
        let refused = f
            .auth
            .sign_in
            .login(&login_form("alice"), false, &meta())
            .await;
        assert!(matches!(
            refused,
            Err(ServiceError::Client(AppError::EmailNotVerified))
        ));

        // The same address again: the same outcome, no account, and the owner is told.
        let mut again = register_form("mallory");
        again.email = "ALICE@example.com".into();
        let second = f.auth.registration.register(&again, &meta()).await.unwrap();
        assert!(matches!(second, Registered::CheckInbox));
        assert!(f.store.user_by_username("mallory").await.unwrap().is_none());
        let alice = f.store.user_by_username("alice").await.unwrap().unwrap();
        let events = f.auth.activity.recent(alice.id).await.unwrap();
        assert_eq!(events[0].kind, ActivityKind::SignUpAttempted);

        let mails = f.sent_mail().await;
        let subjects: Vec<_> = mails.iter().map(|m| m.subject.as_str()).collect();
        assert_eq!(
            subjects,
            [
                "Confirm your email address for Gatehouse",
                "Someone tried to sign up with your email address"
            ]
        );
        let token = token_in(&mails, "alice@example.com", "/verify-email");
        assert_eq!(
            f.auth
                .verification
                .pending_confirmation(&token)
                .await
                .unwrap(),
            Some(PendingConfirmation::VerifyEmail {
                address: "alice@example.com".into()
            })
        );
        let Confirmed::Verified {
            signed_in: Some(signed_in),
        } = f.auth.verification.confirm(&token, &meta()).await.unwrap()
        else {
            panic!("not signed in");
        };
        assert_eq!(f.current(&signed_in).await.user.id, alice.id);
        assert!(f
            .auth
            .sign_in
            .login(&login_form("alice"), false, &meta())
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn a_confirmation_link_to_an_address_the_account_left_confirms_nothing() {
        let f = fixture().await;
        let signed_in = f.register("alice").await;
        let current = f.current(&signed_in).await;
        let change = ChangeEmailForm {
            new_email: "alice@new.example".into(),
            password: PASSWORD.into(),
        };
        f.auth
            .verification
            .request_change(&current, &change, &meta())
            .await
            .unwrap();
        assert_eq!(
            f.auth
                .verification
                .pending_change(current.user.id)
                .await
                .unwrap()
                .as_deref(),
            Some("alice@new.example")
        );
        // Read the links before the mailer stops: the sign-up's and the change's.
        let user = f.store.user_by_id(current.user.id).await.unwrap().unwrap();
        let mails = f.sent_mail().await;
        let verify = token_in(&mails, "alice@example.com", "/verify-email");
        let move_to = token_in(&mails, "alice@new.example", "/verify-email");
        assert!(matches!(
            f.auth
                .verification
                .confirm(&move_to, &meta())
                .await
                .unwrap(),
            Confirmed::EmailChanged
        ));
        let moved = f.store.user_by_id(user.id).await.unwrap().unwrap();
        assert_eq!(moved.email, "alice@new.example");
        assert!(moved.email_verified_at.is_some());
        // The old address's confirmation link died with the change.
        assert!(matches!(
            f.auth.verification.confirm(&verify, &meta()).await,
            Err(ServiceError::Client(AppError::LinkInvalid))
        ));
    }

    #[tokio::test]
    async fn required_sign_ups_take_the_floor_whether_or_not_the_address_was_free() {
        let f = fixture_in(VerificationMode::Required).await;
        let floor = std::time::Duration::from_millis(300);
        let mut registration = f.auth.registration.clone();
        registration.floor = super::super::FailureFloor::fixed(floor);
        let mut taken = register_form("mallory");
        taken.email = "alice@example.com".into();
        for form in [register_form("alice"), taken] {
            let started = tokio::time::Instant::now();
            let answer = registration.register(&form, &meta()).await.unwrap();
            let took = started.elapsed();
            assert!(matches!(answer, Registered::CheckInbox));
            assert!(took >= floor, "{}: answered after {took:?}", form.username);
        }
        // A taken username is public: it is said (and needs no floor).
        let mut same_name = register_form("alice");
        same_name.email = "other@example.com".into();
        let refused = registration.register(&same_name, &meta()).await;
        let Err(ServiceError::Client(AppError::Validation(fields))) = refused else {
            panic!("not a field error");
        };
        assert!(fields.get("username").is_some());
    }

    #[tokio::test]
    async fn confirming_an_address_by_link_never_signs_an_enrolled_account_in() {
        let f = fixture_in(VerificationMode::Required).await;
        let registered = f
            .auth
            .registration
            .register(&register_form("alice"), &meta())
            .await
            .unwrap();
        assert!(matches!(registered, Registered::CheckInbox));
        // Two-factor on before the address was confirmed (enrolled while verification was
        // optional): set straight in the store.
        let alice = f.store.user_by_username("alice").await.unwrap().unwrap();
        let now = f.clock.now();
        assert!(f
            .store
            .begin_two_factor(alice.id, b"sealed secret", now)
            .await
            .unwrap());
        let codes = crate::server::db::NewRecoveryCodes {
            salt: vec![0; 16],
            digests: vec![vec![1; 32]],
            reveal_to_session: "none".into(),
            sealed_codes: vec![2; 8],
            reveal_until: now,
        };
        assert!(f
            .store
            .enable_two_factor(alice.id, 1, now, &codes)
            .await
            .unwrap());
        let mails = f.sent_mail().await;
        let token = token_in(&mails, "alice@example.com", "/verify-email");
        let confirmed = f.auth.verification.confirm(&token, &meta()).await.unwrap();
        // The address is confirmed, and nobody is signed in: the link proves the address,
        // not the person, who signs in with the password and a code.
        assert!(matches!(confirmed, Confirmed::Verified { signed_in: None }));
        let alice = f.store.user_by_id(alice.id).await.unwrap().unwrap();
        assert!(alice.email_verified_at.is_some());
        assert!(f.store.sessions_of(alice.id).await.unwrap().is_empty());
        assert!(matches!(
            f.auth
                .sign_in
                .login(&login_form("alice"), false, &meta())
                .await
                .unwrap(),
            crate::server::auth::LoginOutcome::SecondFactor(_)
        ));
    }
}
