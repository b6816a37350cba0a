//! Server functions behind the mailed links: forgotten passwords, confirming an address, and
//! moving an account to a new one.
//!
//! The links' pages keep their token in a cookie (`server::http::link_pages`), so the
//! functions that follow a link read it from there, not from an argument.

use leptos::prelude::*;

use crate::model::user::{PendingConfirmation, ResetLink};
use crate::model::{AppError, Password};

/// "Forgot password?": mails a reset link to the address if an account has it. The answer
/// (a redirect to "check your inbox") is the same either way.
#[server(prefix = "/rpc", endpoint = "request_password_reset")]
pub async fn request_password_reset(email: String) -> Result<(), AppError> {
    use super::ssr::*;
    use crate::model::EmailAddressForm;
    let state = app_state()?;
    state
        .auth
        .password_reset
        .request(&EmailAddressForm { email }, &client_meta())
        .await
        .map_err(fail)?;
    leptos_axum::redirect("/forgot-password?sent=1");
    Ok(())
}

/// The account the reset link opened in this browser is for; `LinkInvalid` when there is no
/// such link or it no longer works.
#[server(prefix = "/rpc", endpoint = "password_reset_link")]
pub async fn password_reset_link() -> Result<ResetLink, AppError> {
    use super::ssr::*;
    let state = app_state()?;
    let token = link_token(&state, LinkPage::ResetPassword).ok_or(AppError::LinkInvalid)?;
    let user = state
        .auth
        .password_reset
        .account_of(&token)
        .await
        .map_err(fail)?
        .ok_or(AppError::LinkInvalid)?;
    Ok(ResetLink {
        username: user.username,
        email: user.email,
    })
}

/// Sets a new password through the reset link opened in this browser, then goes to the
/// sign-in page: every session ended, this browser's included.
#[server(prefix = "/rpc", endpoint = "reset_password")]
pub async fn reset_password(
    new_password: Password,
    new_password_confirm: Password,
) -> Result<(), AppError> {
    use super::ssr::*;
    use crate::model::ResetPasswordForm;
    let state = app_state()?;
    let token = link_token(&state, LinkPage::ResetPassword).ok_or(AppError::LinkInvalid)?;
    let form = ResetPasswordForm {
        new_password,
        new_password_confirm,
    };
    state
        .auth
        .password_reset
        .reset(&token, &form, &client_meta())
        .await
        .map_err(fail)?;
    clear_link_token(&state, LinkPage::ResetPassword);
    clear_session_cookie(&state);
    leptos_axum::redirect("/login?notice=password-reset");
    Ok(())
}

/// What the confirmation link opened in this browser will do: `None` when none was opened,
/// `LinkInvalid` when it no longer works.
#[server(prefix = "/rpc", endpoint = "email_confirmation")]
pub async fn email_confirmation() -> Result<Option<PendingConfirmation>, AppError> {
    use super::ssr::*;
    let state = app_state()?;
    let Some(token) = link_token(&state, LinkPage::VerifyEmail) else {
        return Ok(None);
    };
    state
        .auth
        .verification
        .pending_confirmation(&token)
        .await
        .map_err(fail)?
        .ok_or(AppError::LinkInvalid)
        .map(Some)
}

/// Follows the confirmation link opened in this browser (the page's button: a GET never
/// confirms, because mail scanners fetch links). When verification is required, confirming a
/// new account signs it in.
#[server(prefix = "/rpc", endpoint = "confirm_email")]
pub async fn confirm_email() -> Result<(), AppError> {
    use super::ssr::*;
    use crate::server::auth::Confirmed;
    let state = app_state()?;
    let token = link_token(&state, LinkPage::VerifyEmail).ok_or(AppError::LinkInvalid)?;
    let confirmed = state
        .auth
        .verification
        .confirm(&token, &client_meta())
        .await
        .map_err(fail)?;
    clear_link_token(&state, LinkPage::VerifyEmail);
    let notice = match confirmed {
        Confirmed::Verified {
            signed_in: Some(signed_in),
        } => {
            replace_session(&state, &signed_in).await?;
            leptos_axum::redirect("/account?notice=email-confirmed");
            return Ok(());
        }
        Confirmed::Verified { signed_in: None } => "email-confirmed",
        Confirmed::EmailChanged => "email-changed",
    };
    // Back to the account when this browser is signed in; else to sign in.
    let page = if current_session(&state).await?.is_some() {
        "/account"
    } else {
        "/login"
    };
    leptos_axum::redirect(&format!("{page}?notice={notice}"));
    Ok(())
}

/// "Send a new link" from the banner of a signed-in account whose address is not confirmed.
#[server(prefix = "/rpc", endpoint = "resend_verification")]
pub async fn resend_verification() -> Result<(), AppError> {
    use super::ssr::*;
    let state = app_state()?;
    let current = require_session(&state).await?;
    state
        .auth
        .verification
        .resend(&current, &client_meta())
        .await
        .map_err(fail)?;
    leptos_axum::redirect("/account?notice=verification-sent");
    Ok(())
}

/// "Send a new link" by address, for someone who cannot sign in before confirming. The
/// answer is the same whether or not such an account exists.
#[server(prefix = "/rpc", endpoint = "request_verification_link")]
pub async fn request_verification_link(email: String) -> Result<(), AppError> {
    use super::ssr::*;
    use crate::model::EmailAddressForm;
    let state = app_state()?;
    state
        .auth
        .verification
        .resend_to_address(&EmailAddressForm { email }, &client_meta())
        .await
        .map_err(fail)?;
    leptos_axum::redirect("/verify-email?sent=1");
    Ok(())
}

/// Asks to move the signed-in account to `new_email` (after the current `password`): a link
/// goes to the new address, which becomes the sign-in address when it is followed.
#[server(prefix = "/rpc", endpoint = "change_email")]
pub async fn change_email(new_email: String, password: Password) -> Result<(), AppError> {
    use super::ssr::*;
    use crate::model::ChangeEmailForm;
    let state = app_state()?;
    let current = require_session(&state).await?;
    let form = ChangeEmailForm {
        new_email,
        password,
    };
    state
        .auth
        .verification
        .request_change(&current, &form, &client_meta())
        .await
        .map_err(fail)?;
    leptos_axum::redirect("/account?notice=email-change-sent");
    Ok(())
}

/// The address a change of the signed-in account waits on, if any.
#[server(prefix = "/rpc", endpoint = "pending_email_change")]
pub async fn pending_email_change() -> Result<Option<String>, AppError> {
    use super::ssr::*;
    let state = app_state()?;
    let current = require_session(&state).await?;
    state
        .auth
        .verification
        .pending_change(current.user_id())
        .await
        .map_err(fail)
}

/// Cancels the pending change of address: its link stops working.
#[server(prefix = "/rpc", endpoint = "cancel_email_change")]
pub async fn cancel_email_change() -> Result<(), AppError> {
    use super::ssr::*;
    let state = app_state()?;
    let current = require_session(&state).await?;
    state
        .auth
        .verification
        .cancel_change(current.user_id())
        .await
        .map_err(fail)?;
    leptos_axum::redirect("/account?notice=email-change-cancelled");
    Ok(())
}
