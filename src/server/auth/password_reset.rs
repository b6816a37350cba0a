//! "Forgot password?": a link mailed to the account's address, and the new password chosen
//! behind it (OWASP Forgot Password cheat sheet; ASVS 5.0 6.4).
//!
//! - The request is answered the same way, in the same time, whether or not an account has
//!   the address: the answer is given before the lookup, which runs in the background with the
//!   mail.
//! - The link works once, for 30 minutes, and dies when a newer one is sent or the password
//!   changes by any route (it carries the account's credential epoch, which every password
//!   change moves on).
//! - A new password ends every session and every access token, and the owner is told by mail.
//!   It does not sign in: the person signs in with the new password, as usual.

use std::sync::Arc;

use secrecy::SecretString;

use crate::model::activity::{count_of, ActivityKind};
use crate::model::{AppError, EmailAddressForm, PasswordPolicy, ResetPasswordForm};
use crate::server::clock::Clock;
use crate::server::db::{Store, UserRecord};
use crate::server::error::ServiceError;
use crate::server::limits::{recipient_key, Limits};

use super::activity::ActivityLog;
use super::client::ClientMeta;
use super::email_links::{after_the_answer, EmailLinks, Purpose};
use super::notices::Notices;
use super::password::PasswordHasher;

#[derive(Clone)]
pub struct PasswordReset {
    pub(super) store: Arc<dyn Store>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) links: EmailLinks,
    pub(super) limits: Arc<Limits>,
    pub(super) hasher: PasswordHasher,
    pub(super) policy: PasswordPolicy,
    pub(super) activity: ActivityLog,
    pub(super) notices: Notices,
}

impl PasswordReset {
    /// Asks for a reset link for the account with `form.email`, if there is one. Only the
    /// per-client limit and the address's syntax can change the answer.
    pub async fn request(
        &self,
        form: &EmailAddressForm,
        meta: &ClientMeta,
    ) -> Result<(), ServiceError> {
        self.limits.check(&self.limits.mail, meta.ip_key()).await?;
        form.check().map_err(AppError::from)?;
        let (this, address, client) = (self.clone(), form.canonical_email(), meta.clone());
        after_the_answer("password_reset.send_failed", meta, async move {
            this.send_link(&address, &client).await
        });
        Ok(())
    }

    /// The background half of `request`.
    pub(super) async fn send_link(
        &self,
        email_canonical: &str,
        meta: &ClientMeta,
    ) -> Result<(), ServiceError> {
        // Per recipient, silently: a refusal here must not answer differently.
        if self
            .limits
            .check(&self.limits.mail_recipient, recipient_key(email_canonical))
            .await
            .is_err()
        {
            return Ok(());
        }
        let Some(user) = self.store.user_by_email(email_canonical).await? else {
            tracing::info!(event = "password_reset.unknown_address");
            return Ok(());
        };
        let token = self
            .links
            .issue(
                &user,
                Purpose::ResetPassword,
                &user.email,
                &user.email_canonical,
            )
            .await?;
        self.notices.password_reset(&user, &token, meta);
        self.activity
            .record(user.id, ActivityKind::PasswordResetRequested, meta, None)
            .await;
        Ok(())
    }

    /// The account a reset link is for, if the link still works: the page behind it shows
    /// the form only then.
    pub async fn account_of(&self, raw: &str) -> Result<Option<UserRecord>, ServiceError> {
        let Some(link) = self.links.peek(raw).await? else {
            return Ok(None);
        };
        if link.purpose != Purpose::ResetPassword {
            return Ok(None);
        }
        let user = self.store.user_by_id(link.record.user_id).await?;
        // A password changed since the link was made (by any route) moved the epoch on.
        Ok(user.filter(|user| user.token_version == link.record.token_version))
    }

    /// Sets a new password through the reset link behind `raw`: every session and access
    /// token of the account ends, the address counts as confirmed (the link reached it), and
    /// the owner gets a notice.
    pub async fn reset(
        &self,
        raw: &str,
        form: &ResetPasswordForm,
        meta: &ClientMeta,
    ) -> Result<(), ServiceError> {
        let user = self.account_of(raw).await?.ok_or(AppError::LinkInvalid)?;
        form.check(&self.policy, &user.username, &user.email)
            .map_err(AppError::from)?;
        let hash = self
            .hasher
            .hash(SecretString::from(form.new_password.expose()))
            .await?;
        // Followed only now, so a form error above leaves the link working for the next try;
        // of two submissions racing with one link, one gets it.
        self.links.take(raw).await?.ok_or(AppError::LinkInvalid)?;
        self.store.replace_password(user.id, &hash).await?;
        let ended = self.store.delete_user_sessions(user.id).await?;
        if user.email_verified_at.is_none() {
            self.store
                .set_email_verified(user.id, &user.email_canonical, self.clock.now())
                .await?;
        }
        let detail = format!(
            "{} ended, access tokens revoked",
            count_of(ended, "session")
        );
        self.activity
            .record(user.id, ActivityKind::PasswordReset, meta, Some(detail))
            .await;
        self.notices.password_changed(&user, meta, true);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use futures::FutureExt;

    use super::super::test_support::*;
    use super::*;

    /// The answer is ready at its first poll, before the lookup (a database round trip) has
    /// even started, for a known and an unknown address alike: it cannot wait on the lookup,
    /// nor on the link or the mail, so its time says nothing about the address. (No clock is
    /// read: an answer that awaited the lookup would not be ready at the first poll.)
    #[tokio::test]
    async fn the_answer_is_given_before_the_lookup() {
        let f = fixture().await;
        f.register("alice").await;
        let alice = f.store.user_by_username("alice").await.unwrap().unwrap();
        let reset = &f.auth.password_reset;
        let m = meta();
        for email in ["alice@example.com", "nobody@example.com"] {
            let form = EmailAddressForm {
                email: email.into(),
            };
            assert!(
                matches!(reset.request(&form, &m).now_or_never(), Some(Ok(()))),
                "the answer for {email} waited"
            );
        }
        // The lookup does run, after the answer: the known address gets its link.
        tokio::time::timeout(std::time::Duration::from_secs(20), async {
            while f
                .store
                .email_link_of(alice.id, Purpose::ResetPassword.as_str())
                .await
                .unwrap()
                .is_none()
            {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the link was issued after the answer");
    }
}
