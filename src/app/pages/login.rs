use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::app::auth::use_auth;
use crate::app::components::{action_error, Field, FormBanner, FormFields, Notice, SubmitButton};
use crate::model::{AppError, LoginForm};

#[component]
pub fn LoginPage() -> impl IntoView {
    let action = use_auth().login;
    let query = use_query_map();
    // Passed through untouched; the server follows it only when it is a local path.
    let next = move || query.read().get("next").unwrap_or_default();
    let server_error = action_error(action);
    let fields = FormFields::new(&["username", "password"], server_error, |form| {
        LoginForm {
            username: form.get("username"),
            password: form.get("password").into(),
        }
        .check()
    });

    // The right password for an account whose address waits for confirmation.
    let unconfirmed = move || matches!(server_error.get(), Some(AppError::EmailNotVerified));

    view! {
        <Title text="Sign in"/>
        <Notice/>
        <section class="card" aria-labelledby="login-title">
            <h1 id="login-title">"Sign in"</h1>
            <p class="card-lead">"Welcome back. Use your username or your email address."</p>
            <FormBanner error=server_error/>
            <Show when=unconfirmed>
                <p class="card-note">
                    "Lost the message? " <a href="/verify-email">"Send a new link"</a>
                </p>
            </Show>
            <ActionForm action=action attr:novalidate=true attr:class="form">
                <input type="hidden" name="next" prop:value=next value=next/>
                <Field form=fields name="username" label="Username or email" autocomplete="username"/>
                <Field
                    form=fields
                    name="password"
                    label="Password"
                    kind="password"
                    autocomplete="current-password"
                    reveal=true
                />
                <a class="field-link" href="/forgot-password">"Forgot password?"</a>
                <label class="checkbox">
                    <input type="checkbox" name="remember" value="on"/>
                    "Remember me on this device"
                </label>
                <SubmitButton form=fields label="Sign in" busy_label="Signing in…" pending=action.pending()/>
            </ActionForm>
            <p class="card-footer">"New here? " <a href="/register">"Create an account"</a></p>
        </section>
    }
}
