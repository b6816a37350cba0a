//! The cards the mail flows share: "check your inbox" after a request that sends a link, and
//! "this link no longer works" behind a dead one.

use leptos::prelude::*;

/// After a request that mails a link. The same words whatever happened behind it, so the
/// page tells nobody whether an account has the address.
#[component]
pub fn CheckInbox(
    /// What the link in the mail does, in a sentence.
    lead: &'static str,
    children: Children,
) -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="inbox-title">
            <h1 id="inbox-title">"Check your inbox"</h1>
            <p class="card-lead">{lead}</p>
            <p class="muted card-note">
                "Nothing there after a few minutes? Look in your spam folder, and check that you typed the address you use."
            </p>
            {children()}
        </section>
    }
}

/// Behind a link that is expired, used, replaced by a newer one or made moot.
#[component]
pub fn DeadLink(children: Children) -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="dead-link-title">
            <h1 id="dead-link-title">"This link no longer works"</h1>
            <p class="card-lead">
                "It has expired, was already used, or a newer link was sent since. Links from Gatehouse work once, for a limited time."
            </p>
            {children()}
        </section>
    }
}
