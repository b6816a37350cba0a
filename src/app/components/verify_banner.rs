use leptos::prelude::*;

use crate::app::auth::use_auth;

/// On every page while the signed-in account's address is not confirmed: what to do, and a
/// button for a new link (a POST form: it works without JavaScript too).
#[component]
pub fn VerifyEmailBanner() -> impl IntoView {
    let auth = use_auth();
    let resend = auth.resend_verification;
    let unconfirmed = move || {
        auth.user
            .get()
            .and_then(Result::ok)
            .flatten()
            .filter(|user| !user.email_verified)
            .map(|user| user.email)
    };
    view! {
        <Transition fallback=|| ()>
            {move || {
                unconfirmed()
                    .map(|email| {
                        view! {
                            <section class="banner banner-warning verify-banner" aria-label="Confirm your email address">
                                <p>
                                    "Confirm your email address: we sent a link to "
                                    <strong>{email}</strong>
                                    "."
                                </p>
                                <ActionForm action=resend attr:class="inline-form">
                                    <button type="submit" class="button button-small">
                                        "Send a new link"
                                    </button>
                                </ActionForm>
                            </section>
                        }
                    })
            }}
        </Transition>
    }
}
