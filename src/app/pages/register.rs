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
    let fields = FormFields::new(&["email", "username", "password", "password_confirm"]);
    let form = move || RegisterForm {
        email: fields.get("email"),
        username: fields.get("username"),
        password: fields.get("password").into(),
        password_confirm: fields.get("password_confirm").into(),
    };
    // The same `RegisterForm::check` the server runs, on every keystroke.
    let client_errors = Memo::new(move |_| form().check(&policy).err().unwrap_or_default());
    let strength = Signal::derive(move || {
        let password = fields.get("password");
        (!password.is_empty())
            .then(|| estimate(&password, &fields.get("username"), &fields.get("email")))
    });
    let server_error = action_error(action);
    let message =
        move |name: &'static str| fields.message_signal(name, client_errors, server_error);
    let on_submit = fields.on_submit(client_errors);

    view! {
        <section class="card" aria-labelledby="register-title">
            <h1 id="register-title">"Create your account"</h1>
            <p class="card-lead">"It takes a few seconds. Pick a password you don't use anywhere else."</p>
            <FormBanner error=server_error/>
            <ActionForm action=action attr:novalidate=true attr:class="form">
                <Field
                    label="Email"
                    name="email"
                    kind="email"
                    autocomplete="email"
                    value=fields.value("email")
                    error=message("email")
                    on_blur=move || fields.touch("email")
                />
                <Field
                    label="Username"
                    name="username"
                    autocomplete="username"
                    hint="3–50 letters, digits or underscores."
                    value=fields.value("username")
                    error=message("username")
                    on_blur=move || fields.touch("username")
                />
                <Field
                    label="Password"
                    name="password"
                    kind="password"
                    autocomplete="new-password"
                    hint=policy.hint()
                    reveal=true
                    value=fields.value("password")
                    error=message("password")
                    on_blur=move || fields.touch("password")
                />
                <StrengthMeter strength/>
                <Field
                    label="Confirm password"
                    name="password_confirm"
                    kind="password"
                    autocomplete="new-password"
                    reveal=true
                    value=fields.value("password_confirm")
                    error=message("password_confirm")
                    on_blur=move || fields.touch("password_confirm")
                />
                <SubmitButton
                    label="Create account"
                    busy_label="Creating account…"
                    pending=action.pending()
                    on_click=on_submit
                />
            </ActionForm>
            <p class="card-footer">"Already have an account? " <a href="/login">"Sign in"</a></p>
        </section>
    }
}
