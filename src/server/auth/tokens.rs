//! The JSON API's credentials: access tokens from the OAuth2 password grant, and resolving
//! an `Authorization: Bearer` value (an access token or an API key) to the account.

use std::sync::Arc;

use crate::model::activity::ActivityKind;
use crate::model::{AppError, LoginForm, PublicUser};
use crate::server::clock::Clock;
use crate::server::db::Store;
use crate::server::error::ServiceError;

use super::activity::ActivityLog;
use super::api_key_secret::KEY_PREFIX;
use super::api_keys::ApiKeys;
use super::client::ClientMeta;
use super::jwt::{ClientId, JwtKeys};
use super::public_id;
use super::sign_in::SignIn;
use super::views::public_user;

/// Who an API request acts for, and through what.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Internal: handed back to the services, never shown.
    pub user_id: i64,
    pub user: PublicUser,
    pub via: Credential,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A JWT from `/api/v1/token`: the full API.
    AccessToken,
    /// A personal API key: only its scopes (never key or session management).
    ApiKey { key_id: i64, scopes: Vec<String> },
}

impl Principal {
    /// Whether the caller may use a route that needs `scope`: an access token may use every
    /// route, an API key only those its stored scopes name, exactly. (So a key given some
    /// other scope one day does not reach the routes of `read:profile` by being a key.)
    pub fn has_scope(&self, scope: &str) -> bool {
        match &self.via {
            Credential::AccessToken => true,
            Credential::ApiKey { scopes, .. } => scopes.iter().any(|s| s == scope),
        }
    }
}

/// An access token and its lifetime in seconds.
pub struct IssuedToken {
    pub access_token: String,
    pub expires_in: i64,
}

#[derive(Clone)]
pub struct Tokens {
    pub(super) store: Arc<dyn Store>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) jwt: Arc<JwtKeys>,
    pub(super) activity: ActivityLog,
    pub(super) sign_in: SignIn,
    pub(super) api_keys: ApiKeys,
}

impl Tokens {
    /// The OAuth2 password grant: the same checks as the browser sign-in (per-IP limit,
    /// per-account throttle, one argon2 verification), then a short-lived access token
    /// issued to `client` for the account's public id.
    pub async fn password_grant(
        &self,
        form: &LoginForm,
        client: &ClientId,
        meta: &ClientMeta,
    ) -> Result<IssuedToken, ServiceError> {
        let user = self.sign_in.authenticate(form, meta).await?;
        // Said only after the password was right, so it tells a guesser nothing. The grant has
        // no field for a code: such an account uses an API key instead.
        if user.two_factor_enabled {
            tracing::info!(event = "token.second_factor_required", user_id = user.id);
            return Err(AppError::SecondFactorRequired.into());
        }
        let access_token = self
            .jwt
            .issue(
                &user.public_id,
                user.token_version,
                client,
                self.clock.now(),
            )
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        self.activity
            .record(user.id, ActivityKind::TokenIssued, meta, None)
            .await;
        Ok(IssuedToken {
            access_token,
            expires_in: self.jwt.ttl_secs,
        })
    }

    /// Resolves an `Authorization: Bearer` credential: an API key (`gk_…`) or an access token.
    /// `None` for anything invalid, expired, revoked or unknown; the caller answers 401.
    pub async fn principal_for_bearer(
        &self,
        credential: &str,
    ) -> Result<Option<Principal>, ServiceError> {
        if credential.starts_with(KEY_PREFIX) {
            return Ok(self
                .api_keys
                .resolve(credential)
                .await?
                .map(|key| Principal {
                    user_id: key.user.id,
                    user: public_user(&key.user),
                    via: Credential::ApiKey {
                        key_id: key.key_id,
                        scopes: key.scopes,
                    },
                }));
        }
        let claims = match self.jwt.verify(credential, self.clock.now()) {
            Ok(claims) => claims,
            Err(error) => {
                tracing::info!(event = "token.refused", %error);
                return Ok(None);
            }
        };
        // `sub` is the account's public id. Tokens issued before public ids existed carry the
        // numeric internal id there: that is not an id's shape, so they are refused (401) like
        // any unknown account, and their holders simply ask for a new token.
        if !public_id::is_well_formed(&claims.sub) {
            tracing::info!(
                event = "token.refused",
                error = "subject is not a public id"
            );
            return Ok(None);
        }
        let Some(user) = self.store.user_by_public_id(&claims.sub).await? else {
            return Ok(None);
        };
        if user.token_version != claims.ver {
            tracing::info!(event = "token.revoked", user_id = user.id);
            return Ok(None);
        }
        Ok(Some(Principal {
            user_id: user.id,
            user: public_user(&user),
            via: Credential::AccessToken,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    /// An access token for `name` through the password grant, as the token endpoint asks.
    async fn grant(f: &Fixture, name: &str) -> IssuedToken {
        let form = LoginForm {
            username: name.into(),
            password: PASSWORD.into(),
        };
        f.auth
            .tokens
            .password_grant(&form, &ClientId::password_grant(), &meta())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn an_access_token_names_its_account_until_the_tokens_are_revoked() {
        let f = fixture().await;
        let signed_in = f.register("alice").await;
        let issued = grant(&f, "alice").await;
        assert_eq!(issued.expires_in, 1800);
        let principal = f
            .auth
            .tokens
            .principal_for_bearer(&issued.access_token)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(principal.user.username, "alice");
        assert_eq!(principal.via, Credential::AccessToken);

        let current = f.current(&signed_in).await;
        f.auth
            .account
            .logout_everywhere(&current, &meta())
            .await
            .unwrap();
        let after = f
            .auth
            .tokens
            .principal_for_bearer(&issued.access_token)
            .await;
        assert!(after.unwrap().is_none());
        assert!(f
            .auth
            .tokens
            .principal_for_bearer("not.a.jwt")
            .await
            .unwrap()
            .is_none());
    }

    #[tokio::test]
    async fn a_token_names_its_account_by_public_id_never_by_internal_id() {
        let f = fixture().await;
        f.register("alice").await;
        let issued = grant(&f, "alice").await;
        let claims = f
            .auth
            .tokens
            .jwt
            .verify(&issued.access_token, f.clock.now())
            .unwrap();
        let user = f.store.user_by_username("alice").await.unwrap().unwrap();
        assert_eq!(claims.sub, user.public_id);
        assert_ne!(claims.sub, user.id.to_string());
        assert_eq!(claims.client_id, "gatehouse-password-grant");

        // A correctly signed token whose `sub` is the internal id (as tokens were issued
        // before public ids) names nobody.
        let numeric = f
            .auth
            .tokens
            .jwt
            .issue(
                &user.id.to_string(),
                user.token_version,
                &ClientId::password_grant(),
                f.clock.now(),
            )
            .unwrap();
        assert!(f
            .auth
            .tokens
            .principal_for_bearer(&numeric)
            .await
            .unwrap()
            .is_none());
    }

    #[test]
    fn an_access_token_has_every_scope_and_a_key_only_its_own() {
        let principal = |via| Principal {
            user_id: 1,
            user: PublicUser {
                username: "alice".into(),
                email: "alice@example.com".into(),
                created_at: 0,
                email_verified: true,
                two_factor_enabled: false,
            },
            via,
        };
        assert!(principal(Credential::AccessToken).has_scope("read:profile"));
        let key = |scopes: &[&str]| {
            principal(Credential::ApiKey {
                key_id: 1,
                scopes: scopes.iter().map(|s| s.to_string()).collect(),
            })
        };
        assert!(key(&["read:profile"]).has_scope("read:profile"));
        assert!(key(&["write:notes", "read:profile"]).has_scope("read:profile"));
        assert!(!key(&["write:notes"]).has_scope("read:profile"));
        assert!(!key(&[]).has_scope("read:profile"));
        assert!(!key(&["read:profile:extra"]).has_scope("read:profile"));
    }
}
