//! Server functions behind two-factor on `/account`: turning it on (the password, then the
//! first code from the app), the recovery codes (shown once), renewing them, turning it off.
//!
//! As elsewhere on the account page, each form redirects when it succeeds, so everything
//! works without JavaScript.

use leptos::prelude::*;

use crate::model::two_factor::{RecoveryCodes, TwoFactorStatus};
use crate::model::{AppError, Password};

/// On or off, the recovery codes left, and a setup waiting for its first code.
#[server(prefix = "/rpc", endpoint = "two_factor_status")]
pub async fn get_two_factor_status() -> Result<TwoFactorStatus, AppError> {
    use super::ssr::*;
    let state = app_state()?;
    let current = require_session(&state).await?;
    state.auth.two_factor.status(&current).await.map_err(fail)
}

/// Starts the setup after the current `password`, then shows the QR code and the secret.
#[server(prefix = "/rpc", endpoint = "start_two_factor")]
pub async fn start_two_factor(password: Password) -> Result<(), AppError> {
    use super::ssr::*;
    use crate::model::two_factor::PasswordConfirmForm;
    let state = app_state()?;
    let current = require_session(&state).await?;
    state
        .auth
        .two_factor
        .start(&current, &PasswordConfirmForm { password }, &client_meta())
        .await
        .map_err(fail)?;
    leptos_axum::redirect("/account/two-factor");
    Ok(())
}

/// Finishes the setup with the first `code` from the app, then shows the recovery codes.
#[server(prefix = "/rpc", endpoint = "confirm_two_factor")]
pub async fn confirm_two_factor(code: String) -> Result<(), AppError> {
    use super::ssr::*;
    use crate::model::two_factor::SecondFactorForm;
    let state = app_state()?;
    let current = require_session(&state).await?;
    state
        .auth
        .two_factor
        .confirm(&current, &SecondFactorForm { code }, &client_meta())
        .await
        .map_err(fail)?;
    leptos_axum::redirect("/account/recovery-codes?notice=two-factor-on");
    Ok(())
}

/// Abandons an unfinished setup.
#[server(prefix = "/rpc", endpoint = "cancel_two_factor")]
pub async fn cancel_two_factor() -> Result<(), AppError> {
    use super::ssr::*;
    let state = app_state()?;
    let current = require_session(&state).await?;
    state.auth.two_factor.cancel(&current).await.map_err(fail)?;
    leptos_axum::redirect("/account?notice=two-factor-cancelled");
    Ok(())
}

/// The recovery codes this session just made, the first time it asks; `None` afterwards.
#[server(prefix = "/rpc", endpoint = "recovery_codes")]
pub async fn fresh_recovery_codes() -> Result<Option<RecoveryCodes>, AppError> {
    use super::ssr::*;
    let state = app_state()?;
    let current = require_session(&state).await?;
    state
        .auth
        .two_factor
        .take_recovery_codes(&current)
        .await
        .map_err(fail)
}

/// New recovery codes after the current `password` (the old ones stop working), then shows
/// them.
#[server(prefix = "/rpc", endpoint = "regenerate_recovery_codes")]
pub async fn regenerate_recovery_codes(password: Password) -> Result<(), AppError> {
    use super::ssr::*;
    use crate::model::two_factor::PasswordConfirmForm;
    let state = app_state()?;
    let current = require_session(&state).await?;
    state
        .auth
        .two_factor
        .regenerate_recovery_codes(&current, &PasswordConfirmForm { password }, &client_meta())
        .await
        .map_err(fail)?;
    leptos_axum::redirect("/account/recovery-codes?notice=recovery-codes-renewed");
    Ok(())
}

/// Turns two-factor off after the current `password` and a `code` (from the app, or a
/// recovery code).
#[server(prefix = "/rpc", endpoint = "disable_two_factor")]
pub async fn disable_two_factor(password: Password, code: String) -> Result<(), AppError> {
    use super::ssr::*;
    use crate::model::two_factor::DisableTwoFactorForm;
    let state = app_state()?;
    let current = require_session(&state).await?;
    state
        .auth
        .two_factor
        .disable(
            &current,
            &DisableTwoFactorForm { password, code },
            &client_meta(),
        )
        .await
        .map_err(fail)?;
    leptos_axum::redirect("/account?notice=two-factor-off");
    Ok(())
}
