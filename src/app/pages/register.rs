use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::get_password_policy;
use crate::app::auth::use_auth;
use crate::app::components::{
    action_error, Field, FormBanner, FormFields, StrengthMeter, SubmitButton,
};
use crate::model::strength::estimate;
use crate::model::{PasswordPolicy, RegisterForm};

#[component]
pub fn RegisterPage() -> impl IntoView {
    // The server's password policy, fetched with the page (blocking: in the first HTML).
    let policy = Resource::new_blocking(|| (), |_| get_password_policy());
    view! {
        <Title text="Create account"/>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let policy = policy.await.unwrap_or_default();
                view! { <RegisterCard policy/> }
            })}
        </Suspense>
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
            password: form.get("password"),
            password_confirm: form.get("password_confirm"),
        }
        .check(&policy)
    });
    let strength = Signal::derive(move || {
        let password = fields.get("password");
        (!password.is_empty())
            .then(|| estimate(&password, &fields.get("username"), &fields.get("email")))
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
                <Field
                    form=fields
                    name="password"
                    label="Password"
                    kind="password"
                    autocomplete="new-password"
                    hint=policy.hint()
                    reveal=true
                />
                <StrengthMeter strength/>
                <Field
                    form=fields
                    name="password_confirm"
                    label="Confirm password"
                    kind="password"
                    autocomplete="new-password"
                    reveal=true
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
