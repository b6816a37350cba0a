//! Delete account: behind a disclosure, the password and the username typed again.

use leptos::prelude::*;

use crate::api::DeleteAccount;
use crate::app::components::{
    action_error, posted_error, Field, FormBanner, FormFields, SubmitButton,
};
use crate::model::{AppError, DeleteAccountForm};

#[component]
pub fn DeleteAccountSection(username: String) -> impl IntoView {
    view! { <DeleteAccountCard username error={posted_error::<DeleteAccount>()}/> }
}

#[island]
fn DeleteAccountCard(username: String, error: Option<AppError>) -> impl IntoView {
    let action = ServerAction::<DeleteAccount>::new();
    let username = StoredValue::new(username);
    let server_error = action_error(action, error);
    let fields = FormFields::new(
        &["password", "confirm_username"],
        server_error,
        move |form| {
            DeleteAccountForm {
                password: form.get("password").into(),
                confirm_username: form.get("confirm_username"),
            }
            .check(&username.read_value())
        },
    );
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
                        form=fields
                        name="password"
                        label="Your password"
                        kind="password"
                        autocomplete="current-password"
                    />
                    <Field
                        form=fields
                        name="confirm_username"
                        label=format!("Type your username ({}) to confirm", username.read_value())
                        autocomplete="off"
                    />
                    <SubmitButton
                        form=fields
                        label="Delete my account"
                        busy_label="Deleting…"
                        pending=action.pending()
                    />
                </ActionForm>
            </details>
        </section>
    }
}
