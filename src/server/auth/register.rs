//! Registration: the browser's (signs in at once) and the API's (no session).

use std::sync::Arc;

use secrecy::SecretString;

use crate::model::activity::ActivityKind;
use crate::model::forms::{EMAIL_TAKEN, USERNAME_TAKEN};
use crate::model::{AppError, FieldErrors, PasswordPolicy, PublicUser, RegisterForm};
use crate::server::clock::Clock;
use crate::server::db::{NewUser, Store, StoreError, UserRecord};
use crate::server::error::ServiceError;
use crate::server::limits::Limits;

use super::activity::ActivityLog;
use super::client::ClientMeta;
use super::password::PasswordHasher;
use super::public_id;
use super::sessions::{Sessions, SignedIn};
use super::views::public_user;

#[derive(Clone)]
pub struct Registration {
    pub(super) store: Arc<dyn Store>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) hasher: PasswordHasher,
    pub(super) limits: Arc<Limits>,
    pub(super) policy: PasswordPolicy,
    pub(super) activity: ActivityLog,
    pub(super) sessions: Sessions,
}

impl Registration {
    /// Creates the account and signs it in (browser registration).
    pub async fn register(
        &self,
        form: &RegisterForm,
        meta: &ClientMeta,
    ) -> Result<SignedIn, ServiceError> {
        let user = self.create(form, meta).await?;
        self.sessions.start(&user, false, meta).await
    }

    /// Creates the account (the API's registration: no session).
    pub async fn create_account(
        &self,
        form: &RegisterForm,
        meta: &ClientMeta,
    ) -> Result<PublicUser, ServiceError> {
        Ok(public_user(&self.create(form, meta).await?))
    }

    async fn create(
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
            .hash(SecretString::from(form.password.expose()))
            .await?;
        let new_user = NewUser {
            public_id: public_id::generate(),
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
        self.activity
            .record(user.id, ActivityKind::AccountCreated, meta, None)
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
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    #[tokio::test]
    async fn both_taken_fields_are_reported_at_once_and_nothing_is_hashed_for_them() {
        let f = fixture().await;
        f.register("alice").await;
        let hashes_before = f.auth.registration.hasher.verification_count();
        let mut form = register_form("ALICE");
        form.email = "Alice@Example.com".into();
        let refused = f.auth.registration.create_account(&form, &meta()).await;
        let Err(ServiceError::Client(AppError::Validation(fields))) = refused else {
            panic!("not a field error");
        };
        assert_eq!(fields.get("username"), Some(USERNAME_TAKEN));
        assert_eq!(fields.get("email"), Some(EMAIL_TAKEN));
        assert_eq!(
            f.auth.registration.hasher.verification_count(),
            hashes_before
        );
    }

    #[tokio::test]
    async fn a_new_account_is_stored_as_typed_and_logged() {
        let f = fixture().await;
        let user = f
            .auth
            .registration
            .create_account(&register_form("Carol_1"), &meta())
            .await
            .unwrap();
        assert_eq!(user.username, "Carol_1");
        assert_eq!(user.created_at, START);
        let stored = f.store.user_by_username("carol_1").await.unwrap().unwrap();
        assert!(stored.password_hash.starts_with("$argon2id$"));
        let events = f.auth.activity.recent(stored.id).await.unwrap();
        assert_eq!(events[0].kind, ActivityKind::AccountCreated);
    }
}
