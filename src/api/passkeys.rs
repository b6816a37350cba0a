//! Server functions behind passkeys: the two requests of each WebAuthn ceremony (adding one on
//! `/account`, signing in on `/login`, the two-factor step), and renaming and removing them.
//!
//! A ceremony's first request answers the options for `navigator.credentials.create`/`get`
//! as JSON and sets the ceremony's cookie; its second sends the browser's answer as JSON
//! (`PublicKeyCredential.toJSON()`). Both need JavaScript, as WebAuthn does. Renaming and
//! removing are plain forms that redirect, so they work without it.

use leptos::prelude::*;

use crate::model::passkey::PasskeyStatus;
use crate::model::{AppError, Password};

/// The person's passkeys, whether adding one needs the password, and whether passkeys work
/// here at all.
#[server(prefix = "/rpc", endpoint = "passkeys")]
pub async fn get_passkey_status() -> Result<PasskeyStatus, AppError> {
    use super::ssr::*;
    let state = app_state()?;
    let current = require_session(&state).await?;
    state.auth.passkeys.status(&current).await.map_err(fail)
}

/// Starts adding a passkey (`password`: needed unless the sign-in is recent). Answers the
/// options for `navigator.credentials.create`.
#[server(prefix = "/rpc", endpoint = "start_passkey_registration")]
pub async fn start_passkey_registration(password: Option<Password>) -> Result<String, AppError> {
    use super::ssr::*;
    let state = app_state()?;
    let current = require_session(&state).await?;
    let (token, options) = state
        .auth
        .passkeys
        .start_registration(&current, password.as_ref(), &client_meta())
        .await
        .map_err(fail)?;
    set_step_cookie(&state, StepCookie::PasskeyCeremony, &token);
    Ok(options)
}

/// Finishes adding a passkey with the browser's `credential` (JSON); `name` may be blank.
#[server(prefix = "/rpc", endpoint = "finish_passkey_registration")]
pub async fn finish_passkey_registration(name: String, credential: String) -> Result<(), AppError> {
    use super::ssr::*;
    use crate::model::passkey::NewPasskeyForm;
    let state = app_state()?;
    let current = require_session(&state).await?;
    let token = step_token(&state, StepCookie::PasskeyCeremony);
    clear_step_cookie(&state, StepCookie::PasskeyCeremony);
    state
        .auth
        .passkeys
        .finish_registration(
            &current,
            token.as_ref(),
            &NewPasskeyForm { name },
            &credential,
            &client_meta(),
        )
        .await
        .map_err(fail)
}

/// Renames the passkey `id` (its credential id, as listed) to `name`.
#[server(prefix = "/rpc", endpoint = "rename_passkey")]
pub async fn rename_passkey(id: String, name: String) -> Result<(), AppError> {
    use super::ssr::*;
    use crate::model::passkey::PasskeyNameForm;
    let state = app_state()?;
    let current = require_session(&state).await?;
    state
        .auth
        .passkeys
        .rename(&current, &id, &PasskeyNameForm { name }, &client_meta())
        .await
        .map_err(fail)?;
    leptos_axum::redirect("/account?notice=passkey-renamed#passkeys");
    Ok(())
}

/// Removes the passkey `id`.
#[server(prefix = "/rpc", endpoint = "remove_passkey")]
pub async fn remove_passkey(id: String) -> Result<(), AppError> {
    use super::ssr::*;
    let state = app_state()?;
    let current = require_session(&state).await?;
    state
        .auth
        .passkeys
        .remove(&current, &id, &client_meta())
        .await
        .map_err(fail)?;
    leptos_axum::redirect("/account?notice=passkey-removed#passkeys");
    Ok(())
}

/// Starts signing in with a passkey (no username: the browser offers the passkeys it holds
/// for this site). Answers the options for `navigator.credentials.get`.
#[server(prefix = "/rpc", endpoint = "start_passkey_sign_in")]
pub async fn start_passkey_sign_in() -> Result<String, AppError> {
    use super::ssr::*;
    let state = app_state()?;
    let (token, options) = state.auth.passkeys.start_sign_in().await.map_err(fail)?;
    set_step_cookie(&state, StepCookie::PasskeyCeremony, &token);
    Ok(options)
}

/// Finishes signing in with the browser's `credential` (JSON). Answers where to go: `next`
/// when it is a local path.
#[server(prefix = "/rpc", endpoint = "finish_passkey_sign_in")]
pub async fn finish_passkey_sign_in(
    credential: String,
    remember: bool,
    next: Option<String>,
) -> Result<String, AppError> {
    use super::ssr::*;
    let state = app_state()?;
    let token = step_token(&state, StepCookie::PasskeyCeremony);
    clear_step_cookie(&state, StepCookie::PasskeyCeremony);
    let signed_in = state
        .auth
        .passkeys
        .finish_sign_in(token.as_ref(), &credential, remember, &client_meta())
        .await
        .map_err(fail)?;
    replace_session(&state, &signed_in).await?;
    Ok(safe_next(next.as_deref()))
}

/// Starts answering the two-factor step with a passkey (the sign-in this browser has
/// waiting).
#[server(prefix = "/rpc", endpoint = "start_passkey_second_factor")]
pub async fn start_passkey_second_factor() -> Result<String, AppError> {
    use super::ssr::*;
    let state = app_state()?;
    let challenge =
        step_token(&state, StepCookie::SignInChallenge).ok_or(AppError::SignInExpired)?;
    let (token, options) = state
        .auth
        .passkeys
        .start_second_factor(&challenge, &client_meta())
        .await
        .map_err(fail)?;
    set_step_cookie(&state, StepCookie::PasskeyCeremony, &token);
    Ok(options)
}

/// Finishes the two-factor step with the browser's `credential` (JSON): the session starts.
/// Answers where to go: `next` when it is a local path.
#[server(prefix = "/rpc", endpoint = "finish_passkey_second_factor")]
pub async fn finish_passkey_second_factor(
    credential: String,
    next: Option<String>,
) -> Result<String, AppError> {
    use super::ssr::*;
    let state = app_state()?;
    let challenge =
        step_token(&state, StepCookie::SignInChallenge).ok_or(AppError::SignInExpired)?;
    let token = step_token(&state, StepCookie::PasskeyCeremony);
    clear_step_cookie(&state, StepCookie::PasskeyCeremony);
    let signed_in = state
        .auth
        .passkeys
        .finish_second_factor(&challenge, token.as_ref(), &credential, &client_meta())
        .await
        .map_err(fail)?;
    clear_step_cookie(&state, StepCookie::SignInChallenge);
    replace_session(&state, &signed_in).await?;
    Ok(safe_next(next.as_deref()))
}
