use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::app::auth::use_auth;
use crate::app::components::{
    action_error, CheckInbox, Field, FormBanner, FormFields, NewPasswordFields, PasswordPolicyLoad,
    SubmitButton, WithPasswordPolicy,
};
use crate::model::{PasswordPolicy, RegisterForm};

#[component]
pub fn RegisterPage() -> impl IntoView {
    // `?sent=1`: where a sign-up lands when addresses must be confirmed, whether the account
    // was made or the address already had one (its owner is told by mail instead).
    let query = use_query_map();
    let sent = move || query.read().get("sent").is_some();
    let policy = PasswordPolicyLoad::start();
    view! {
        <Title text="Create account"/>
        <Show
            when=sent
            fallback=move || {
                view! {
                    <WithPasswordPolicy policy let:policy>
                        <RegisterCard policy/>
                    </WithPasswordPolicy>
                }
            }
        >
            <CheckInbox lead="We have sent a message to the address you gave. Open the link in it to finish: it works once, within 24 hours.">
                <p class="card-footer">
                    "No message? " <a href="/verify-email">"Ask for a new link"</a>
                </p>
            </CheckInbox>
        </Show>
    }
}

#[component]
fn RegisterCard(policy: PasswordPolicy) -> impl IntoView {
    let action = use_auth().register;
    let server_error = action_error(action);
    let names = ["email", "username", "password", "password_confirm"];
    // The same `RegisterForm::check` the server runs, on every keystroke.
    let fields = FormFields::new(&names, server_error, move |form| {
        RegisterForm {
            email: form.get("email"),
            username: form.get("username"),
            password: form.get("password").into(),
            password_confirm: form.get("password_confirm").into(),
        }
        .check(&policy)
    });

    view! {
        <section class="card" aria-labelledby="register-title">
            <h1 id="register-title">"Create your account"</h1>
            <p class="card-lead">"It takes a few seconds. Pick a password you don't use anywhere else."</p>
            <FormBanner error=server_error/>
            <ActionForm action=action attr:novalidate=true attr:class="form">
                <Field form=fields name="email" label="Email" kind="email" autocomplete="email"/>
                <Field
                    form=fields
                    name="username"
                    label="Username"
                    autocomplete="username"
                    hint="3–50 letters, digits or underscores."
                />
                <NewPasswordFields
                    form=fields
                    policy
                    name="password"
                    label="Password"
                    confirm_name="password_confirm"
                    confirm_label="Confirm password"
                    username=Signal::derive(move || fields.get("username"))
                    email=Signal::derive(move || fields.get("email"))
                />
                <SubmitButton
                    form=fields
                    label="Create account"
                    busy_label="Creating account…"
                    pending=action.pending()
                />
            </ActionForm>
            <p class="card-footer">"Already have an account? " <a href="/login">"Sign in"</a></p>
        </section>
    }
}
