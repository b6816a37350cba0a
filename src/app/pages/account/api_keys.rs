//! The API keys section of `/account`: create (the key is shown once), list, revoke.
//! Creating a key needs JavaScript: the one-time secret comes back in the answer, and a
//! plain form post would lose it in the redirect. It also needs the current password (a key
//! outlives the session), and expires after 90 days unless another choice, "never" included,
//! is made.

use leptos::prelude::*;

use crate::api::{CreateApiKey, RevokeApiKey};
use crate::app::components::{action_error, loaded, posted_error, Field, FormBanner, FormFields};
use crate::model::api_key::{ApiKeyView, KeyExpiry, MAX_KEY_NAME_CHARS, NEVER_EXPIRES};
use crate::model::user::format_date;
use crate::model::{AppError, CreateApiKeyForm};

#[component]
pub fn ApiKeysSection(keys: Result<Vec<ApiKeyView>, AppError>) -> impl IntoView {
    view! {
        <section class="card" id="api-keys" aria-labelledby="keys-title">
            <h2 id="keys-title">"API keys"</h2>
            <p class="card-lead">
                "Personal keys let scripts read your profile through the API ("
                <code>"Authorization: Bearer gk_…"</code>
                "). A key cannot sign in here or manage other keys. Creating one asks for your password."
            </p>
            <p class="muted card-note" data-testid="keys-survive-sign-out">
                "Keys are for unattended scripts: they keep working when you sign out everywhere "
                "or change your password. To stop a key, revoke it here."
            </p>
            {loaded(keys, |keys| view! { <ApiKeys keys error={posted_error::<CreateApiKey>()}/> })}
        </section>
    }
}

/// The form and the list, together: a new key joins the list in the page, since the page
/// cannot be loaded again without losing the one sight of its secret.
#[island]
fn ApiKeys(keys: Vec<ApiKeyView>, error: Option<AppError>) -> impl IntoView {
    let create = ServerAction::<CreateApiKey>::new();
    let revoke = ServerAction::<RevokeApiKey>::new();
    let keys = RwSignal::new(keys);
    let created = move || create.value().get().and_then(Result::ok);
    let create_error = action_error(create, error);
    // The name and the password's presence are checked by the same
    // `CreateApiKeyForm::check` the server runs. The expiry is picked from a list of valid
    // choices, so the browser has nothing to check there (the server still does).
    let fields = FormFields::new(&["name", "password"], create_error, |form| {
        CreateApiKeyForm {
            name: form.get("name"),
            expires_in_days: KeyExpiry::default(),
            password: form.get("password").into(),
        }
        .check()
    });
    // Once the key is made, the password does not stay in the page, and the key is listed.
    Effect::new(move |_| {
        if let Some(Ok(made)) = create.value().get() {
            fields.reset();
            keys.update(|keys| keys.insert(0, made.key));
        }
    });

    view! {
        {move || {
            created()
                .map(|created| {
                    view! {
                        <div class="banner banner-success" role="status">
                            <p>"Copy your new key now. It will not be shown again."</p>
                            <label for="new-key-secret" class="visually-hidden">"New API key"</label>
                            <input
                                id="new-key-secret"
                                class="secret"
                                readonly
                                data-testid="new-api-key"
                                prop:value=created.secret.clone()
                                value=created.secret
                            />
                        </div>
                    }
                })
        }}
        <FormBanner error=create_error/>
        <ActionForm action=create attr:class="form form-inline">
            <Field
                form=fields
                name="name"
                label="Key name"
                autocomplete="off"
                id="key-name"
                maxlength=MAX_KEY_NAME_CHARS
            />
            <div class="field">
                <label for="key-expiry">"Expires"</label>
                // 90 days unless another choice is made: "never" is never the default.
                <select id="key-expiry" name="expires_in_days">
                    <option value="30">"in 30 days"</option>
                    <option value="90" selected>"in 90 days"</option>
                    <option value="365">"in a year"</option>
                    <option value=NEVER_EXPIRES>"never"</option>
                </select>
            </div>
            <Field
                form=fields
                name="password"
                label="Account password"
                kind="password"
                autocomplete="current-password"
                id="key-password"
            />
            <button
                type="submit"
                class="button button-primary"
                disabled=move || create.pending().get()
                on:click=fields.on_submit()
            >
                {move || if create.pending().get() { "Creating…" } else { "Create key" }}
            </button>
        </ActionForm>
        {move || {
            keys.with(|list| {
                if list.is_empty() {
                    view! { <p class="muted">"No keys yet."</p> }.into_any()
                } else {
                    view! {
                        <ul class="key-list" data-testid="api-key-list">
                            {list.iter().cloned().map(|key| view! { <KeyRow key revoke/> }).collect_view()}
                        </ul>
                    }
                        .into_any()
                }
            })
        }}
    }
}

#[component]
fn KeyRow(key: ApiKeyView, revoke: ServerAction<RevokeApiKey>) -> impl IntoView {
    let status = match (key.revoked_at, key.expires_at) {
        (Some(at), _) => format!("revoked {}", format_date(at)),
        (None, Some(at)) => format!("expires {}", format_date(at)),
        (None, None) => "never expires".to_string(),
    };
    let last_used = key
        .last_used_at
        .map(|t| format!("last used {}", format_date(t)))
        .unwrap_or_else(|| "never used".into());
    let active = key.revoked_at.is_none();
    view! {
        <li class="key-row" class:key-revoked=!active>
            <div>
                <strong>{key.name.clone()}</strong>
                <code class="key-prefix">{format!("gk_{}_…", key.prefix)}</code>
                <p class="muted">
                    {format!("{} · created {} · {} · {}", key.scopes, format_date(key.created_at), last_used, status)}
                </p>
            </div>
            {active
                .then(|| {
                    view! {
                        <ActionForm action=revoke attr:class="inline-form">
                            <input type="hidden" name="id" value=key.id.to_string()/>
                            <button type="submit" class="button button-small" aria-label=format!("Revoke {}", key.name)>
                                "Revoke"
                            </button>
                        </ActionForm>
                    }
                })}
        </li>
    }
}
