//! What a signed-in person does to their own account's credentials: change the password,
//! sign out everywhere, delete the account.

use std::sync::Arc;

use secrecy::SecretString;

use crate::model::activity::{count_of, ActivityKind};
use crate::model::forms::{ChangePasswordForm, DeleteAccountForm};
use crate::model::{AppError, PasswordPolicy};
use crate::server::db::{Store, UserRecord};
use crate::server::error::ServiceError;

use super::activity::{hex_prefix, ActivityLog};
use super::client::ClientMeta;
use super::notices::Notices;
use super::password::PasswordHasher;
use super::sessions::{CurrentSession, Sessions, SignedIn};
use super::sign_in::SignIn;

#[derive(Clone)]
pub struct AccountSecurity {
    pub(super) store: Arc<dyn Store>,
    pub(super) hasher: PasswordHasher,
    pub(super) policy: PasswordPolicy,
    pub(super) activity: ActivityLog,
    pub(super) sign_in: SignIn,
    pub(super) sessions: Sessions,
    pub(super) notices: Notices,
}

impl AccountSecurity {
    /// Changes the password of the person signed in with `current`. Every access token ends;
    /// other sessions end unless `keep_other_sessions`; this browser gets a new session (new
    /// token, new id) with the same remember-me choice, returned for the cookie. The account's
    /// address gets a notice (queued: the answer does not wait for it).
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
        self.sign_in
            .confirm_password(user, &form.current_password, "current_password", meta)
            .await?;
        let hash = self
            .hasher
            .hash(SecretString::from(form.new_password.expose()))
            .await?;
        // One statement stores the hash and moves the account to a new credential epoch: no
        // window in which the new password works while old access tokens or sessions still
        // do (a sign-in racing this change inserts a session of the old epoch, refused on use).
        let epoch = self.store.replace_password(user.id, &hash).await?;
        // Counted without this browser's session, which may already be gone (a double submit
        // or a sign-out in another tab).
        let ended = if keep_other_sessions {
            self.store
                .rebind_sessions(user.id, user.token_version, epoch)
                .await?;
            0
        } else {
            self.store
                .delete_other_sessions(user.id, &current.session.token_hash)
                .await?
        };
        self.store
            .delete_session(&current.session.token_hash)
            .await?;
        let remember = current.session.remember;
        let renewed = UserRecord {
            token_version: epoch,
            password_hash: hash,
            ..user.clone()
        };
        let signed_in = self.sessions.start(&renewed, remember, meta).await?;
        let detail = if keep_other_sessions {
            "other sessions kept, access tokens revoked".to_string()
        } else {
            format!(
                "{} ended, access tokens revoked",
                count_of(ended, "other session")
            )
        };
        self.activity
            .record(user.id, ActivityKind::PasswordChanged, meta, Some(detail))
            .await;
        self.notices
            .password_changed(user, meta, !keep_other_sessions);
        Ok(signed_in)
    }

    /// Ends every session and every access token of the user.
    pub async fn logout_everywhere(
        &self,
        current: &CurrentSession,
        meta: &ClientMeta,
    ) -> Result<(), ServiceError> {
        let user_id = current.user.id;
        self.store.bump_token_version(user_id).await?;
        let ended = self.store.delete_user_sessions(user_id).await?;
        let detail = format!(
            "{} ended, access tokens revoked",
            count_of(ended, "session")
        );
        self.activity
            .record(
                user_id,
                ActivityKind::SignedOutEverywhere,
                meta,
                Some(detail),
            )
            .await;
        Ok(())
    }

    /// Deletes the account after confirming its password: the user row, its sessions and
    /// API keys, and its activity log, leaving one `account.deleted` record (no address, no
    /// device) chained to the erased history. Every access token dies with the row.
    pub async fn delete_account(
        &self,
        current: &CurrentSession,
        form: &DeleteAccountForm,
        meta: &ClientMeta,
    ) -> Result<(), ServiceError> {
        let user = &current.user;
        form.check(&user.username).map_err(AppError::from)?;
        self.sign_in
            .confirm_password(user, &form.password, "password", meta)
            .await?;
        let record = self.activity.erasure_event(user.id, meta);
        let stored = self.store.delete_account(user.id, &record).await?;
        tracing::info!(
            event = ActivityKind::AccountDeleted.as_str(),
            user_id = user.id,
            chain_hash = %hex_prefix(&stored.hash),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use crate::model::forms::{ChangePasswordForm, DeleteAccountForm};
    use crate::model::LoginForm;

    fn change(keep_others: bool) -> (ChangePasswordForm, bool) {
        (
            ChangePasswordForm {
                current_password: PASSWORD.into(),
                new_password: "a brand new passphrase".into(),
                new_password_confirm: "a brand new passphrase".into(),
            },
            keep_others,
        )
    }

    #[tokio::test]
    async fn a_new_password_ends_the_other_sessions_unless_kept_and_renews_this_one() {
        for keep_others in [false, true] {
            let f = fixture().await;
            let this = f.register("alice").await;
            let other = f.login("alice", false).await;
            let current = f.current(&this).await;
            let (form, keep) = change(keep_others);
            let renewed = f
                .auth
                .account
                .change_password(&current, &form, keep, &meta())
                .await
                .unwrap();
            // No session fixation: the old token is dead, the new one works.
            assert!(f
                .auth
                .sessions
                .current(&this.token)
                .await
                .unwrap()
                .is_none());
            assert!(f
                .auth
                .sessions
                .current(&renewed.token)
                .await
                .unwrap()
                .is_some());
            let other_alive = f
                .auth
                .sessions
                .current(&other.token)
                .await
                .unwrap()
                .is_some();
            assert_eq!(other_alive, keep_others);
            let old = LoginForm {
                username: "alice".into(),
                password: PASSWORD.into(),
            };
            assert!(f.auth.sign_in.login(&old, false, &meta()).await.is_err());
        }
    }

    #[tokio::test]
    async fn a_password_change_sends_the_owner_a_notice_and_a_refused_one_does_not() {
        let f = fixture().await;
        let this = f.register("alice").await;
        let current = f.current(&this).await;
        let wrong = ChangePasswordForm {
            current_password: "not the password".into(),
            ..change(false).0
        };
        assert!(f
            .auth
            .account
            .change_password(&current, &wrong, false, &meta())
            .await
            .is_err());
        let (form, keep) = change(false);
        f.auth
            .account
            .change_password(&current, &form, keep, &meta())
            .await
            .unwrap();
        let notices: Vec<_> = f
            .sent_mail()
            .await
            .into_iter()
            .filter(|mail| mail.subject == "Your Gatehouse password was changed")
            .collect();
        assert_eq!(notices.len(), 1, "one notice, for the change that happened");
        assert_eq!(notices[0].to, "alice@example.com");
        let text = &notices[0].text;
        // The fixture's clock and client: 2027-01-15 08:00 UTC, Firefox on Linux.
        assert!(text.contains("15 January 2027 at 08:00 UTC"), "{text}");
        assert!(text.contains("Firefox on Linux (192.0.2.1)"), "{text}");
        assert!(text.contains("https://auth.example.com/login"), "{text}");
    }

    #[tokio::test]
    async fn a_sign_in_that_checked_the_old_password_does_not_outlive_the_change() {
        let f = fixture().await;
        let this = f.register("alice").await;
        let old = LoginForm {
            username: "alice".into(),
            password: PASSWORD.into(),
        };
        // The race: the old password is verified, then the change commits, then the sign-in
        // inserts its session.
        let verified_before = f.auth.sign_in.authenticate(&old, &meta()).await.unwrap();
        let current = f.current(&this).await;
        let (form, keep) = change(false);
        f.auth
            .account
            .change_password(&current, &form, keep, &meta())
            .await
            .unwrap();
        let late = f
            .auth
            .sessions
            .start(&verified_before, false, &meta())
            .await
            .unwrap();
        assert!(f
            .auth
            .sessions
            .current(&late.token)
            .await
            .unwrap()
            .is_none());

        // The same race against "sign out everywhere".
        let fresh = f
            .auth
            .sign_in
            .authenticate(
                &LoginForm {
                    username: "alice".into(),
                    password: "a brand new passphrase".into(),
                },
                &meta(),
            )
            .await
            .unwrap();
        let signed_in = f.auth.sessions.start(&fresh, false, &meta()).await.unwrap();
        let current = f.current(&signed_in).await;
        f.auth
            .account
            .logout_everywhere(&current, &meta())
            .await
            .unwrap();
        let late = f.auth.sessions.start(&fresh, false, &meta()).await.unwrap();
        assert!(f
            .auth
            .sessions
            .current(&late.token)
            .await
            .unwrap()
            .is_none());
    }

    #[tokio::test]
    async fn a_password_change_whose_session_is_already_gone_counts_no_sessions() {
        let f = fixture().await;
        let this = f.register("alice").await;
        let current = f.current(&this).await;
        // A double submit, or a sign-out in another tab, removed this session meanwhile.
        f.store.delete_session(&this.token.hash()).await.unwrap();
        let (form, keep) = change(false);
        f.auth
            .account
            .change_password(&current, &form, keep, &meta())
            .await
            .unwrap();
        let events = f.auth.activity.recent(current.user_id()).await.unwrap();
        let detail = events[0].detail.clone().unwrap_or_default();
        assert!(detail.starts_with("0 other sessions ended"), "{detail}");
    }

    #[tokio::test]
    async fn a_rehash_never_overwrites_a_password_changed_meanwhile() {
        let f = fixture().await;
        f.register("alice").await;
        let user = f.store.user_by_username("alice").await.unwrap().unwrap();
        assert!(!f
            .store
            .set_password_hash(user.id, "$argon2id$stale", "$argon2id$rehash")
            .await
            .unwrap());
        let after = f.store.user_by_username("alice").await.unwrap().unwrap();
        assert_eq!(after.password_hash, user.password_hash);
        assert!(f
            .store
            .set_password_hash(user.id, &user.password_hash, "$argon2id$rehash")
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn deleting_the_account_leaves_only_the_erasure_record() {
        let f = fixture().await;
        let signed_in = f.register("alice").await;
        let current = f.current(&signed_in).await;
        let form = DeleteAccountForm {
            password: PASSWORD.into(),
            confirm_username: "Alice".into(),
        };
        f.auth
            .account
            .delete_account(&current, &form, &meta())
            .await
            .unwrap();
        assert!(f.store.user_by_username("alice").await.unwrap().is_none());
        assert!(f
            .auth
            .sessions
            .current(&signed_in.token)
            .await
            .unwrap()
            .is_none());
        let report = crate::server::audit::verify(f.store.as_ref())
            .await
            .unwrap();
        assert!(report.is_intact(), "{:?}", report.problems);
        assert_eq!(report.events, 1);
    }
}
