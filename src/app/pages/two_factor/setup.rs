//! `/account/two-factor`: turning two-factor on. The current password starts a setup; the
//! page then shows the QR code (drawn on the server as inline SVG) and the same secret as
//! text, and asks for the first code from the app, which turns two-factor on.

use leptos::prelude::*;
use leptos_meta::Title;

use super::SignedInOnly;
use crate::api::{get_two_factor_status, CancelTwoFactor, ConfirmTwoFactor, StartTwoFactor};
use crate::app::components::{
    action_error, posted_error, Field, FormBanner, FormFields, Loaded, Notice, SubmitButton,
};
use crate::model::two_factor::{Enrolment, PasswordConfirmForm, SecondFactorForm};
use crate::model::AppError;

#[component]
pub fn TwoFactorSetupPage() -> impl IntoView {
    view! {
        <Title text="Set up two-factor authentication"/>
        <SignedInOnly path="/account/two-factor" title="Two-factor authentication" let:user>
            <Setup username=user.username/>
        </SignedInOnly>
    }
}

#[component]
fn Setup(username: String) -> impl IntoView {
    let cancel = ServerAction::<CancelTwoFactor>::new();
    let status = Resource::new_blocking(|| (), |_| get_two_factor_status());
    let username = StoredValue::new(username);
    view! {
        <div class="stack">
            <Notice/>
            <Loaded resource=status let:status>
                {if status.enabled {
                    view! { <AlreadyOn/> }.into_any()
                } else if let Some(enrolment) = status.enrolment {
                    view! { <ScanAndConfirm enrolment username=username.get_value() cancel/> }
                        .into_any()
                } else {
                    view! { <StartSetup error={posted_error::<StartTwoFactor>()}/> }.into_any()
                }}
            </Loaded>
        </div>
    }
}

#[component]
fn AlreadyOn() -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="setup-title">
            <h1 id="setup-title">"Two-factor authentication is on"</h1>
            <p class="card-lead">
                "Signing in needs a code from your authenticator app. Manage it on your account page."
            </p>
            <p class="card-footer">
                <a class="button" href="/account">"Back to your account"</a>
            </p>
        </section>
    }
}

#[island]
fn StartSetup(error: Option<AppError>) -> impl IntoView {
    let start = ServerAction::<StartTwoFactor>::new();
    let server_error = action_error(start, error);
    let fields = FormFields::new(&["password"], server_error, |form| {
        PasswordConfirmForm {
            password: form.get("password").into(),
        }
        .check()
    });
    view! {
        <section class="card" aria-labelledby="setup-title">
            <h1 id="setup-title">"Set up two-factor authentication"</h1>
            <p class="card-lead">
                "After your password, signing in will ask for a 6-digit code from an authenticator app on your phone "
                "(Google Authenticator, Microsoft Authenticator, 1Password, Aegis, FreeOTP…). "
                "Someone who learns your password still cannot sign in without it."
            </p>
            <FormBanner error=server_error/>
            <ActionForm action=start attr:novalidate=true attr:class="form">
                <Field
                    form=fields
                    name="password"
                    label="Current password"
                    kind="password"
                    autocomplete="current-password"
                    reveal=true
                />
                <SubmitButton form=fields label="Continue" busy_label="Checking…" pending=start.pending()/>
            </ActionForm>
            <p class="card-footer">
                <a href="/account">"Not now"</a>
            </p>
        </section>
    }
}

#[component]
fn ScanAndConfirm(
    enrolment: Enrolment,
    username: String,
    cancel: ServerAction<CancelTwoFactor>,
) -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="setup-title">
            <h1 id="setup-title">"Set up two-factor authentication"</h1>
            <h2 class="step-title">"1. Add Gatehouse to your authenticator app"</h2>
            <p class="card-lead">"Scan this QR code with the app."</p>
            // Drawn by the server from our own data (no user input in it): plain SVG shapes.
            <div class="qr" inner_html=enrolment.qr_svg></div>
            <details class="manual-key">
                <summary>"Can't scan it? Type this key instead"</summary>
                <dl class="details">
                    <div>
                        <dt>"Key"</dt>
                        <dd>
                            <code class="secret" data-testid="totp-secret">{enrolment.secret_base32}</code>
                        </dd>
                    </div>
                    <div>
                        <dt>"Account"</dt>
                        <dd>{username}</dd>
                    </div>
                    <div>
                        <dt>"Type"</dt>
                        <dd>"Time-based, 6 digits, every 30 seconds"</dd>
                    </div>
                </dl>
            </details>
            <h2 class="step-title">"2. Enter the code the app shows"</h2>
            <ConfirmCode error={posted_error::<ConfirmTwoFactor>()}/>
            <ActionForm action=cancel attr:class="inline-form">
                <button type="submit" class="button button-small button-quiet">
                    "Cancel setup"
                </button>
            </ActionForm>
        </section>
    }
}

/// The first code from the app, which turns two-factor on.
#[island]
fn ConfirmCode(error: Option<AppError>) -> impl IntoView {
    let confirm = ServerAction::<ConfirmTwoFactor>::new();
    let server_error = action_error(confirm, error);
    let fields = FormFields::new(&["code"], server_error, |form| {
        SecondFactorForm {
            code: form.get("code"),
        }
        .check()
        .map(|_| ())
    });
    view! {
        <FormBanner error=server_error/>
        <ActionForm action=confirm attr:novalidate=true attr:class="form">
            <Field
                form=fields
                name="code"
                label="Authentication code"
                autocomplete="one-time-code"
                inputmode="numeric"
                maxlength=32
            />
            <SubmitButton form=fields label="Turn on two-factor" busy_label="Checking…" pending=confirm.pending()/>
        </ActionForm>
    }
}
