//! The mail the services send: links (confirm an address, reset a password, confirm a new
//! address) and notices that tell an account's owner about a change to how they sign in, so a
//! change they did not make does not go unnoticed (ASVS 4.0.3 2.5.5: the user is told when an
//! authentication factor changes).
//!
//! Notices are queued, never awaited: whether one goes out changes nothing in the answer to
//! the request that caused it. Links come from `PUBLIC_URL` only.

use std::sync::Arc;

use crate::server::clock::Clock;
use crate::server::db::UserRecord;
use crate::server::mail::templates::{
    device_and_address, utc_date_time, LinkMail, LinkMailKind, PasswordChanged, TwoFactorChanged,
};
use crate::server::mail::{Mailer, OutgoingMail, PublicUrl, RenderedMail};

use super::client::ClientMeta;
use super::email_links::{LinkToken, Purpose};

/// What changed about the ways an account signs in beyond its password: the second factor,
/// and passkeys (named by their owner).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TwoFactorChange {
    PasskeyAdded {
        name: String,
    },
    PasskeyRemoved {
        name: String,
    },
    Enabled,
    Disabled,
    RecoveryCodesRegenerated,
    RecoveryCodeUsed {
        left: u64,
    },
    /// Turned off by an operator (`gatehouse two-factor reset`).
    ResetByOperator,
}

impl TwoFactorChange {
    /// Subject, what happened, and what followed from it.
    fn words(self) -> (&'static str, &'static str, String) {
        match self {
            Self::PasskeyAdded { name } => (
                "A passkey was added to your Gatehouse account",
                "A passkey was added to your Gatehouse account",
                format!("It is named \u{201c}{name}\u{201d}, and it signs you in without a password."),
            ),
            Self::PasskeyRemoved { name } => (
                "A passkey was removed from your Gatehouse account",
                "A passkey was removed from your Gatehouse account",
                format!("The passkey named \u{201c}{name}\u{201d} no longer signs you in."),
            ),
            Self::Enabled => (
                "Two-factor authentication is on for your Gatehouse account",
                "Two-factor authentication was turned on for your Gatehouse account",
                "Signing in now needs a code from the authenticator app as well as the password, and your other devices were signed out.".into(),
            ),
            Self::Disabled => (
                "Two-factor authentication is off for your Gatehouse account",
                "Two-factor authentication was turned off for your Gatehouse account",
                "Your password alone now signs you in, and your other devices were signed out.".into(),
            ),
            Self::RecoveryCodesRegenerated => (
                "New recovery codes for your Gatehouse account",
                "New recovery codes were made for your Gatehouse account",
                "The old codes no longer work, and your other devices were signed out.".into(),
            ),
            Self::ResetByOperator => (
                "Two-factor authentication was reset for your Gatehouse account",
                "The people who run Gatehouse turned off two-factor authentication for your account",
                "Every device was signed out. Sign in with your password and set up two-factor authentication again (Account, Two-factor authentication).".into(),
            ),
            Self::RecoveryCodeUsed { left } => (
                "A recovery code was used to sign in to your Gatehouse account",
                "A recovery code was used for your Gatehouse account",
                format!(
                    "It cannot be used again; {left} of your recovery codes {} left. If you are running low, make new ones (Account, Two-factor authentication).",
                    if left == 1 { "is" } else { "are" }
                ),
            ),
        }
    }
}

#[derive(Clone)]
pub struct Notices {
    pub(super) mailer: Mailer,
    pub(super) public_url: PublicUrl,
    pub(super) clock: Arc<dyn Clock>,
}

impl Notices {
    /// Notices outside the running server (the command line's operator actions).
    pub fn new(mailer: Mailer, public_url: PublicUrl, clock: Arc<dyn Clock>) -> Self {
        Self {
            mailer,
            public_url,
            clock,
        }
    }

    /// "Your password was changed", to the account's address: when, from which device and
    /// address, and where to sign in if it was not them.
    pub fn password_changed(
        &self,
        user: &UserRecord,
        meta: &ClientMeta,
        other_sessions_ended: bool,
    ) {
        let notice = PasswordChanged {
            username: user.username.clone(),
            changed_at: utc_date_time(self.clock.now()),
            changed_from: device_and_address(meta.device().as_deref(), meta.ip.as_deref()),
            other_sessions_ended,
            login_link: self.public_url.link("/login", &[]),
            site: self.public_url.origin(),
        };
        self.queue(user, meta, "password_changed", notice.render());
    }

    /// A change to the account's second factor, to the account's address.
    pub fn two_factor_changed(
        &self,
        user: &UserRecord,
        change: TwoFactorChange,
        meta: &ClientMeta,
    ) {
        let (subject, what_happened, consequence) = change.words();
        let notice = TwoFactorChanged {
            subject: subject.to_string(),
            username: user.username.clone(),
            what_happened: what_happened.to_string(),
            consequence,
            at: utc_date_time(self.clock.now()),
            from: device_and_address(meta.device().as_deref(), meta.ip.as_deref()),
            login_link: self.public_url.link("/login", &[]),
            site: self.public_url.origin(),
        };
        self.queue(user, meta, "two_factor_changed", notice.render());
    }

    /// "Confirm your email address", to the account's address.
    pub fn verify_email(&self, user: &UserRecord, token: &LinkToken, meta: &ClientMeta) {
        let link = self.token_link("/verify-email", token);
        let mail = self.link_mail(LinkMailKind::VerifyEmail, user, &user.email, link, meta);
        self.send_link_mail(
            &user.email,
            user,
            meta,
            mail.valid_for(Purpose::VerifyEmail),
        );
    }

    /// "Reset your password", to the account's address.
    pub fn password_reset(&self, user: &UserRecord, token: &LinkToken, meta: &ClientMeta) {
        let link = self.token_link("/reset-password", token);
        let mail = self.link_mail(LinkMailKind::PasswordReset, user, &user.email, link, meta);
        self.send_link_mail(
            &user.email,
            user,
            meta,
            mail.valid_for(Purpose::ResetPassword),
        );
    }

    /// "Confirm your new email address", to the new address (not yet the account's).
    pub fn confirm_new_email(
        &self,
        user: &UserRecord,
        new_address: &str,
        token: &LinkToken,
        meta: &ClientMeta,
    ) {
        let link = self.token_link("/verify-email", token);
        let mail = self.link_mail(LinkMailKind::ConfirmNewEmail, user, new_address, link, meta);
        self.send_link_mail(
            new_address,
            user,
            meta,
            mail.valid_for(Purpose::ChangeEmail),
        );
    }

    /// "Someone tried to sign up with your email address", to the owner of an address a
    /// sign-up named (when verification is required, the sign-up itself says nothing).
    pub fn signup_attempt(&self, user: &UserRecord, meta: &ClientMeta) {
        let link = self.public_url.link("/forgot-password", &[]);
        let mail = self.link_mail(LinkMailKind::SignUpAttempt, user, &user.email, link, meta);
        self.send_link_mail(&user.email, user, meta, mail);
    }

    /// "Your email address was changed", to the address the account had before (`before`).
    pub fn email_changed(&self, before: &UserRecord, new_address: &str, meta: &ClientMeta) {
        let link = self.public_url.link("/login", &[]);
        let mail = self.link_mail(LinkMailKind::EmailChanged, before, new_address, link, meta);
        self.send_link_mail(&before.email, before, meta, mail);
    }

    fn token_link(&self, path: &str, token: &LinkToken) -> String {
        self.public_url.link(path, &[("token", token.expose())])
    }

    fn link_mail(
        &self,
        kind: LinkMailKind,
        user: &UserRecord,
        address: &str,
        link: String,
        meta: &ClientMeta,
    ) -> LinkMail {
        LinkMail {
            kind,
            username: user.username.clone(),
            address: address.to_string(),
            link,
            login_link: self.public_url.link("/login", &[]),
            valid_for: String::new(),
            requested_at: utc_date_time(self.clock.now()),
            requested_from: device_and_address(meta.device().as_deref(), meta.ip.as_deref()),
            site: self.public_url.origin(),
        }
    }

    fn send_link_mail(&self, to: &str, user: &UserRecord, meta: &ClientMeta, mail: LinkMail) {
        self.queue_to(to, user, meta, mail.kind.as_str(), mail.render());
    }

    fn queue(
        &self,
        user: &UserRecord,
        meta: &ClientMeta,
        kind: &'static str,
        rendered: Result<RenderedMail, askama::Error>,
    ) {
        self.queue_to(&user.email, user, meta, kind, rendered);
    }

    fn queue_to(
        &self,
        to: &str,
        user: &UserRecord,
        meta: &ClientMeta,
        kind: &'static str,
        rendered: Result<RenderedMail, askama::Error>,
    ) {
        match rendered {
            Ok(content) => self.mailer.send(OutgoingMail {
                to: to.to_string(),
                kind,
                content,
                request_id: meta.request_id.clone(),
            }),
            Err(error) => tracing::error!(
                event = "mail.invalid",
                kind,
                user_id = user.id,
                %error,
                "notice could not be rendered"
            ),
        }
    }
}

impl LinkMail {
    /// Says how long a link of `purpose` works.
    fn valid_for(self, purpose: Purpose) -> Self {
        Self {
            valid_for: purpose.lifetime_words().to_string(),
            ..self
        }
    }
}
