use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::app::auth::use_auth;
use crate::app::components::{action_error, Field, FormBanner, FormFields, SubmitButton};
use crate::model::LoginForm;

#[component]
pub fn LoginPage() -> impl IntoView {
    let action = use_auth().login;
    let query = use_query_map();
    // Passed through untouched; the server follows it only when it is a local path.
    let next = move || query.read().get("next").unwrap_or_default();
    let fields = FormFields::new(&["username", "password"]);
    let client_errors = Memo::new(move |_| {
        LoginForm {
            username: fields.get("username"),
            password: fields.get("password").into(),
        }
        .check()
        .err()
        .unwrap_or_default()
    });
    let server_error = action_error(action);
    let message =
        move |name: &'static str| fields.message_signal(name, client_errors, server_error);
    let on_submit = fields.on_submit(client_errors);

    view! {
        <Title text="Sign in"/>
        <section class="card" aria-labelledby="login-title">
            <h1 id="login-title">"Sign in"</h1>
            <p class="card-lead">"Welcome back. Use your username or your email address."</p>
            <FormBanner error=server_error/>
            <ActionForm action=action attr:novalidate=true attr:class="form">
                <input type="hidden" name="next" prop:value=next value=next/>
                <Field
                    label="Username or email"
                    name="username"
                    autocomplete="username"
                    value=fields.value("username")
                    error=message("username")
                    on_blur=move || fields.touch("username")
                />
                <Field
                    label="Password"
                    name="password"
                    kind="password"
                    autocomplete="current-password"
                    reveal=true
                    value=fields.value("password")
                    error=message("password")
                    on_blur=move || fields.touch("password")
                />
                <label class="checkbox">
                    <input type="checkbox" name="remember" value="on"/>
                    "Remember me on this device"
                </label>
                <SubmitButton label="Sign in" busy_label="Signing in…" pending=action.pending() on_click=on_submit/>
            </ActionForm>
            <p class="card-footer">"New here? " <a href="/register">"Create an account"</a></p>
        </section>
    }
}
