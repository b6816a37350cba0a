//! Change password: the current password, a new one checked by the shared policy (with the
//! strength meter), and whether other sessions stay signed in (by default they end).

use leptos::prelude::*;

use crate::api::ChangePassword;
use crate::app::components::{
    action_error, posted_error, Field, FormBanner, FormFields, NewPasswordFields, SubmitButton,
};
use crate::model::{self, AppError, PasswordPolicy, PublicUser};

#[component]
pub fn ChangePasswordSection(user: PublicUser, policy: PasswordPolicy) -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="password-title">
            <h2 id="password-title">"Change password"</h2>
            <p class="card-lead">
                "Changing it signs out every API access token. This browser stays signed in."
            </p>
            <ChangePasswordForm
                policy
                username=user.username
                email=user.email
                error={posted_error::<ChangePassword>()}
            />
        </section>
    }
}

#[island]
fn ChangePasswordForm(
    policy: PasswordPolicy,
    username: String,
    email: String,
    error: Option<AppError>,
) -> impl IntoView {
    let action = ServerAction::<ChangePassword>::new();
    let (username, email) = (Signal::stored(username), Signal::stored(email));
    let server_error = action_error(action, error);
    let names = ["current_password", "new_password", "new_password_confirm"];
    let fields = FormFields::new(&names, server_error, move |form| {
        model::ChangePasswordForm {
            current_password: form.get("current_password").into(),
            new_password: form.get("new_password").into(),
            new_password_confirm: form.get("new_password_confirm").into(),
        }
        .check(&policy, &username.read(), &email.read())
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
            <NewPasswordFields
                form=fields
                policy
                name="new_password"
                label="New password"
                confirm_name="new_password_confirm"
                confirm_label="Confirm new password"
                username
                email
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
