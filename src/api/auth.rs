//! Server functions for signing up, in and out, and for the account's API keys.

use leptos::prelude::*;

use crate::model::api_key::{ApiKeyView, CreatedApiKey};
use crate::model::two_factor::WaitingSignIn;
use crate::model::{AppError, Password, PasswordPolicy, PublicUser};

/// Creates an account and signs it in (a new session cookie), then goes to `/`; when
/// verification is required, goes to "check your inbox" instead, whether or not the address
/// already had an account.
#[server(prefix = "/rpc", endpoint = "register")]
pub async fn register(
    email: String,
    username: String,
    password: Password,
    password_confirm: Password,
) -> Result<(), AppError> {
    use super::ssr::*;
    use crate::model::RegisterForm;
    use crate::server::auth::Registered;
    let state = app_state()?;
    let form = RegisterForm {
        email,
        username,
        password,
        password_confirm,
    };
    let registered = state
        .auth
        .registration
        .register(&form, &client_meta())
        .await
        .map_err(fail)?;
    match registered {
        Registered::SignedIn(signed_in) => {
            replace_session(&state, &signed_in).await?;
            leptos_axum::redirect("/");
        }
        Registered::CheckInbox => leptos_axum::redirect("/register?sent=1"),
    }
    Ok(())
}

/// Signs in with a username or email, then goes to `next` when it is a local path.
/// `remember` is the "Remember me" checkbox (absent when unticked, as browsers send it).
#[server(prefix = "/rpc", endpoint = "login")]
pub async fn login(
    username: String,
    password: Password,
    next: Option<String>,
    remember: Option<String>,
) -> Result<(), AppError> {
    use super::ssr::*;
    use crate::model::LoginForm;
    let state = app_state()?;
    let form = LoginForm { username, password };
    let outcome = state
        .auth
        .sign_in
        .login(&form, remember.is_some(), &client_meta())
        .await
        .map_err(fail)?;
    let next = safe_next(next.as_deref());
    match outcome {
        LoginOutcome::SignedIn(signed_in) => {
            replace_session(&state, &signed_in).await?;
            leptos_axum::redirect(&next);
        }
        LoginOutcome::SecondFactor(token) => {
            set_step_cookie(&state, StepCookie::SignInChallenge, &token);
            leptos_axum::redirect(&two_factor_step_url(&next));
        }
    }
    Ok(())
}

/// The second step of signing in to an account with two-factor on: `code` is a code from the
/// authenticator app or a recovery code. The session starts only now; then goes to `next`
/// when it is a local path.
#[server(prefix = "/rpc", endpoint = "two_factor_sign_in")]
pub async fn two_factor_sign_in(code: String, next: Option<String>) -> Result<(), AppError> {
    use super::ssr::*;
    use crate::model::two_factor::SecondFactorForm;
    let state = app_state()?;
    let Some(token) = step_token(&state, StepCookie::SignInChallenge) else {
        return Err(AppError::SignInExpired);
    };
    let finished = state
        .auth
        .two_factor
        .finish_sign_in(&token, &SecondFactorForm { code }, &client_meta())
        .await
        .map_err(fail);
    let signed_in = match finished {
        Ok(signed_in) => signed_in,
        Err(AppError::SignInExpired) => {
            clear_step_cookie(&state, StepCookie::SignInChallenge);
            return Err(AppError::SignInExpired);
        }
        Err(other) => return Err(other),
    };
    clear_step_cookie(&state, StepCookie::SignInChallenge);
    replace_session(&state, &signed_in).await?;
    leptos_axum::redirect(&safe_next(next.as_deref()));
    Ok(())
}

/// The sign-in this browser has waiting for its second step, if any (the code step's page),
/// and whether a passkey can answer it.
#[server(prefix = "/rpc", endpoint = "sign_in_waiting")]
pub async fn sign_in_waiting() -> Result<Option<WaitingSignIn>, AppError> {
    use super::ssr::*;
    let state = app_state()?;
    let Some(token) = step_token(&state, StepCookie::SignInChallenge) else {
        return Ok(None);
    };
    let auth = &state.auth;
    if !auth
        .two_factor
        .sign_in_waiting(&token)
        .await
        .map_err(fail)?
    {
        return Ok(None);
    }
    let passkey = auth
        .passkeys
        .offered_for_second_step(&token)
        .await
        .map_err(fail)?;
    Ok(Some(WaitingSignIn { passkey }))
}

/// Ends the session on the server, removes the cookie, and asks the browser to drop
/// everything it kept for this site.
#[server(prefix = "/rpc", endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    use super::ssr::*;
    let state = app_state()?;
    if let Some(token) = session_token(&state) {
        state
            .auth
            .sessions
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
    use super::ssr::*;
    let state = app_state()?;
    Ok(current_session(&state).await?.map(|c| c.user()))
}

/// Ends every session and access token of the signed-in person, this one included.
#[server(prefix = "/rpc", endpoint = "logout_everywhere")]
pub async fn logout_everywhere() -> Result<(), AppError> {
    use super::ssr::*;
    let state = app_state()?;
    let current = require_session(&state).await?;
    state
        .auth
        .account
        .logout_everywhere(&current, &client_meta())
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
    use super::ssr::*;
    Ok(app_state()?.settings.password_policy)
}

/// The signed-in person's API keys, newest first.
#[server(prefix = "/rpc", endpoint = "api_keys")]
pub async fn list_api_keys() -> Result<Vec<ApiKeyView>, AppError> {
    use super::ssr::*;
    let state = app_state()?;
    let current = require_session(&state).await?;
    state
        .auth
        .api_keys
        .list(current.user_id())
        .await
        .map_err(fail)
}

/// Creates an API key after checking the current password (`password`); the answer carries
/// the full key, once. `expires_in_days` is a number of days or `never`; absent or empty, the
/// default (90 days).
#[server(prefix = "/rpc", endpoint = "create_api_key")]
pub async fn create_api_key(
    name: String,
    expires_in_days: Option<String>,
    password: Password,
) -> Result<CreatedApiKey, AppError> {
    use super::ssr::*;
    use crate::model::CreateApiKeyForm;
    let state = app_state()?;
    let current = require_session(&state).await?;
    let form = CreateApiKeyForm::from_posted(name, expires_in_days.as_deref(), password)?;
    state
        .auth
        .api_keys
        .create(current.user_id(), &form, &client_meta())
        .await
        .map_err(fail)
}

/// Revokes one of the signed-in person's API keys, then back to the account page's list.
#[server(prefix = "/rpc", endpoint = "revoke_api_key")]
pub async fn revoke_api_key(id: i64) -> Result<(), AppError> {
    use super::ssr::*;
    let state = app_state()?;
    let current = require_session(&state).await?;
    state
        .auth
        .api_keys
        .revoke(current.user_id(), id, &client_meta())
        .await
        .map_err(fail)?;
    leptos_axum::redirect("/account?notice=api-key-revoked#api-keys");
    Ok(())
}
