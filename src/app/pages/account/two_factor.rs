//! The account's two-factor card: off (a link to set it up, or to finish a setup under way),
//! or on (the recovery codes left, new codes, turning it off).

use leptos::prelude::*;

use crate::api::{CancelTwoFactor, DisableTwoFactor, RegenerateRecoveryCodes};
use crate::app::components::{
    action_error, loaded, posted_error, Field, FormBanner, FormFields, SubmitButton,
};
use crate::model::two_factor::{DisableTwoFactorForm, PasswordConfirmForm, TwoFactorStatus};
use crate::model::AppError;

/// At or below this many codes left, the card says to make new ones.
const FEW_CODES_LEFT: u64 = 3;

#[component]
pub fn TwoFactorSection(status: Result<TwoFactorStatus, AppError>) -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="two-factor-title">
            <h2 id="two-factor-title">"Two-factor authentication"</h2>
            {loaded(status, |status| view! { <StatusView status/> })}
        </section>
    }
}

#[component]
fn StatusView(status: TwoFactorStatus) -> impl IntoView {
    if status.enabled {
        return view! { <Enabled codes_left=status.recovery_codes_left/> }.into_any();
    }
    let cancel = ServerAction::<CancelTwoFactor>::new();
    view! {
        <p class="card-lead">
            <span data-testid="two-factor-status">"Off"</span>
            " · Add a code from an authenticator app to your password, so a stolen password alone cannot sign in."
        </p>
        {match status.enrolment {
            Some(_) => {
                view! {
                    <div class="banner banner-warning" data-testid="two-factor-pending">
                        <p>"A setup is waiting for the first code from your app."</p>
                        <div class="actions">
                            <a class="button button-small" href="/account/two-factor">"Continue setup"</a>
                            <ActionForm action=cancel attr:class="inline-form">
                                <button type="submit" class="button button-small button-quiet">
                                    "Cancel setup"
                                </button>
                            </ActionForm>
                        </div>
                    </div>
                }
                    .into_any()
            }
            None => {
                view! {
                    <p>
                        <a class="button" href="/account/two-factor" data-testid="set-up-two-factor">
                            "Set up two-factor authentication"
                        </a>
                    </p>
                }
                    .into_any()
            }
        }}
    }
        .into_any()
}

#[component]
fn Enabled(codes_left: u64) -> impl IntoView {
    let codes = match codes_left {
        1 => "1 recovery code left".to_string(),
        n => format!("{n} recovery codes left"),
    };
    view! {
        <p class="card-lead">
            <strong data-testid="two-factor-status">"On"</strong>
            " · Signing in asks for a code from your authenticator app after your password. "
            <span data-testid="recovery-codes-left">{codes}</span>
            "."
        </p>
        <Show when=move || codes_left <= FEW_CODES_LEFT>
            <p class="banner banner-warning">
                "You are running out of recovery codes. Make new ones below, and keep them safe."
            </p>
        </Show>
        <RegenerateCodes error={posted_error::<RegenerateRecoveryCodes>()}/>
        <TurnOff error={posted_error::<DisableTwoFactor>()}/>
    }
}

#[island]
fn RegenerateCodes(error: Option<AppError>) -> impl IntoView {
    let action = ServerAction::<RegenerateRecoveryCodes>::new();
    let server_error = action_error(action, error);
    let fields = FormFields::new(&["password"], server_error, |form| {
        PasswordConfirmForm {
            password: form.get("password").into(),
        }
        .check()
    });
    let open = move || server_error.get().is_some();
    view! {
        <details class="subsection" open=open>
            <summary>"Make new recovery codes"</summary>
            <p class="muted">"The codes you have now stop working. Your other devices are signed out."</p>
            <FormBanner error=server_error/>
            <ActionForm action=action attr:novalidate=true attr:class="form">
                <Field
                    form=fields
                    name="password"
                    id="regenerate-codes-password"
                    label="Current password"
                    kind="password"
                    autocomplete="current-password"
                />
                <SubmitButton form=fields label="Make new codes" busy_label="Making codes…" pending=action.pending()/>
            </ActionForm>
        </details>
    }
}

#[island]
fn TurnOff(error: Option<AppError>) -> impl IntoView {
    let action = ServerAction::<DisableTwoFactor>::new();
    let server_error = action_error(action, error);
    let fields = FormFields::new(&["password", "code"], server_error, |form| {
        DisableTwoFactorForm {
            password: form.get("password").into(),
            code: form.get("code"),
        }
        .check()
        .map(|_| ())
    });
    let open = move || server_error.get().is_some();
    view! {
        <details class="subsection" open=open>
            <summary>"Turn off two-factor authentication"</summary>
            <p class="muted">
                "Your password alone will sign you in again. Your other devices are signed out."
            </p>
            <FormBanner error=server_error/>
            <ActionForm action=action attr:novalidate=true attr:class="form">
                <Field
                    form=fields
                    name="password"
                    id="disable-two-factor-password"
                    label="Current password"
                    kind="password"
                    autocomplete="current-password"
                />
                <Field
                    form=fields
                    name="code"
                    id="disable-two-factor-code"
                    label="Code from your app, or a recovery code"
                    autocomplete="one-time-code"
                    maxlength=32
                />
                <SubmitButton form=fields label="Turn off" busy_label="Turning off…" pending=action.pending()/>
            </ActionForm>
        </details>
    }
}
