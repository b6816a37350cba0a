use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::Login;
use crate::api::{finish_passkey_sign_in, start_passkey_sign_in};
use crate::app::components::{
    action_error, posted_error, Field, FormBanner, FormFields, Notice, SubmitButton,
};
use crate::app::webauthn::{self, Failure};
use crate::model::passkey::passkey_error;
use crate::model::{AppError, LoginForm};

#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    // Passed through untouched; the server follows it only when it is a local path.
    let next = query.read_untracked().get("next").unwrap_or_default();
    view! {
        <Title text="Sign in"/>
        <Notice/>
        <section class="card" aria-labelledby="login-title">
            <h1 id="login-title">"Sign in"</h1>
            <p class="card-lead">"Welcome back. Use your username or your email address."</p>
            <SignInForm next error={posted_error::<Login>()}/>
            <p class="card-footer">"New here? " <a href="/register">"Create an account"</a></p>
        </section>
    }
}

/// The password form and the passkey way in: the page's interactive part.
#[island]
fn SignInForm(next: String, error: Option<AppError>) -> impl IntoView {
    let action = ServerAction::<Login>::new();
    let server_error = action_error(action, error);
    let fields = FormFields::new(&["username", "password"], server_error, |form| {
        LoginForm {
            username: form.get("username"),
            password: form.get("password").into(),
        }
        .check()
    });

    let remember = RwSignal::new(false);

    // The right password for an account whose address waits for confirmation.
    let unconfirmed = move || matches!(server_error.get(), Some(AppError::EmailNotVerified));
    let passkey_next = Signal::stored(next.clone());

    view! {
        <FormBanner error=server_error/>
        <Show when=unconfirmed>
            <p class="card-note">
                "Lost the message? " <a href="/verify-email">"Send a new link"</a>
            </p>
        </Show>
        <ActionForm action=action attr:novalidate=true attr:class="form">
            <input type="hidden" name="next" value=next/>
            // `webauthn`: the browser may offer passkeys in this field's autofill.
            <Field form=fields name="username" label="Username or email" autocomplete="username webauthn"/>
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
                <input type="checkbox" name="remember" value="on" bind:checked=remember/>
                "Remember me on this device"
            </label>
            <SubmitButton form=fields label="Sign in" busy_label="Signing in…" pending=action.pending()/>
        </ActionForm>
        <PasskeySignIn next=passkey_next remember/>
    }
}

/// Signing in with a passkey: a button, and the browser's autofill on the username field
/// where it offers passkeys there (conditional mediation). Both need JavaScript: until the
/// page has hydrated, a line says so and the password form is the way in.
#[component]
fn PasskeySignIn(next: Signal<String>, remember: RwSignal<bool>) -> impl IntoView {
    let hydrated = RwSignal::new(false);
    let supported = RwSignal::new(false);
    let error = RwSignal::new(None::<AppError>);
    let pending = RwSignal::new(false);
    let run = move |conditional: bool, next: String| {
        if !conditional {
            pending.set(true);
            error.set(None);
        }
        webauthn::sign_in_from_page(
            sign_in_with_passkey(conditional, remember, next),
            pending,
            error,
        );
    };
    Effect::new(move |_| {
        let able = webauthn::supported();
        supported.set(able);
        hydrated.set(true);
        if able {
            let next = next.get_untracked();
            leptos::task::spawn_local(async move {
                let available = webauthn::conditional_mediation_available().await;
                // Still on the page (its signals alive) once the browser has answered?
                if available && hydrated.try_get_untracked().is_some() {
                    run(true, next);
                }
            });
        }
    });
    on_cleanup(webauthn::abort_pending);
    let message = move || webauthn::failure_message(error);
    view! {
        <div class="alternative" hidden=move || !hydrated.get() || !supported.get()>
            <p class="divider"><span>"or"</span></p>
            <button
                type="button"
                class="button button-block"
                data-testid="passkey-sign-in"
                disabled=move || pending.get()
                on:click=move |_| run(false, next.get_untracked())
            >
                {move || if pending.get() { "Waiting for your passkey…" } else { "Sign in with a passkey" }}
            </button>
            <p class="field-error" role="alert" hidden=move || message().is_none() data-testid="passkey-error">
                {message}
            </p>
        </div>
        <p class="muted" hidden=move || hydrated.get() data-testid="passkeys-need-js">
            "Signing in with a passkey needs JavaScript, which is off or still loading."
        </p>
    }
}

/// The two requests of a passkey sign-in around the browser's prompt: where to go once signed
/// in, or `None` when the prompt was replaced by another (or, for the autofill, dismissed).
async fn sign_in_with_passkey(
    conditional: bool,
    remember: RwSignal<bool>,
    next: String,
) -> Result<Option<String>, AppError> {
    let options = start_passkey_sign_in().await?;
    let credential = match webauthn::get(&options, conditional).await {
        Ok(credential) => credential,
        Err(Failure::Aborted) => return Ok(None),
        Err(Failure::Message(_)) if conditional => return Ok(None),
        Err(Failure::Message(message)) => return Err(passkey_error(message)),
    };
    let next = Some(next).filter(|n| !n.is_empty());
    // Read now: the box may have been ticked while the autofill waited.
    let remember = remember.try_get_untracked().unwrap_or(false);
    finish_passkey_sign_in(credential, remember, next)
        .await
        .map(Some)
}
