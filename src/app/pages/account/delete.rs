//! Delete account: behind a disclosure, the password and the username typed again.

use leptos::prelude::*;

use crate::app::auth::use_auth;
use crate::app::components::{action_error, Field, FormBanner, FormFields, SubmitButton};
use crate::model::DeleteAccountForm;

#[component]
pub fn DeleteAccountSection(username: String) -> impl IntoView {
    let action = use_auth().delete_account;
    let fields = FormFields::new(&["password", "confirm_username"]);
    let username = StoredValue::new(username);
    let client_errors = Memo::new(move |_| {
        DeleteAccountForm {
            password: fields.get("password").into(),
            confirm_username: fields.get("confirm_username"),
        }
        .check(&username.read_value())
        .err()
        .unwrap_or_default()
    });
    let server_error = action_error(action);
    let message =
        move |name: &'static str| fields.message_signal(name, client_errors, server_error);
    let on_submit = fields.on_submit(client_errors);
    // Open when the last attempt failed, so the no-JS error page shows the form and message.
    let open = move || server_error.get().is_some();

    view! {
        <section class="card card-danger" aria-labelledby="delete-title">
            <details open=open>
                <summary>
                    <h2 id="delete-title">"Delete account"</h2>
                </summary>
                <p class="card-lead">
                    "This signs you out everywhere, revokes your API keys and erases your profile and activity log. "
                    "It cannot be undone. A record that an account was deleted, with no personal details, is kept."
                </p>
                <FormBanner error=server_error/>
                <ActionForm action=action attr:novalidate=true attr:class="form">
                    <Field
                        label="Your password"
                        name="password"
                        kind="password"
                        autocomplete="current-password"
                        value=fields.value("password")
                        error=message("password")
                        on_blur=move || fields.touch("password")
                    />
                    <Field
                        label=format!("Type your username ({}) to confirm", username.read_value())
                        name="confirm_username"
                        autocomplete="off"
                        value=fields.value("confirm_username")
                        error=message("confirm_username")
                        on_blur=move || fields.touch("confirm_username")
                    />
                    <SubmitButton
                        label="Delete my account"
                        busy_label="Deleting…"
                        pending=action.pending()
                        on_click=on_submit
                    />
                </ActionForm>
            </details>
        </section>
    }
}
