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
            _ => None,
        })
    };
    view! {
        <div class="banner banner-success notice" role="status" hidden=move || message().is_none()>
            {message}
        </div>
    }
}
