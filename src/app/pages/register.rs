use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::Register;
use crate::app::components::{
    action_error, posted_error, CheckInbox, Field, FormBanner, FormFields, NewPasswordFields,
    PasswordPolicyLoad, SubmitButton, WithPasswordPolicy,
};
use crate::model::{self, AppError, PasswordPolicy};

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
                        <section class="card" aria-labelledby="register-title">
                            <h1 id="register-title">"Create your account"</h1>
                            <p class="card-lead">"It takes a few seconds. Pick a password you don't use anywhere else."</p>
                            <RegisterForm policy error={posted_error::<Register>()}/>
                            <p class="card-footer">"Already have an account? " <a href="/login">"Sign in"</a></p>
                        </section>
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

#[island]
fn RegisterForm(policy: PasswordPolicy, error: Option<AppError>) -> impl IntoView {
    let action = ServerAction::<Register>::new();
    let server_error = action_error(action, error);
    let names = ["email", "username", "password", "password_confirm"];
    // The same `RegisterForm::check` the server runs, on every keystroke.
    let fields = FormFields::new(&names, server_error, move |form| {
        model::RegisterForm {
            email: form.get("email"),
            username: form.get("username"),
            password: form.get("password").into(),
            password_confirm: form.get("password_confirm").into(),
        }
        .check(&policy)
    });

    view! {
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
    }
}
