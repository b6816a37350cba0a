//! Server functions behind `/account`: sessions, password, activity log, deletion.
//!
//! Forms that change state redirect back to `/account?notice=…` when they succeed, so the
//! page can say what happened with or without JavaScript.

use leptos::prelude::*;

use crate::model::account::AccountOverview;
use crate::model::activity::{ActivityView, SessionList};
use crate::model::{AppError, Password};

/// Everything `/account` shows, in one read (the cards' own functions below read one card
/// each).
#[server(prefix = "/rpc", endpoint = "account")]
pub async fn get_account_overview() -> Result<AccountOverview, AppError> {
    use super::ssr::*;
    let state = app_state()?;
    let current = require_session(&state).await?;
    state.auth.overview.of(&current).await.map_err(fail)
}

/// The signed-in person's live sessions (this one first) and the timeouts they live under.
#[server(prefix = "/rpc", endpoint = "sessions")]
pub async fn list_sessions() -> Result<SessionList, AppError> {
    use super::ssr::*;
    let state = app_state()?;
    let current = require_session(&state).await?;
    state.auth.sessions.list(&current).await.map_err(fail)
}

/// Ends one of the signed-in person's sessions (another device, typically).
#[server(prefix = "/rpc", endpoint = "revoke_session")]
pub async fn revoke_session(id: String) -> Result<(), AppError> {
    use super::ssr::*;
    let state = app_state()?;
    let current = require_session(&state).await?;
    state
        .auth
        .sessions
        .revoke(&current, &id, &client_meta())
        .await
        .map_err(fail)?;
    leptos_axum::redirect("/account?notice=session-revoked");
    Ok(())
}

/// Ends every session of the signed-in person except this one.
#[server(prefix = "/rpc", endpoint = "revoke_other_sessions")]
pub async fn revoke_other_sessions() -> Result<(), AppError> {
    use super::ssr::*;
    let state = app_state()?;
    let current = require_session(&state).await?;
    state
        .auth
        .sessions
        .revoke_others(&current, &client_meta())
        .await
        .map_err(fail)?;
    leptos_axum::redirect("/account?notice=others-signed-out");
    Ok(())
}

/// Changes the password. This browser stays signed in under a new session; every access
/// token ends, and other sessions too unless `keep_other_sessions` is ticked.
#[server(prefix = "/rpc", endpoint = "change_password")]
pub async fn change_password(
    current_password: Password,
    new_password: Password,
    new_password_confirm: Password,
    keep_other_sessions: Option<String>,
) -> Result<(), AppError> {
    use super::ssr::*;
    use crate::model::ChangePasswordForm;
    let state = app_state()?;
    let current = require_session(&state).await?;
    let form = ChangePasswordForm {
        current_password,
        new_password,
        new_password_confirm,
    };
    let signed_in = state
        .auth
        .account
        .change_password(
            &current,
            &form,
            keep_other_sessions.is_some(),
            &client_meta(),
        )
        .await
        .map_err(fail)?;
    set_session_cookie(&state, &signed_in);
    leptos_axum::redirect("/account?notice=password-changed");
    Ok(())
}

/// The signed-in person's latest security events, newest first.
#[server(prefix = "/rpc", endpoint = "activity")]
pub async fn security_activity() -> Result<Vec<ActivityView>, AppError> {
    use super::ssr::*;
    let state = app_state()?;
    let current = require_session(&state).await?;
    state
        .auth
        .activity
        .recent(current.user_id())
        .await
        .map_err(fail)
}

/// Deletes the account (password and username confirmed), signs out, clears site data.
#[server(prefix = "/rpc", endpoint = "delete_account")]
pub async fn delete_account(password: Password, confirm_username: String) -> Result<(), AppError> {
    use super::ssr::*;
    use crate::model::DeleteAccountForm;
    let state = app_state()?;
    let current = require_session(&state).await?;
    let form = DeleteAccountForm {
        password,
        confirm_username,
    };
    state
        .auth
        .account
        .delete_account(&current, &form, &client_meta())
        .await
        .map_err(fail)?;
    clear_session_cookie(&state);
    clear_site_data();
    leptos_axum::redirect("/?notice=account-deleted");
    Ok(())
}
