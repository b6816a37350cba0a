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
    let (username, email) = (
        StoredValue::new(user.username),
        StoredValue::new(user.email),
    );
    let server_error = action_error(action);
    let names = ["current_password", "new_password", "new_password_confirm"];
    let fields = FormFields::new(&names, server_error, move |form| {
        ChangePasswordForm {
            current_password: form.get("current_password"),
            new_password: form.get("new_password"),
            new_password_confirm: form.get("new_password_confirm"),
        }
        .check(&policy, &username.read_value(), &email.read_value())
    });
    let strength = Signal::derive(move || {
        let password = fields.get("new_password");
        (!password.is_empty())
            .then(|| estimate(&password, &username.read_value(), &email.read_value()))
    });
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
                form=fields
                name="current_password"
                label="Current password"
                kind="password"
                autocomplete="current-password"
                reveal=true
            />
            <Field
                form=fields
                name="new_password"
                label="New password"
                kind="password"
                autocomplete="new-password"
                hint=policy.hint()
                reveal=true
            />
            <StrengthMeter strength/>
            <Field
                form=fields
                name="new_password_confirm"
                label="Confirm new password"
                kind="password"
                autocomplete="new-password"
                reveal=true
            />
            <label class="checkbox">
                <input type="checkbox" name="keep_other_sessions" value="on"/>
                "Keep my other devices signed in"
            </label>
            <SubmitButton
                form=fields
                label="Change password"
                busy_label="Changing password…"
                pending=action.pending()
            />
        </ActionForm>
    }
}
