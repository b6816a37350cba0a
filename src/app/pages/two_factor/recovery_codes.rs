//! `/account/recovery-codes`: new recovery codes, shown once to the session that made them
//! (turning two-factor on, or renewing the codes). Loading the page takes them from the
//! server; a reload shows that they are gone, and the account page can make new ones.

use leptos::prelude::*;
use leptos_meta::Title;

use super::SignedInOnly;
use crate::api::fresh_recovery_codes;
use crate::app::components::{Loaded, Notice};
use crate::model::two_factor::RecoveryCodes;

#[component]
pub fn RecoveryCodesPage() -> impl IntoView {
    // Made here, once per page, not inside the signed-in check: a resource made in a
    // `Suspend` can be made (and fetched) again when the render re-runs, and fetching is what
    // uses the codes up. Blocking and without a source: fetched with the page, carried to the
    // browser in it, never fetched again.
    let codes = Resource::new_blocking(|| (), |_| fresh_recovery_codes());
    view! {
        <Title text="Your recovery codes"/>
        <SignedInOnly path="/account/recovery-codes" title="Your recovery codes" let:_user>
            <div class="stack">
                <Notice/>
                <Loaded resource=codes let:codes>
                    {match codes {
                        Some(codes) => view! { <ShowCodes codes/> }.into_any(),
                        None => view! { <AlreadyShown/> }.into_any(),
                    }}
                </Loaded>
            </div>
        </SignedInOnly>
    }
}

#[component]
fn ShowCodes(codes: RecoveryCodes) -> impl IntoView {
    let text = codes.as_text();
    // A data: address: the download works without JavaScript and without asking the server
    // again (which no longer has the codes in a form it can show).
    let download = format!(
        "data:text/plain;charset=utf-8,{}",
        super::percent_encode(&text)
    );
    view! {
        <section class="card" aria-labelledby="codes-title">
            <h1 id="codes-title">"Save your recovery codes"</h1>
            <p class="card-lead">
                "If you lose your phone, each of these codes signs you in once instead of a code from the app. "
                "Keep them somewhere safe, like a password manager. "
                <strong>"They are shown only this once."</strong>
            </p>
            <ol class="recovery-codes" data-testid="recovery-codes">
                {codes
                    .0
                    .into_iter()
                    .map(|code| view! { <li><code>{code}</code></li> })
                    .collect_view()}
            </ol>
            <div class="actions">
                <a class="button" href=download download="gatehouse-recovery-codes.txt" data-testid="download-codes">
                    "Download"
                </a>
                <CopyButton text/>
            </div>
            <p class="card-footer">
                <a href="/account">"I have saved them: back to my account"</a>
            </p>
        </section>
    }
}

/// Copies the codes with the clipboard API: hidden until the page has hydrated, so a browser
/// without JavaScript never shows a button that does nothing.
#[island]
fn CopyButton(text: String) -> impl IntoView {
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    let copied = RwSignal::new(false);
    let text = StoredValue::new(text);
    let copy = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let _promise = window()
                .navigator()
                .clipboard()
                .write_text(&text.get_value());
            copied.set(true);
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = text;
    };
    view! {
        <button type="button" class="button button-quiet" hidden=move || !hydrated.get() on:click=copy>
            {move || if copied.get() { "Copied" } else { "Copy" }}
        </button>
    }
}

#[component]
fn AlreadyShown() -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="codes-title">
            <h1 id="codes-title">"Recovery codes are shown once"</h1>
            <p class="card-lead">
                "Your recovery codes were shown when they were made, and are not shown again. "
                "If you did not save them, make new ones on your account page: the old ones then stop working."
            </p>
            <p class="card-footer">
                <a class="button" href="/account">"Back to your account"</a>
            </p>
        </section>
    }
}
