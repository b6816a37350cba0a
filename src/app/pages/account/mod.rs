//! `/account`: where a signed-in person manages their security. One card per concern;
//! every form works without JavaScript (each posts to its server function, which redirects
//! back here with a notice or with the error in the URL).

mod activity;
mod api_keys;
mod delete;
mod email;
mod passkeys;
mod password;
mod sessions;
mod two_factor;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;

use crate::api::{
    get_passkey_status, get_two_factor_status, list_api_keys, list_sessions, pending_email_change,
    security_activity,
};
use crate::app::auth::{use_auth, SignOutButton};
use crate::app::components::{LoadError, Notice, PasswordPolicyLoad};
use crate::model::activity::{ActivityView, SessionList};
use crate::model::api_key::ApiKeyView;
use crate::model::passkey::PasskeyStatus;
use crate::model::two_factor::TwoFactorStatus;
use crate::model::user::format_date;
use crate::model::AppError;

use self::activity::ActivitySection;
use self::api_keys::ApiKeysSection;
use self::delete::DeleteAccountSection;
use self::email::EmailSection;
use self::passkeys::PasskeysSection;
use self::password::ChangePasswordSection;
use self::sessions::SessionsSection;
use self::two_factor::TwoFactorSection;

/// What the cards show. Every form on the page ends in a page load (its server function
/// redirects back here), so each is loaded once, with the page.
///
/// Created by the page, outside its `Transition`, and awaited inside it before any card is
/// built: on the server a `Suspense` walks its children again until no resource read is
/// pending (to find reads nested behind other reads), and a resource *created* in there is
/// created, and fetched, again on every walk (made by the cards themselves, loads ran 9.65
/// queries per render instead of 8). The cards get plain values, so nothing in them is
/// pending and the page is built once: 1.6× the renders per second of cards that each read
/// their resource in a `Suspense` of their own (docs/benchmarks.md).
#[derive(Clone, Copy)]
struct AccountData {
    pending_email: Resource<Result<Option<String>, AppError>>,
    two_factor: Resource<Result<TwoFactorStatus, AppError>>,
    passkeys: Resource<Result<PasskeyStatus, AppError>>,
    sessions: Resource<Result<SessionList, AppError>>,
    api_keys: Resource<Result<Vec<ApiKeyView>, AppError>>,
    activity: Resource<Result<Vec<ActivityView>, AppError>>,
    password_policy: PasswordPolicyLoad,
}

impl AccountData {
    /// Starts every load with the page. A visitor without a session is sent to the sign-in
    /// page, and their loads fail at once on the session the render already looked up (no
    /// query): cheaper than making each load wait for the user first.
    fn load() -> Self {
        Self {
            pending_email: Resource::new(|| (), |_| pending_email_change()),
            two_factor: Resource::new(|| (), |_| get_two_factor_status()),
            passkeys: Resource::new(|| (), |_| get_passkey_status()),
            sessions: Resource::new(|| (), |_| list_sessions()),
            api_keys: Resource::new(|| (), |_| list_api_keys()),
            activity: Resource::new(|| (), |_| security_activity()),
            password_policy: PasswordPolicyLoad::start(),
        }
    }
}

/// Signed-in only. Without a session the server answers with a redirect to
/// `/login?next=/account` (the user resource blocks the render, so headers are still open).
#[component]
pub fn AccountPage() -> impl IntoView {
    let auth = use_auth();
    let data = AccountData::load();
    view! {
        <Title text="Your account"/>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match auth.user.await {
                    Ok(Some(user)) => {
                        // Every card's data, awaited here (the loads run at once: they all
                        // started with the page). The cards render from values, so the
                        // server walks the page once, not once more per card's `Suspense`.
                        let pending_email = data.pending_email.await;
                        let two_factor = data.two_factor.await;
                        let passkeys = data.passkeys.await;
                        let sessions = data.sessions.await;
                        let api_keys = data.api_keys.await;
                        let activity = data.activity.await;
                        let policy = data.password_policy.policy().await;
                        view! {
                            <div class="stack">
                                <Notice/>
                                <section class="card" aria-labelledby="account-title">
                                    <h1 id="account-title">"Your account"</h1>
                                    <dl class="details">
                                        <div>
                                            <dt>"Username"</dt>
                                            <dd data-testid="account-username">{user.username.clone()}</dd>
                                        </div>
                                        <div>
                                            <dt>"Email"</dt>
                                            <dd>{user.email.clone()}</dd>
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
                                    <p class="muted" data-testid="sign-out-everywhere-scope">
                                        "Sign out everywhere ends every session, this one included, and every API access token. "
                                        "API keys keep working: revoke them under API keys."
                                    </p>
                                </section>
                                <EmailSection user=user.clone() pending=pending_email/>
                                <ChangePasswordSection user=user.clone() policy/>
                                <TwoFactorSection status=two_factor/>
                                <PasskeysSection status=passkeys/>
                                <SessionsSection sessions/>
                                <ApiKeysSection keys=api_keys/>
                                <ActivitySection events=activity/>
                                <DeleteAccountSection username=user.username/>
                            </div>
                        }
                            .into_any()
                    }
                    Ok(None) => view! { <Redirect path="/login?next=/account"/> }.into_any(),
                    Err(err) => {
                        view! {
                            <section class="card">
                                <h1>"Your account"</h1>
                                <LoadError error=err/>
                            </section>
                        }
                            .into_any()
                    }
                }
            })}
        </Transition>
    }
}

/// Ends every session and API access token of this account, this browser's too. API keys
/// are left alone on purpose: they serve unattended clients and have their own revoke (the
/// text under the button says so).
#[component]
fn SignOutEverywhereButton() -> impl IntoView {
    let action = use_auth().logout_everywhere;
    view! {
        <ActionForm action=action attr:class="inline-form">
            <button type="submit" class="button button-small button-quiet">
                "Sign out everywhere"
            </button>
        </ActionForm>
    }
}
