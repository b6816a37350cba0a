//! Personal API keys: create (the secret is shown once), list, revoke, and resolve a key
//! presented as a bearer credential. The key format lives in `api_key_secret`.

use std::sync::Arc;

use crate::model::activity::ActivityKind;
use crate::model::api_key::{ApiKeyView, CreateApiKeyForm, CreatedApiKey};
use crate::model::AppError;
use crate::server::clock::Clock;
use crate::server::db::{ApiKeyRecord, Store, UserRecord};
use crate::server::error::ServiceError;

use super::activity::ActivityLog;
use super::api_key_secret;
use super::client::ClientMeta;
use super::sessions::TOUCH_INTERVAL_SECS;
use super::sign_in::SignIn;
use super::views::api_key_view;

#[derive(Clone)]
pub struct ApiKeys {
    pub(super) store: Arc<dyn Store>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) activity: ActivityLog,
    /// Confirms the current password before a key is made.
    pub(super) sign_in: SignIn,
}

/// A usable key and the account it acts for.
pub(super) struct ResolvedKey {
    pub user: UserRecord,
    pub key_id: i64,
    pub scopes: Vec<String>,
}

impl ApiKeys {
    /// Creates an API key after confirming the account's current password (a wrong one is a
    /// field error on `password` and counts against the per-account throttle, as on the
    /// other account forms); the full key is in the answer and nowhere else.
    ///
    /// The password is asked for whichever door the request came through, a session or an
    /// access token: a key outlives both, so holding either for a moment (an unlocked
    /// browser, a token copied from a log) must not be enough to make one that lasts.
    pub async fn create(
        &self,
        user_id: i64,
        form: &CreateApiKeyForm,
        meta: &ClientMeta,
    ) -> Result<CreatedApiKey, ServiceError> {
        form.check().map_err(AppError::from)?;
        // Gone since the session or token was checked: as if signed out.
        let Some(user) = self.store.user_by_id(user_id).await? else {
            return Err(AppError::Unauthenticated.into());
        };
        self.sign_in
            .confirm_password(&user, &form.password, "password", meta)
            .await?;
        let now = self.clock.now();
        let generated = api_key_secret::generate();
        let mut record = ApiKeyRecord {
            id: 0,
            user_id,
            name: form.trimmed_name().to_string(),
            prefix: generated.prefix,
            secret_hash: generated.secret_hash,
            scopes: api_key_secret::SCOPE_READ_PROFILE.to_string(),
            created_at: now,
            expires_at: form
                .expires_in_days
                .days()
                .map(|d| now + i64::from(d) * 86_400),
            last_used_at: None,
            revoked_at: None,
        };
        record.id = self.store.insert_api_key(&record).await?;
        self.activity
            .record(
                user_id,
                ActivityKind::ApiKeyCreated,
                meta,
                Some(described(&record)),
            )
            .await;
        Ok(CreatedApiKey {
            key: api_key_view(&record),
            secret: generated.full,
        })
    }

    /// The user's keys, newest first.
    pub async fn list(&self, user_id: i64) -> Result<Vec<ApiKeyView>, ServiceError> {
        let keys = self.store.api_keys_of(user_id).await?;
        Ok(keys.iter().map(api_key_view).collect())
    }

    /// Revokes one of the user's keys; `NotFound` for someone else's or an unknown key.
    pub async fn revoke(
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
            .map(|k| described(&k));
        self.activity
            .record(user_id, ActivityKind::ApiKeyRevoked, meta, detail)
            .await;
        Ok(())
    }

    /// The account behind a presented `gk_…` key, or `None` for anything malformed, unknown,
    /// revoked or expired.
    pub(super) async fn resolve(
        &self,
        credential: &str,
    ) -> Result<Option<ResolvedKey>, ServiceError> {
        let Some((prefix, secret)) = api_key_secret::parse(credential) else {
            return Ok(None);
        };
        let Some(key) = self.store.api_key_by_prefix(prefix).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        let usable = api_key_secret::secret_matches(secret, &key.secret_hash)
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
        Ok(Some(ResolvedKey {
            user,
            key_id: key.id,
            scopes: key.scopes.split_whitespace().map(str::to_string).collect(),
        }))
    }
}

/// `"deploy" (gk_ab12cd34_…)`: how the activity log names a key.
fn described(key: &ApiKeyRecord) -> String {
    format!("\"{}\" (gk_{}_…)", key.name, key.prefix)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use crate::model::activity::ActivityKind;
    use crate::model::api_key::{CreateApiKeyForm, CreatedApiKey, KeyExpiry};
    use crate::model::forms::WRONG_CURRENT_PASSWORD;
    use crate::model::AppError;
    use crate::server::error::ServiceError;

    fn form(name: &str, days: Option<u32>) -> CreateApiKeyForm {
        CreateApiKeyForm {
            name: name.into(),
            expires_in_days: days.map_or(KeyExpiry::Never, KeyExpiry::Days),
            password: PASSWORD.into(),
        }
    }

    #[tokio::test]
    async fn a_key_works_until_it_expires_or_is_revoked() {
        let f = fixture().await;
        let alice = f.register("alice").await;
        let current = f.current(&alice).await;
        let keys = &f.auth.api_keys;
        let short = keys
            .create(current.user_id(), &form(" ci ", Some(1)), &meta())
            .await
            .unwrap();
        let forever = keys
            .create(current.user_id(), &form("deploy", None), &meta())
            .await
            .unwrap();
        assert_eq!(short.key.name, "ci");
        let resolved = keys.resolve(&short.secret).await.unwrap().unwrap();
        assert_eq!(resolved.user.username, "alice");
        assert_eq!(resolved.scopes, ["read:profile"]);

        f.advance(86_400);
        assert!(keys.resolve(&short.secret).await.unwrap().is_none());
        assert!(keys.resolve(&forever.secret).await.unwrap().is_some());

        keys.revoke(current.user_id(), forever.key.id, &meta())
            .await
            .unwrap();
        assert!(keys.resolve(&forever.secret).await.unwrap().is_none());
        // A near miss of a real key resolves to nobody.
        let mut forged = forever.secret.clone();
        forged.pop();
        forged.push(if forever.secret.ends_with('A') {
            'B'
        } else {
            'A'
        });
        assert!(keys.resolve(&forged).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn keys_are_listed_and_revoked_only_by_their_owner() {
        let f = fixture().await;
        let alice = f.register("alice").await;
        let bob = f.register("bob").await;
        let alice = f.current(&alice).await;
        let bob = f.current(&bob).await;
        let keys = &f.auth.api_keys;
        let key = keys
            .create(alice.user_id(), &form("mine", None), &meta())
            .await
            .unwrap();
        assert!(keys.list(bob.user_id()).await.unwrap().is_empty());
        let refused = keys.revoke(bob.user_id(), key.key.id, &meta()).await;
        assert!(matches!(
            refused,
            Err(ServiceError::Client(AppError::NotFound))
        ));
        assert!(keys.resolve(&key.secret).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn a_bad_name_is_a_field_error_and_creates_nothing() {
        let f = fixture().await;
        let alice = f.register("alice").await;
        let alice = f.current(&alice).await;
        let refused = f
            .auth
            .api_keys
            .create(alice.user_id(), &form("tab\tname", None), &meta())
            .await;
        let Err(ServiceError::Client(AppError::Validation(fields))) = refused else {
            panic!("not a validation error");
        };
        assert!(fields.get("name").is_some());
        assert!(f
            .auth
            .api_keys
            .list(alice.user_id())
            .await
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn a_key_needs_the_current_password_and_a_wrong_one_counts_as_a_failure() {
        let f = fixture().await;
        let alice = f.register("alice").await;
        let alice = f.current(&alice).await;
        let keys = &f.auth.api_keys;
        let mut wrong = form("ci", None);
        wrong.password = "not my password".into();
        let refused = keys.create(alice.user_id(), &wrong, &meta()).await;
        let Err(ServiceError::Client(AppError::Validation(fields))) = refused else {
            panic!("not a validation error");
        };
        assert_eq!(fields.get("password"), Some(WRONG_CURRENT_PASSWORD));
        assert!(keys.list(alice.user_id()).await.unwrap().is_empty());
        let kinds: Vec<_> = f
            .auth
            .activity
            .recent(alice.user_id())
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(kinds.first(), Some(&ActivityKind::SignInFailed));

        let created = keys
            .create(alice.user_id(), &form("ci", None), &meta())
            .await
            .unwrap();
        assert_eq!(created.key.name, "ci");
    }

    #[tokio::test]
    async fn a_key_expires_after_the_default_unless_never_was_chosen() {
        let f = fixture().await;
        let alice = f.register("alice").await;
        let alice = f.current(&alice).await;
        let keys = &f.auth.api_keys;
        let default = CreateApiKeyForm {
            name: "default".into(),
            password: PASSWORD.into(),
            ..CreateApiKeyForm::default()
        };
        let created = keys
            .create(alice.user_id(), &default, &meta())
            .await
            .unwrap();
        assert_eq!(created.key.expires_at, Some(START + 90 * 86_400));
        let never = keys
            .create(alice.user_id(), &form("never", None), &meta())
            .await
            .unwrap();
        assert_eq!(never.key.expires_at, None);
    }

    #[tokio::test]
    async fn the_activity_log_names_the_key_that_was_made_or_revoked() {
        let f = fixture().await;
        let alice = f.register("alice").await;
        let alice = f.current(&alice).await;
        let keys = &f.auth.api_keys;
        let kept = keys
            .create(alice.user_id(), &form("kept", None), &meta())
            .await
            .unwrap();
        f.advance(1);
        let gone = keys
            .create(alice.user_id(), &form("gone", None), &meta())
            .await
            .unwrap();
        let events = f.auth.activity.recent(alice.user_id()).await.unwrap();
        assert_eq!(events[0].kind, ActivityKind::ApiKeyCreated);
        let named = |key: &CreatedApiKey| format!("\"{}\" (gk_{}_…)", key.key.name, key.key.prefix);
        assert_eq!(events[0].detail, Some(named(&gone)));
        assert_eq!(events[1].detail, Some(named(&kept)));

        keys.revoke(alice.user_id(), gone.key.id, &meta())
            .await
            .unwrap();
        let events = f.auth.activity.recent(alice.user_id()).await.unwrap();
        assert_eq!(events[0].kind, ActivityKind::ApiKeyRevoked);
        assert_eq!(events[0].detail, Some(named(&gone)));
    }

    #[tokio::test]
    async fn last_use_is_recorded_to_the_minute_without_a_write_per_request() {
        let f = fixture().await;
        let alice = f.register("alice").await;
        let alice = f.current(&alice).await;
        let keys = &f.auth.api_keys;
        let key = keys
            .create(alice.user_id(), &form("ci", None), &meta())
            .await
            .unwrap();
        let last_used = || async {
            let keys = f.store.api_keys_of(alice.user_id()).await.unwrap();
            keys.iter()
                .find(|k| k.id == key.key.id)
                .unwrap()
                .last_used_at
        };
        assert_eq!(last_used().await, None);
        keys.resolve(&key.secret).await.unwrap().unwrap();
        assert_eq!(last_used().await, Some(START));
        // Within the minute: the record stands (one write a minute per key, not per request).
        f.advance(59);
        keys.resolve(&key.secret).await.unwrap().unwrap();
        assert_eq!(last_used().await, Some(START));
        f.advance(1);
        keys.resolve(&key.secret).await.unwrap().unwrap();
        assert_eq!(last_used().await, Some(START + 60));
    }
}
