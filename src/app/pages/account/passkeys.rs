//! The account's passkeys card: the passkeys (name, when added, when last used, synced or
//! not), renaming and removing them (plain forms, so they work without JavaScript), and adding
//! one (WebAuthn, which needs JavaScript: the card says so when it is off).

use leptos::ev::SubmitEvent;
use leptos::prelude::*;

use crate::api::{
    finish_passkey_registration, start_passkey_registration, RemovePasskey, RenamePasskey,
};
use crate::app::components::{loaded, posted_error, Field, FormFields, SubmitButton};
use crate::app::webauthn::{self, Failure};
use crate::model::passkey::{
    passkey_error, NewPasskeyForm, PasskeyNameForm, PasskeyStatus, PasskeyView, NAME_MAX_CHARS,
    UNSUPPORTED,
};
use crate::model::two_factor::PasswordConfirmForm;
use crate::model::user::format_date;
use crate::model::AppError;

#[component]
pub fn PasskeysSection(status: Result<PasskeyStatus, AppError>) -> impl IntoView {
    view! {
        <section class="card" id="passkeys" aria-labelledby="passkeys-title">
            <h2 id="passkeys-title">"Passkeys"</h2>
            <p class="card-lead">
                "Sign in with your fingerprint, face or screen lock instead of your password. "
                "A passkey works only on this site, so it cannot be phished."
            </p>
            {loaded(status, |status| view! { <StatusView status/> })}
        </section>
    }
}

#[component]
fn StatusView(status: PasskeyStatus) -> impl IntoView {
    let last = status.passkeys.len() == 1;
    // Renaming and removing end in a page load; a failure comes back in the URL.
    let list_error = posted_error::<RenamePasskey>()
        .or_else(posted_error::<RemovePasskey>)
        .map(|error| error.field("name").unwrap_or_else(|| error.to_string()));
    view! {
        <p class="field-error" role="alert" hidden=list_error.is_none()>
            {list_error.clone()}
        </p>
        {if status.passkeys.is_empty() {
            view! { <p class="muted" data-testid="no-passkeys">"You have no passkeys yet."</p> }.into_any()
        } else {
            view! {
                <ul class="passkey-list" data-testid="passkey-list">
                    {status
                        .passkeys
                        .into_iter()
                        .map(|passkey| view! { <PasskeyItem passkey last/> })
                        .collect_view()}
                </ul>
            }
                .into_any()
        }}
        {match status.unavailable {
            Some(reason) => {
                view! { <p class="banner banner-warning" data-testid="passkeys-unavailable">{reason}</p> }.into_any()
            }
            None => view! { <AddPasskey password_needed=status.password_needed/> }.into_any(),
        }}
    }
}

#[component]
fn PasskeyItem(passkey: PasskeyView, last: bool) -> impl IntoView {
    let remove = ServerAction::<RemovePasskey>::new();
    let used = match passkey.last_used_at {
        Some(at) => format!("last used {}", format_date(at)),
        None => "never used".to_string(),
    };
    let (rename_id, remove_id) = (passkey.id.clone(), passkey.id);
    view! {
        <li class="passkey-row" data-testid="passkey">
            <div>
                <strong data-testid="passkey-name">{passkey.name.clone()}</strong>
                {passkey.synced.then(|| view! { <span class="badge" title="Backed up to your other devices">"Synced"</span> })}
                <span class="muted">{format!(" · added {} · {used}", format_date(passkey.created_at))}</span>
            </div>
            <details class="subsection">
                <summary>"Rename"</summary>
                <RenameForm id=rename_id/>
            </details>
            <details class="subsection">
                <summary data-testid="remove-passkey">"Remove"</summary>
                <p class="muted">
                    {if last {
                        "This is your only passkey. Without it you sign in with your password (and your two-factor code, if it is on)."
                    } else {
                        "This passkey will no longer sign you in. Your other passkeys keep working."
                    }}
                </p>
                <ActionForm action=remove attr:class="inline-form">
                    <input type="hidden" name="id" value=remove_id/>
                    <button type="submit" class="button button-small button-danger">
                        "Remove this passkey"
                    </button>
                </ActionForm>
            </details>
        </li>
    }
}

/// A passkey's new name, checked as the server will; its errors come back with the page.
#[island]
fn RenameForm(id: String) -> impl IntoView {
    let rename = ServerAction::<RenamePasskey>::new();
    let fields = FormFields::new(&["name"], Signal::derive(|| None), |form| {
        PasskeyNameForm {
            name: form.get("name"),
        }
        .check()
        .map(|_| ())
    });
    let field_id = format!("passkey-name-{id}");
    view! {
        <ActionForm action=rename attr:novalidate=true attr:class="form">
            <input type="hidden" name="id" value=id/>
            <Field form=fields name="name" id=field_id label="New name" autocomplete="off" maxlength=NAME_MAX_CHARS/>
            <SubmitButton form=fields label="Rename" busy_label="Renaming…" pending=rename.pending()/>
        </ActionForm>
    }
}

/// Adding a passkey: WebAuthn needs JavaScript, so the form shows once the page has hydrated
/// (and the browser can make passkeys); before that, the card says what is needed.
#[island]
fn AddPasskey(password_needed: bool) -> impl IntoView {
    let hydrated = RwSignal::new(false);
    let supported = RwSignal::new(false);
    Effect::new(move |_| {
        supported.set(webauthn::supported());
        hydrated.set(true);
    });
    let error = RwSignal::new(None::<AppError>);
    let pending = RwSignal::new(false);
    let names: &[&'static str] = if password_needed {
        &["name", "password"]
    } else {
        &["name"]
    };
    let fields = FormFields::new(names, error.into(), move |form| {
        NewPasskeyForm {
            name: form.get("name"),
        }
        .check()?;
        if password_needed {
            PasswordConfirmForm {
                password: form.get("password").into(),
            }
            .check()?;
        }
        Ok(())
    });
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let name = fields.get("name");
        let password = password_needed.then(|| fields.get("password"));
        error.set(None);
        pending.set(true);
        leptos::task::spawn_local(async move {
            let outcome = add_passkey(name, password).await;
            // `try_`: the page may be gone by the time the dialog answers.
            if pending.try_set(false).is_some() {
                return;
            }
            match outcome {
                // The page again, with the new passkey in its list.
                Ok(true) => {
                    fields.reset();
                    crate::app::reload_at("/account?notice=passkey-added#passkeys");
                }
                Ok(false) => {}
                Err(failure) => {
                    error.try_set(Some(failure));
                }
            }
        });
    };
    let passkey_error = move || error.get().and_then(|e| e.field("passkey"));
    view! {
        <p class="muted" hidden=move || hydrated.get() data-testid="passkeys-need-js">
            "Adding a passkey needs JavaScript, which is off or still loading. Your password keeps working without it."
        </p>
        <p class="muted" hidden=move || !hydrated.get() || supported.get()>{UNSUPPORTED}</p>
        <form class="form" novalidate on:submit=submit hidden=move || !hydrated.get() || !supported.get()>
            <Field
                form=fields
                name="name"
                id="new-passkey-name"
                label="Name (optional)"
                autocomplete="off"
                hint="Like \u{201c}Work laptop\u{201d}. Left blank, it is named after this browser."
                maxlength=NAME_MAX_CHARS
            />
            {password_needed
                .then(|| {
                    view! {
                        <Field
                            form=fields
                            name="password"
                            id="new-passkey-password"
                            label="Current password"
                            kind="password"
                            autocomplete="current-password"
                        />
                    }
                })}
            <p class="field-error" role="alert" hidden=move || passkey_error().is_none() data-testid="passkey-error">
                {passkey_error}
            </p>
            <SubmitButton form=fields label="Add a passkey" busy_label="Waiting for your device…" pending=pending/>
        </form>
    }
}

/// The two requests of a registration around the browser's dialog. `Ok(false)`: the dialog
/// was replaced by another request (nothing to report).
async fn add_passkey(name: String, password: Option<String>) -> Result<bool, AppError> {
    let options = start_passkey_registration(password.map(Into::into)).await?;
    let credential = match webauthn::create(&options).await {
        Ok(credential) => credential,
        Err(Failure::Aborted) => return Ok(false),
        Err(Failure::Message(message)) => return Err(passkey_error(message)),
    };
    finish_passkey_registration(name, credential).await?;
    Ok(true)
}
