//! `/login/two-factor`: the second step of signing in to an account with two-factor on. The
//! password was right; the browser holds the waiting sign-in's cookie, and this page asks for
//! a code from the authenticator app (or, with `?method=recovery`, a recovery code). Both go
//! in the field `code`, which accepts either. An account with a passkey can answer with it
//! instead (with JavaScript).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::{
    finish_passkey_second_factor, sign_in_waiting, start_passkey_second_factor, TwoFactorSignIn,
};
use crate::app::components::{
    action_error, posted_error, Field, FormBanner, FormFields, LoadError, SubmitButton,
};
use crate::app::webauthn::{self, Failure};
use crate::model::passkey::passkey_error;
use crate::model::two_factor::SecondFactorForm;
use crate::model::AppError;

#[component]
pub fn TwoFactorSignInPage() -> impl IntoView {
    let waiting = Resource::new_blocking(|| (), |_| sign_in_waiting());
    let query = use_query_map();
    let (next, recovery) = query.with_untracked(|q| {
        (
            q.get("next").unwrap_or_default(),
            q.get_str("method") == Some("recovery"),
        )
    });
    let next = StoredValue::new(next);
    view! {
        <Title text="Two-factor sign-in"/>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match waiting.await {
                    Ok(Some(waiting)) => {
                        view! {
                            <CodeStep
                                passkey=waiting.passkey
                                next=next.get_value()
                                recovery
                                error={posted_error::<TwoFactorSignIn>()}
                            />
                        }
                            .into_any()
                    }
                    Ok(None) => view! { <SignInTimedOut/> }.into_any(),
                    Err(error) => {
                        view! {
                            <section class="card">
                                <h1>"Two-factor sign-in"</h1>
                                <LoadError error/>
                            </section>
                        }
                            .into_any()
                    }
                }
            })}
        </Suspense>
    }
}

/// The code form (and the passkey button): the page's interactive part. `recovery`: asking
/// for a recovery code instead of the app's (`?method=recovery`).
#[island]
fn CodeStep(passkey: bool, next: String, recovery: bool, error: Option<AppError>) -> impl IntoView {
    let action = ServerAction::<TwoFactorSignIn>::new();
    let next = StoredValue::new(next);
    let next = move || next.get_value();
    let recovery = move || recovery;
    let server_error = action_error(action, error);
    let fields = FormFields::new(&["code"], server_error, |form| {
        SecondFactorForm {
            code: form.get("code"),
        }
        .check()
        .map(|_| ())
    });
    // Too many wrong codes, or the time ran out while the page was open.
    let expired = move || matches!(server_error.get(), Some(AppError::SignInExpired));
    // The other method's address, keeping `next`.
    let switch_href = move || {
        let mut href = String::from("/login/two-factor");
        let mut params = Vec::new();
        if !recovery() {
            params.push("method=recovery".to_string());
        }
        let next = next();
        if !next.is_empty() {
            params.push(format!("next={}", super::percent_encode(&next)));
        }
        if !params.is_empty() {
            href.push('?');
            href.push_str(&params.join("&"));
        }
        href
    };
    view! {
        <Show when=move || !expired() fallback=|| view! { <SignInTimedOut/> }>
            <section class="card" aria-labelledby="two-factor-title">
                <h1 id="two-factor-title">"Two-factor sign-in"</h1>
                <p class="card-lead">
                    {move || {
                        if recovery() {
                            "Enter one of your recovery codes. Each code works once."
                        } else {
                            "Open your authenticator app and enter the 6-digit code it shows for Gatehouse."
                        }
                    }}
                </p>
                <FormBanner error=server_error/>
                <ActionForm action=action attr:novalidate=true attr:class="form">
                    <input type="hidden" name="next" value=next/>
                    {move || {
                        if recovery() {
                            view! {
                                <Field
                                    form=fields
                                    name="code"
                                    label="Recovery code"
                                    autocomplete="off"
                                    hint="Like k3x9m-p2q7r."
                                    maxlength=32
                                />
                            }
                                .into_any()
                        } else {
                            view! {
                                <Field
                                    form=fields
                                    name="code"
                                    label="Authentication code"
                                    autocomplete="one-time-code"
                                    inputmode="numeric"
                                    maxlength=32
                                />
                            }
                                .into_any()
                        }
                    }}
                    <SubmitButton form=fields label="Verify" busy_label="Verifying…" pending=action.pending()/>
                </ActionForm>
                {passkey.then(|| view! { <PasskeyStep next=Signal::derive(next)/> })}
                <p class="card-footer">
                    <a href=switch_href data-testid="switch-code-method">
                        {move || {
                            if recovery() {
                                "Use your authenticator app instead"
                            } else {
                                "Lost your phone? Use a recovery code"
                            }
                        }}
                    </a>
                </p>
            </section>
        </Show>
    }
}

#[component]
fn SignInTimedOut() -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="timed-out-title">
            <h1 id="timed-out-title">"Sign in again"</h1>
            <p class="card-lead">
                "This sign-in has timed out, or ended after too many wrong codes. Enter your password again to get a new one."
            </p>
            <p class="card-footer">
                <a class="button" href="/login">"Sign in"</a>
            </p>
        </section>
    }
}

/// Answering the step with one of the account's passkeys instead of a code (shown once the
/// page has hydrated, where the browser can use passkeys).
#[component]
fn PasskeyStep(next: Signal<String>) -> impl IntoView {
    let usable = RwSignal::new(false);
    Effect::new(move |_| usable.set(webauthn::supported()));
    on_cleanup(webauthn::abort_pending);
    let error = RwSignal::new(None::<AppError>);
    let pending = RwSignal::new(false);
    let use_passkey = move |_| {
        pending.set(true);
        error.set(None);
        webauthn::sign_in_from_page(answer_with_passkey(next.get_untracked()), pending, error);
    };
    let expired = move || matches!(error.get(), Some(AppError::SignInExpired));
    let message = move || webauthn::failure_message(error);
    view! {
        <div class="alternative" hidden=move || !usable.get()>
            <p class="divider"><span>"or"</span></p>
            <button
                type="button"
                class="button button-block"
                data-testid="passkey-second-factor"
                disabled=move || pending.get()
                on:click=use_passkey
            >
                {move || if pending.get() { "Waiting for your passkey…" } else { "Use a passkey instead" }}
            </button>
            <p class="field-error" role="alert" hidden=move || message().is_none() || expired()>
                {message}
            </p>
            <Show when=expired>
                <p class="field-error" role="alert">
                    "This sign-in has timed out. " <a href="/login">"Sign in again"</a>
                </p>
            </Show>
        </div>
    }
}

/// The two requests of answering with a passkey around the browser's prompt: where to go once
/// signed in, or `None` when the prompt was replaced by another.
async fn answer_with_passkey(next: String) -> Result<Option<String>, AppError> {
    let options = start_passkey_second_factor().await?;
    let credential = match webauthn::get(&options, false).await {
        Ok(credential) => credential,
        Err(Failure::Aborted) => return Ok(None),
        Err(Failure::Message(message)) => return Err(passkey_error(message)),
    };
    let next = Some(next).filter(|n| !n.is_empty());
    finish_passkey_second_factor(credential, next)
        .await
        .map(Some)
}
