//! Registration: the browser's (signs in at once, unless verification is required) and the
//! API's (no session). When verification is required, a sign-up never says whether its
//! address already has an account: the owner of a taken address is told by mail instead.

use std::sync::Arc;

use secrecy::SecretString;

use crate::model::activity::ActivityKind;
use crate::model::forms::{EMAIL_TAKEN, USERNAME_TAKEN};
use crate::model::{AppError, FieldErrors, PasswordPolicy, PublicUser, RegisterForm};
use crate::server::clock::Clock;
use crate::server::db::{NewUser, Store, StoreError, UserRecord};
use crate::server::error::ServiceError;
use crate::server::limits::Limits;
use crate::server::metrics;

use super::activity::ActivityLog;
use super::client::ClientMeta;
use super::failure_floor::FailureFloor;
use super::notices::Notices;
use super::password::PasswordHasher;
use super::public_id;
use super::sessions::{Sessions, SignedIn};
use super::verification::EmailVerification;
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
    pub(super) verification: EmailVerification,
    pub(super) notices: Notices,
    /// With verification required, every sign-up past the username check is answered no
    /// sooner than this floor (the sign-in failure floor), so a new address and a taken one
    /// take the same time as well as giving the same answer.
    pub(super) floor: FailureFloor,
}

/// What a browser sign-up comes to.
pub enum Registered {
    /// Verification is optional: the new account is signed in.
    SignedIn(SignedIn),
    /// Verification is required: "check your inbox", the same whether the account was made
    /// or the address already had one.
    CheckInbox,
}

/// What an API sign-up comes to.
pub enum CreatedAccount {
    /// Verification is optional: the account, usable at once.
    Created(PublicUser),
    /// Verification is required: the same answer whether or not the address had an account.
    CheckInbox,
}

/// What `create` did: made an account, or (verification required) found the address taken
/// and told its owner instead.
enum Outcome {
    Created(UserRecord),
    AddressTaken,
}

impl Registration {
    /// Creates the account and, unless verification is required, signs it in (browser
    /// registration). Either way a confirmation link is mailed to the address.
    pub async fn register(
        &self,
        form: &RegisterForm,
        meta: &ClientMeta,
    ) -> Result<Registered, ServiceError> {
        match self.create(form, meta).await? {
            Outcome::Created(user) if !self.verification.mode().is_required() => Ok(
                Registered::SignedIn(self.sessions.start(&user, false, meta).await?),
            ),
            _ => Ok(Registered::CheckInbox),
        }
    }

    /// Creates the account (the API's registration: no session).
    pub async fn create_account(
        &self,
        form: &RegisterForm,
        meta: &ClientMeta,
    ) -> Result<CreatedAccount, ServiceError> {
        match self.create(form, meta).await? {
            Outcome::Created(user) if !self.verification.mode().is_required() => {
                Ok(CreatedAccount::Created(public_user(&user)))
            }
            _ => Ok(CreatedAccount::CheckInbox),
        }
    }

    async fn create(
        &self,
        form: &RegisterForm,
        meta: &ClientMeta,
    ) -> Result<Outcome, ServiceError> {
        self.limits
            .check(&self.limits.register, meta.ip_key())
            .await?;
        form.check(&self.policy).map_err(AppError::from)?;
        let hides_addresses = self.verification.mode().is_required();
        let started = tokio::time::Instant::now();
        let outcome = self.create_checked(form, hides_addresses, meta).await;
        // Only the answers that must not differ wait (a taken username may answer at once).
        if hides_addresses && outcome.is_ok() {
            self.floor.wait_out(started).await;
        }
        outcome
    }

    async fn create_checked(
        &self,
        form: &RegisterForm,
        hides_addresses: bool,
        meta: &ClientMeta,
    ) -> Result<Outcome, ServiceError> {
        // Checked before hashing so both fields can be reported at once and no argon2 work is
        // spent on a doomed insert. The unique indexes remain the real guard (see below).
        let taken = self.taken_fields(form).await?;
        if let Some(refused) = refusal(&taken, hides_addresses) {
            tracing::info!(event = "register.rejected", reason = "duplicate");
            metrics::registration("taken");
            return Err(refused.into());
        }

        // Hashed even for a taken address (verification required): that answer must not come
        // sooner than a real sign-up's.
        let password_hash = self
            .hasher
            .hash(SecretString::from(form.password.expose()))
            .await?;
        if let Some(owner) = taken.address_owner {
            return Ok(self.tell_owner(&owner, meta).await);
        }
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
                if let Some(refused) = refusal(&taken, hides_addresses) {
                    return Err(refused.into());
                }
                if let Some(owner) = taken.address_owner {
                    return Ok(self.tell_owner(&owner, meta).await);
                }
                let fields = FieldErrors::single("username", USERNAME_TAKEN);
                return Err(AppError::Validation(fields).into());
            }
            Err(other) => return Err(other.into()),
        };
        self.activity
            .record(user.id, ActivityKind::AccountCreated, meta, None)
            .await;
        self.verification.send_link(&user, meta).await?;
        metrics::registration("created");
        Ok(Outcome::Created(user))
    }

    /// Verification required and the address has an account: its owner hears of the attempt
    /// (by mail and in their activity log); the person signing up hears what a new account
    /// would have heard.
    async fn tell_owner(&self, owner: &UserRecord, meta: &ClientMeta) -> Outcome {
        tracing::info!(event = "register.existing_email", user_id = owner.id);
        self.activity
            .record(owner.id, ActivityKind::SignUpAttempted, meta, None)
            .await;
        self.notices.signup_attempt(owner, meta);
        metrics::registration("address_taken_hidden");
        Outcome::AddressTaken
    }

    async fn taken_fields(&self, form: &RegisterForm) -> Result<Taken, ServiceError> {
        let username_taken = self
            .store
            .user_by_username(&form.canonical_username())
            .await?
            .is_some();
        let address_owner = self.store.user_by_email(&form.canonical_email()).await?;
        Ok(Taken {
            username: username_taken,
            address_owner,
        })
    }
}

/// Which of a sign-up's unique fields another account has.
struct Taken {
    username: bool,
    address_owner: Option<UserRecord>,
}

/// The field errors a sign-up gets for `taken`. A taken username is always said (usernames
/// are public); a taken address only when addresses are not hidden (verification optional).
fn refusal(taken: &Taken, hides_addresses: bool) -> Option<AppError> {
    let mut fields = FieldErrors::default();
    if taken.username {
        fields.insert("username", USERNAME_TAKEN);
    }
    if taken.address_owner.is_some() && !hides_addresses {
        fields.insert("email", EMAIL_TAKEN);
    }
    (!fields.is_empty()).then_some(AppError::Validation(fields))
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
        let refused = f
            .auth
            .registration
            .create_account(&form, &meta())
            .await
            .map(|_| ());
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
        let Ok(CreatedAccount::Created(user)) = f
            .auth
            .registration
            .create_account(&register_form("Carol_1"), &meta())
            .await
        else {
            panic!("not created");
        };
        assert_eq!(user.username, "Carol_1");
        assert_eq!(user.created_at, START);
        let stored = f.store.user_by_username("carol_1").await.unwrap().unwrap();
        assert!(stored.password_hash.starts_with("$argon2id$"));
        let events = f.auth.activity.recent(stored.id).await.unwrap();
        assert_eq!(events[0].kind, ActivityKind::AccountCreated);
    }
}
