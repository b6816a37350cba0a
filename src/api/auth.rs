use leptos::prelude::*;

use crate::model::{AppError, PasswordPolicy, PublicUser};

#[cfg(feature = "ssr")]
mod ssr {
    use crate::model::AppError;
    pub use crate::model::{LoginForm, RegisterForm};
    pub use crate::server::db::UserRecord;
    pub use crate::server::http::context::*;
    use crate::server::state::AppState;

    /// The account behind the request's session cookie, if any.
    pub async fn current_user_record(state: &AppState) -> Result<Option<UserRecord>, AppError> {
        let Some(token) = session_token(state) else {
            return Ok(None);
        };
        state.auth.user_for_session(&token).await.map_err(fail)
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
    set_session_cookie(&state, &signed_in.token);
    leptos_axum::redirect("/");
    Ok(())
}

/// Signs in with a username or email, then goes to `next` when it is a local path.
#[server(prefix = "/rpc", endpoint = "login")]
pub async fn login(
    username: String,
    password: String,
    next: Option<String>,
) -> Result<(), AppError> {
    use self::ssr::*;
    let state = app_state()?;
    let form = LoginForm { username, password };
    let signed_in = state
        .auth
        .login(&form, &client_meta())
        .await
        .map_err(fail)?;
    set_session_cookie(&state, &signed_in.token);
    leptos_axum::redirect(&safe_next(next.as_deref()));
    Ok(())
}

/// Ends the session on the server and removes the cookie.
#[server(prefix = "/rpc", endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    use self::ssr::*;
    let state = app_state()?;
    if let Some(token) = session_token(&state) {
        state.auth.logout(&token).await.map_err(fail)?;
    }
    clear_session_cookie(&state);
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
    state.auth.logout_everywhere(user.id).await.map_err(fail)?;
    clear_session_cookie(&state);
    leptos_axum::redirect("/login");
    Ok(())
}

/// The password rules this server enforces, so the browser checks the same ones.
#[server(prefix = "/rpc", endpoint = "password_policy")]
pub async fn get_password_policy() -> Result<PasswordPolicy, AppError> {
    use self::ssr::*;
    Ok(app_state()?.auth.password_policy())
}
