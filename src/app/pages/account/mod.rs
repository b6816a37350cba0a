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

use crate::api::get_account_overview;
use crate::app::auth::{use_auth, SignOutButton};
use crate::app::components::{LoadError, Notice, PasswordPolicyLoad};
use crate::model::account::AccountOverview;
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
/// redirects back here), so it is loaded once, with the page: every card's data in one read
/// (`get_account_overview`), one database round trip rather than one per card.
///
/// Created by the page, outside its `Transition`, and awaited inside it before any card is
/// built: on the server a `Suspense` walks its children again until no resource read is
/// pending (to find reads nested behind other reads), and a resource *created* in there is
/// created, and fetched, again on every walk. The cards get plain values, so nothing in them
/// is pending and the page is built once (docs/benchmarks.md).
#[derive(Clone, Copy)]
struct AccountData {
    overview: Resource<Result<AccountOverview, AppError>>,
    password_policy: PasswordPolicyLoad,
}

impl AccountData {
    /// Starts the loads with the page. A visitor without a session is sent to the sign-in
    /// page, and the overview fails at once on the session the render already looked up (no
    /// query): cheaper than making it wait for the user first.
    fn load() -> Self {
        Self {
            overview: Resource::new(|| (), |_| get_account_overview()),
            password_policy: PasswordPolicyLoad::start(),
        }
    }
}

/// Each card's part of the overview. When the read failed, every card that needed it shows
/// the error in its place; the forms that need no data (password, deletion) still work.
struct Cards {
    pending_email: Result<Option<String>, AppError>,
    two_factor: Result<TwoFactorStatus, AppError>,
    passkeys: Result<PasskeyStatus, AppError>,
    sessions: Result<SessionList, AppError>,
    api_keys: Result<Vec<ApiKeyView>, AppError>,
    activity: Result<Vec<ActivityView>, AppError>,
}

impl From<Result<AccountOverview, AppError>> for Cards {
    fn from(overview: Result<AccountOverview, AppError>) -> Self {
        match overview {
            Ok(overview) => Self {
                pending_email: Ok(overview.pending_email),
                two_factor: Ok(overview.two_factor),
                passkeys: Ok(overview.passkeys),
                sessions: Ok(overview.sessions),
                api_keys: Ok(overview.api_keys),
                activity: Ok(overview.activity),
            },
            Err(err) => Self {
                pending_email: Err(err.clone()),
                two_factor: Err(err.clone()),
                passkeys: Err(err.clone()),
                sessions: Err(err.clone()),
                api_keys: Err(err.clone()),
                activity: Err(err),
            },
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
                        // Every card's data, awaited here (the loads started with the page).
                        // The cards render from values, so the server walks the page once,
                        // not once more per card's `Suspense`.
                        let Cards { pending_email, two_factor, passkeys, sessions, api_keys, activity } =
                            data.overview.await.into();
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
