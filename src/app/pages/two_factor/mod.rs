//! Two-factor pages: the sign-in step that asks for a code, the setup of an authenticator
//! app, and the one-time view of new recovery codes. The account page's own two-factor card
//! (status, new codes, turning it off) is in `pages::account::two_factor`.

mod recovery_codes;
mod setup;
mod sign_in;

pub use recovery_codes::RecoveryCodesPage;
pub use setup::TwoFactorSetupPage;
pub use sign_in::TwoFactorSignInPage;

use leptos::prelude::*;
use leptos_router::components::Redirect;

use crate::app::auth::use_auth;
use crate::app::components::LoadError;
use crate::model::PublicUser;

/// A page for a signed-in person only: `children` with the user, else a redirect to sign in
/// and back to `path` (a real 302 on the server, since the user resource blocks the render).
#[component]
fn SignedInOnly<V>(
    path: &'static str,
    title: &'static str,
    children: impl Fn(PublicUser) -> V + Send + Sync + 'static,
) -> impl IntoView
where
    V: IntoView + 'static,
{
    let auth = use_auth();
    let children = std::sync::Arc::new(children);
    view! {
        <Transition fallback=|| ()>
            {move || {
                let children = std::sync::Arc::clone(&children);
                Suspend::new(async move {
                    match auth.user.await {
                        Ok(Some(user)) => children(user).into_any(),
                        Ok(None) => {
                            view! { <Redirect path=format!("/login?next={path}")/> }.into_any()
                        }
                        Err(error) => {
                            view! {
                                <section class="card">
                                    <h1>{title}</h1>
                                    <LoadError error/>
                                </section>
                            }
                                .into_any()
                        }
                    }
                })
            }}
        </Transition>
    }
}

/// Percent-encodes text for a query parameter or a `data:` address. Written here because the browser bundle has
/// no URL crate and this needs only the unreserved set.
pub(super) fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}
