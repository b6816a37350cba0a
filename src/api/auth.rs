use leptos::prelude::*;

use crate::model::api_key::{ApiKeyView, CreatedApiKey};
use crate::model::{AppError, PasswordPolicy, PublicUser};

#[cfg(feature = "ssr")]
pub(crate) mod ssr {
    use crate::model::AppError;
    pub use crate::model::{LoginForm, RegisterForm};
    pub use crate::server::auth::service::CurrentSession;
    pub use crate::server::db::UserRecord;
    pub use crate::server::http::context::*;
    use crate::server::state::AppState;

    /// The account behind the request's session cookie, if any.
    pub async fn current_user_record(state: &AppState) -> Result<Option<UserRecord>, AppError> {
        Ok(current_session(state).await?.map(|c| c.user))
    }

    /// The session behind the request's cookie and its account, if any.
    pub async fn current_session(state: &AppState) -> Result<Option<CurrentSession>, AppError> {
        let Some(token) = session_token(state) else {
            return Ok(None);
        };
        state.auth.current_session(&token).await.map_err(fail)
    }

    /// Like `current_session`, for server functions that need a signed-in person.
    pub async fn require_session(state: &AppState) -> Result<CurrentSession, AppError> {
        current_session(state)
            .await?
            .ok_or(AppError::Unauthenticated)
    }

    /// What the browser may see of an account.
    pub fn public_user(user: &UserRecord) -> crate::model::PublicUser {
        crate::model::PublicUser {
            username: user.username.clone(),
            email: user.email.clone(),
            created_at: user.created_at,
        }
    }
}

/// Creates an account and signs it in (a new session cookie), then goes to `/`.
#[server(prefix = "/rpc", endpoint = "register")]
pub async fn register(
    email: String,
    username: String,
    password: String,
    password_confirm: String,
) -> Result<(), AppError> {
    use self::ssr::*;
    let state = app_state()?;
    let form = RegisterForm {
        email,
        username,
        password,
        password_confirm,
    };
    let signed_in = state
        .auth
        .register(&form, &client_meta())
        .await
        .map_err(fail)?;
    set_session_cookie(&state, &signed_in);
    leptos_axum::redirect("/");
    Ok(())
}

/// Signs in with a username or email, then goes to `next` when it is a local path.
/// `remember` is the "Remember me" checkbox (absent when unticked, as browsers send it).
#[server(prefix = "/rpc", endpoint = "login")]
pub async fn login(
    username: String,
    password: String,
    next: Option<String>,
    remember: Option<String>,
) -> Result<(), AppError> {
    use self::ssr::*;
    let state = app_state()?;
    let form = LoginForm { username, password };
    let signed_in = state
        .auth
        .login(&form, remember.is_some(), &client_meta())
        .await
        .map_err(fail)?;
    set_session_cookie(&state, &signed_in);
    leptos_axum::redirect(&safe_next(next.as_deref()));
    Ok(())
}

/// Ends the session on the server, removes the cookie, and asks the browser to drop
/// everything it kept for this site.
#[server(prefix = "/rpc", endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    use self::ssr::*;
    let state = app_state()?;
    if let Some(token) = session_token(&state) {
        state
            .auth
            .logout(&token, &client_meta())
            .await
            .map_err(fail)?;
    }
    clear_session_cookie(&state);
    clear_site_data();
    leptos_axum::redirect("/");
    Ok(())
}

/// The signed-in person, or `None` (no cookie, unknown or expired session).
#[server(prefix = "/rpc", endpoint = "current_user")]
pub async fn get_current_user() -> Result<Option<PublicUser>, AppError> {
    use self::ssr::*;
    let state = app_state()?;
    let Some(token) = session_token(&state) else {
        return Ok(None);
    };
    let user = state.auth.user_for_session(&token).await.map_err(fail)?;
    Ok(user.as_ref().map(public_user))
}

/// Ends every session and access token of the signed-in person, this one included.
#[server(prefix = "/rpc", endpoint = "logout_everywhere")]
pub async fn logout_everywhere() -> Result<(), AppError> {
    use self::ssr::*;
    let state = app_state()?;
    let Some(user) = current_user_record(&state).await? else {
        return Err(AppError::Unauthenticated);
    };
    state
        .auth
        .logout_everywhere(user.id, &client_meta())
        .await
        .map_err(fail)?;
    clear_session_cookie(&state);
    clear_site_data();
    leptos_axum::redirect("/login");
    Ok(())
}

/// The password rules this server enforces, so the browser checks the same ones.
#[server(prefix = "/rpc", endpoint = "password_policy")]
pub async fn get_password_policy() -> Result<PasswordPolicy, AppError> {
    use self::ssr::*;
    Ok(app_state()?.auth.password_policy())
}

#[cfg(feature = "ssr")]
fn key_view(key: &crate::server::db::ApiKeyRecord) -> ApiKeyView {
    ApiKeyView {
        id: key.id,
        name: key.name.clone(),
        prefix: key.prefix.clone(),
        scopes: key.scopes.clone(),
        created_at: key.created_at,
        expires_at: key.expires_at,
        last_used_at: key.last_used_at,
        revoked_at: key.revoked_at,
    }
}

/// The signed-in person's API keys, newest first.
#[server(prefix = "/rpc", endpoint = "api_keys")]
pub async fn list_api_keys() -> Result<Vec<ApiKeyView>, AppError> {
    use self::ssr::*;
    let state = app_state()?;
    let user = current_user_record(&state)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    let keys = state.auth.api_keys(user.id).await.map_err(fail)?;
    Ok(keys.iter().map(key_view).collect())
}

/// Creates an API key; the answer carries the full key, once.
#[server(prefix = "/rpc", endpoint = "create_api_key")]
pub async fn create_api_key(
    name: String,
    expires_in_days: Option<String>,
) -> Result<CreatedApiKey, AppError> {
    use self::ssr::*;
    let state = app_state()?;
    let user = current_user_record(&state)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    let days = match expires_in_days.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(days) => Some(days.parse::<u32>().map_err(|_| {
            AppError::Validation(crate::model::FieldErrors::single(
                "expires_in_days",
                "Choose an expiry from the list.",
            ))
        })?),
    };
    let created = state
        .auth
        .create_api_key(user.id, &name, days, &client_meta())
        .await
        .map_err(fail)?;
    Ok(CreatedApiKey {
        key: key_view(&created.record),
        secret: created.secret,
    })
}

/// Revokes one of the signed-in person's API keys.
#[server(prefix = "/rpc", endpoint = "revoke_api_key")]
pub async fn revoke_api_key(id: i64) -> Result<(), AppError> {
    use self::ssr::*;
    let state = app_state()?;
    let user = current_user_record(&state)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    state
        .auth
        .revoke_api_key(user.id, id, &client_meta())
        .await
        .map_err(fail)
}
