//! `/login/two-factor`: the second step of signing in to an account with two-factor on. The
//! password was right; the browser holds the waiting sign-in's cookie, and this page asks for
//! a code from the authenticator app (or, with `?method=recovery`, a recovery code). Both go
//! in the field `code`, which accepts either.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::sign_in_waiting;
use crate::app::auth::use_auth;
use crate::app::components::{
    action_error, Field, FormBanner, FormFields, LoadError, SubmitButton,
};
use crate::model::two_factor::SecondFactorForm;
use crate::model::AppError;

#[component]
pub fn TwoFactorSignInPage() -> impl IntoView {
    let waiting = Resource::new_blocking(|| (), |_| sign_in_waiting());
    view! {
        <Title text="Two-factor sign-in"/>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match waiting.await {
                    Ok(true) => view! { <CodeStep/> }.into_any(),
                    Ok(false) => view! { <SignInTimedOut/> }.into_any(),
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

#[component]
fn CodeStep() -> impl IntoView {
    let action = use_auth().two_factor_sign_in;
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();
    let recovery = move || query.read().get("method").as_deref() == Some("recovery");
    let server_error = action_error(action);
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
                    <input type="hidden" name="next" prop:value=next value=next/>
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
