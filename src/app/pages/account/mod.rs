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
    security_activity, CancelEmailChange, CancelTwoFactor, ChangeEmail, ChangePassword,
    CreateApiKey, DisableTwoFactor, RegenerateRecoveryCodes, RemovePasskey, RenamePasskey,
    RevokeApiKey, RevokeOtherSessions, RevokeSession,
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

/// The page's actions, shared so the activity log (and the session list) refresh after any
/// of them.
#[derive(Clone, Copy)]
pub(crate) struct AccountActions {
    pub change_password: ServerAction<ChangePassword>,
    pub revoke_session: ServerAction<RevokeSession>,
    pub revoke_others: ServerAction<RevokeOtherSessions>,
    pub create_key: ServerAction<CreateApiKey>,
    pub revoke_key: ServerAction<RevokeApiKey>,
    pub change_email: ServerAction<ChangeEmail>,
    pub cancel_email_change: ServerAction<CancelEmailChange>,
    pub regenerate_codes: ServerAction<RegenerateRecoveryCodes>,
    pub disable_two_factor: ServerAction<DisableTwoFactor>,
    pub cancel_two_factor: ServerAction<CancelTwoFactor>,
    pub rename_passkey: ServerAction<RenamePasskey>,
    pub remove_passkey: ServerAction<RemovePasskey>,
    /// Bumped when a passkey was added (a ceremony in JavaScript, not a form action).
    pub passkeys_changed: RwSignal<usize>,
}

impl AccountActions {
    fn new() -> Self {
        Self {
            change_password: ServerAction::new(),
            revoke_session: ServerAction::new(),
            revoke_others: ServerAction::new(),
            create_key: ServerAction::new(),
            revoke_key: ServerAction::new(),
            change_email: ServerAction::new(),
            cancel_email_change: ServerAction::new(),
            regenerate_codes: ServerAction::new(),
            disable_two_factor: ServerAction::new(),
            cancel_two_factor: ServerAction::new(),
            rename_passkey: ServerAction::new(),
            remove_passkey: ServerAction::new(),
            passkeys_changed: RwSignal::new(0),
        }
    }

    /// Changes whenever any action completes.
    pub fn version(&self) -> usize {
        self.change_password.version().get()
            + self.revoke_session.version().get()
            + self.revoke_others.version().get()
            + self.create_key.version().get()
            + self.revoke_key.version().get()
            + self.change_email.version().get()
            + self.cancel_email_change.version().get()
            + self.regenerate_codes.version().get()
            + self.disable_two_factor.version().get()
            + self.cancel_two_factor.version().get()
            + self.rename_passkey.version().get()
            + self.remove_passkey.version().get()
            + self.passkeys_changed.get()
    }
}

/// What the cards show, each reloaded after the actions that can change it.
///
/// Created by the page, outside its `Transition`, and handed to the cards: on the server a
/// `Suspense` walks its children again until no resource read is pending (to find reads
/// nested behind other reads), and a resource *created* in there is created, and fetched,
/// again on every walk. Made by the cards themselves, loads ran again on many renders: 9.65
/// queries per `/account` render on average, against 8 now, one per card plus the session
/// and its user (docs/benchmarks.md).
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
    /// query): cheaper, in a page's bundle too, than making each load wait for the user first.
    fn load(actions: AccountActions) -> Self {
        let (create_key, revoke_key) = (actions.create_key, actions.revoke_key);
        Self {
            pending_email: Resource::new(move || actions.version(), |_| pending_email_change()),
            two_factor: Resource::new(move || actions.version(), |_| get_two_factor_status()),
            passkeys: Resource::new(move || actions.version(), |_| get_passkey_status()),
            sessions: Resource::new(move || actions.version(), |_| list_sessions()),
            api_keys: Resource::new(
                move || (create_key.version().get(), revoke_key.version().get()),
                |_| list_api_keys(),
            ),
            activity: Resource::new(move || actions.version(), |_| security_activity()),
            password_policy: PasswordPolicyLoad::start(),
        }
    }
}

/// Signed-in only. Without a session the server answers with a redirect to
/// `/login?next=/account` (the user resource blocks the render, so headers are still open).
#[component]
pub fn AccountPage() -> impl IntoView {
    let auth = use_auth();
    let actions = AccountActions::new();
    provide_context(actions);
    let data = AccountData::load(actions);
    view! {
        <Title text="Your account"/>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match auth.user.await {
                    Ok(Some(user)) => {
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
                                <EmailSection user=user.clone() pending=data.pending_email/>
                                <ChangePasswordSection user=user.clone() policy=data.password_policy/>
                                <TwoFactorSection status=data.two_factor/>
                                <PasskeysSection status=data.passkeys/>
                                <SessionsSection sessions=data.sessions/>
                                <ApiKeysSection keys=data.api_keys/>
                                <ActivitySection events=data.activity/>
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
            <button type="submit" class="button button-small button-quiet" disabled=move || action.pending().get()>
                "Sign out everywhere"
            </button>
        </ActionForm>
    }
}
