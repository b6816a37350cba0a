use leptos::prelude::*;

use crate::model::AppError;

/// A form-level message: errors that belong to no single field (wrong credentials, rate
/// limits, server trouble). Field errors are shown next to their fields instead.
#[component]
pub fn FormBanner(#[prop(into)] error: Signal<Option<AppError>>) -> impl IntoView {
    let message = move || match error.get() {
        None | Some(AppError::Validation(_)) => None,
        Some(err) => Some(err.to_string()),
    };
    view! {
        // `role=alert` is always present (empty when there is nothing to say) so screen
        // readers announce the message when it appears.
        <div class="banner banner-error" role="alert" hidden=move || message().is_none()>
            {message}
        </div>
    }
}

/// A section whose data could not be loaded: the error's message (with its reference).
#[component]
pub fn LoadError(error: AppError) -> impl IntoView {
    view! { <div class="banner banner-error" role="alert">{error.to_string()}</div> }
}
