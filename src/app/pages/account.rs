use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;

use crate::app::auth::{use_auth, SignOutButton};
use crate::app::pages::api_keys::ApiKeysSection;
use crate::model::user::format_date;

/// Signed-in only. Without a session the server answers with a redirect to
/// `/login?next=/account` (the user resource blocks the render, so headers are still open).
#[component]
pub fn AccountPage() -> impl IntoView {
    let auth = use_auth();
    view! {
        <Title text="Your account"/>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match auth.user.await {
                    Ok(Some(user)) => {
                        view! {
                            <section class="card" aria-labelledby="account-title">
                                <h1 id="account-title">"Your account"</h1>
                                <dl class="details">
                                    <div>
                                        <dt>"Username"</dt>
                                        <dd data-testid="account-username">{user.username}</dd>
                                    </div>
                                    <div>
                                        <dt>"Email"</dt>
                                        <dd>{user.email}</dd>
                                    </div>
                                    <div>
                                        <dt>"Member since"</dt>
                                        <dd>{format_date(user.created_at)}</dd>
                                    </div>
                                </dl>
                                <div class="actions">
                                    <SignOutButton/>
                                    <SignOutEverywhereButton/>
                                </div>
                            </section>
                            <ApiKeysSection/>
                        }
                            .into_any()
                    }
                    Ok(None) => view! { <Redirect path="/login?next=/account"/> }.into_any(),
                    Err(err) => {
                        view! {
                            <section class="card">
                                <h1>"Your account"</h1>
                                <div class="banner banner-error" role="alert">{err.to_string()}</div>
                            </section>
                        }
                            .into_any()
                    }
                }
            })}
        </Transition>
    }
}

/// Ends every session and API access token of this account, this browser's too.
#[component]
fn SignOutEverywhereButton() -> impl IntoView {
    let action = use_auth().logout_everywhere;
    view! {
        <ActionForm action=action attr:class="inline-form">
            <button type="submit" class="button button-small button-quiet" disabled=move || action.pending().get()>
                "Sign out everywhere"
            </button>
        </ActionForm>
    }
}
