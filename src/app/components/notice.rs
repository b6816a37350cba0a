use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

/// A success message after a form that redirected here with `?notice=<code>` (the way
/// forms report success without JavaScript). Only known codes show text: nothing from the
/// URL is ever echoed into the page.
#[component]
pub fn Notice() -> impl IntoView {
    let query = use_query_map();
    let message = move || {
        query.with(|q| match q.get_str("notice") {
            Some("password-changed") => Some("Your password has been changed."),
            Some("session-revoked") => Some("That session has been signed out."),
            Some("others-signed-out") => Some("All your other sessions have been signed out."),
            Some("account-deleted") => Some("Your account has been deleted. Goodbye."),
            Some("password-reset") => {
                Some("Your password was changed. Sign in with your new password.")
            }
            Some("email-confirmed") => Some("Your email address is confirmed."),
            Some("email-changed") => Some("Your email address was changed."),
            Some("email-change-sent") => Some(
                "We sent a link to the new address. Your sign-in address changes when you open it.",
            ),
            Some("email-change-cancelled") => Some("The change of email address was cancelled."),
            Some("verification-sent") => Some("A new link is on its way."),
            Some("two-factor-on") => Some(
                "Two-factor authentication is on. Save your recovery codes now: they are shown only once.",
            ),
            Some("recovery-codes-renewed") => {
                Some("New recovery codes are ready; the old ones no longer work.")
            }
            Some("two-factor-off") => Some("Two-factor authentication is off."),
            Some("passkey-renamed") => Some("The passkey was renamed."),
            Some("api-key-revoked") => Some("The API key was revoked: it no longer works."),
            Some("passkey-added") => Some("The passkey was added: you can sign in with it now."),
            Some("passkey-removed") => Some(
                "The passkey was removed: it no longer signs you in. Delete it from your device too.",
            ),
            Some("two-factor-cancelled") => {
                Some("The setup of two-factor authentication was cancelled.")
            }
            _ => None,
        })
    };
    view! {
        <div class="banner banner-success notice" role="status" hidden=move || message().is_none()>
            {message}
        </div>
    }
}
