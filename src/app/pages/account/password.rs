//! Change password: the current password, a new one checked by the shared policy (with the
//! strength meter), and whether other sessions stay signed in (by default they end).

use leptos::prelude::*;

use super::AccountActions;
use crate::api::get_password_policy;
use crate::app::components::{
    action_error, Field, FormBanner, FormFields, StrengthMeter, SubmitButton,
};
use crate::model::strength::estimate;
use crate::model::{ChangePasswordForm, PasswordPolicy, PublicUser};

#[component]
pub fn ChangePasswordSection(user: PublicUser) -> impl IntoView {
    let policy = Resource::new_blocking(|| (), |_| get_password_policy());
    view! {
        <section class="card" aria-labelledby="password-title">
            <h2 id="password-title">"Change password"</h2>
            <p class="card-lead">
                "Changing it signs out every API access token. This browser stays signed in."
            </p>
            <Suspense fallback=|| ()>
                {move || {
                    let user = user.clone();
                    Suspend::new(async move {
                        let policy = policy.await.unwrap_or_default();
                        view! { <ChangePasswordForm policy user/> }
                    })
                }}
            </Suspense>
        </section>
    }
}

#[component]
fn ChangePasswordForm(policy: PasswordPolicy, user: PublicUser) -> impl IntoView {
    let action = expect_context::<AccountActions>().change_password;
    let fields = FormFields::new(&["current_password", "new_password", "new_password_confirm"]);
    let (username, email) = (
        StoredValue::new(user.username),
        StoredValue::new(user.email),
    );
    let client_errors = Memo::new(move |_| {
        let form = ChangePasswordForm {
            current_password: fields.get("current_password").into(),
            new_password: fields.get("new_password").into(),
            new_password_confirm: fields.get("new_password_confirm").into(),
        };
        form.check(&policy, &username.read_value(), &email.read_value())
            .err()
            .unwrap_or_default()
    });
    let strength = Signal::derive(move || {
        let password = fields.get("new_password");
        (!password.is_empty())
            .then(|| estimate(&password, &username.read_value(), &email.read_value()))
    });
    let server_error = action_error(action);
    let message =
        move |name: &'static str| fields.message_signal(name, client_errors, server_error);
    let on_submit = fields.on_submit(client_errors);
    // A successful change redirects (new session cookie); the fields must not keep the
    // passwords around in the page afterwards.
    Effect::new(move |_| {
        if matches!(action.value().get(), Some(Ok(()))) {
            fields.reset();
        }
    });

    view! {
        <FormBanner error=server_error/>
        <ActionForm action=action attr:novalidate=true attr:class="form">
            <Field
                label="Current password"
                name="current_password"
                kind="password"
                autocomplete="current-password"
                reveal=true
                value=fields.value("current_password")
                error=message("current_password")
                on_blur=move || fields.touch("current_password")
            />
            <Field
                label="New password"
                name="new_password"
                kind="password"
                autocomplete="new-password"
                hint=policy.hint()
                reveal=true
                value=fields.value("new_password")
                error=message("new_password")
                on_blur=move || fields.touch("new_password")
            />
            <StrengthMeter strength/>
            <Field
                label="Confirm new password"
                name="new_password_confirm"
                kind="password"
                autocomplete="new-password"
                reveal=true
                value=fields.value("new_password_confirm")
                error=message("new_password_confirm")
                on_blur=move || fields.touch("new_password_confirm")
            />
            <label class="checkbox">
                <input type="checkbox" name="keep_other_sessions" value="on"/>
                "Keep my other devices signed in"
            </label>
            <SubmitButton
                label="Change password"
                busy_label="Changing password…"
                pending=action.pending()
                on_click=on_submit
            />
        </ActionForm>
    }
}
