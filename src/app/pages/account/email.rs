//! The account's email address: whether it is confirmed, a change waiting for confirmation
//! (which can be cancelled), and the form to move to another address. The new address
//! becomes the sign-in address only when the link mailed to it is followed.

use leptos::prelude::*;

use crate::api::{CancelEmailChange, ChangeEmail};
use crate::app::components::{
    action_error, loaded, posted_error, Field, FormBanner, FormFields, SubmitButton,
};
use crate::model::{self, AppError, PublicUser};

#[component]
pub fn EmailSection(user: PublicUser, pending: Result<Option<String>, AppError>) -> impl IntoView {
    let status = if user.email_verified {
        "Confirmed"
    } else {
        "Not confirmed yet"
    };
    view! {
        <section class="card" aria-labelledby="email-title">
            <h2 id="email-title">"Email address"</h2>
            <p class="card-lead">
                <strong data-testid="account-email">{user.email.clone()}</strong>
                " · "
                <span data-testid="email-status">{status}</span>
            </p>
            {loaded(pending, |pending| pending.map(|address| view! { <PendingChange address/> }))}
            <ChangeEmailForm current=user.email error={posted_error::<ChangeEmail>()}/>
        </section>
    }
}

#[component]
fn PendingChange(address: String) -> impl IntoView {
    let cancel = ServerAction::<CancelEmailChange>::new();
    view! {
        <div class="banner banner-warning" data-testid="pending-email">
            <p>
                "Waiting for confirmation of " <strong>{address}</strong>
                ": open the link we sent there. Until then you sign in with your current address."
            </p>
            <ActionForm action=cancel attr:class="inline-form">
                <button type="submit" class="button button-small button-quiet">
                    "Cancel change"
                </button>
            </ActionForm>
        </div>
    }
}

#[island]
fn ChangeEmailForm(current: String, error: Option<AppError>) -> impl IntoView {
    let action = ServerAction::<ChangeEmail>::new();
    let current = Signal::stored(current);
    let server_error = action_error(action, error);
    let fields = FormFields::new(&["new_email", "password"], server_error, move |form| {
        model::ChangeEmailForm {
            new_email: form.get("new_email"),
            password: form.get("password").into(),
        }
        .check(&current.read())
    });
    // The password must not stay in the page after the request went through.
    Effect::new(move |_| {
        if matches!(action.value().get(), Some(Ok(()))) {
            fields.reset();
        }
    });
    view! {
        <FormBanner error=server_error/>
        <ActionForm action=action attr:novalidate=true attr:class="form">
            <Field
                form=fields
                name="new_email"
                label="New email"
                kind="email"
                autocomplete="email"
                hint="We send a link there; the change happens when you open it."
            />
            <Field
                form=fields
                name="password"
                id="change-email-password"
                label="Current password"
                kind="password"
                autocomplete="current-password"
                reveal=true
            />
            <SubmitButton form=fields label="Change email" busy_label="Sending link…" pending=action.pending()/>
        </ActionForm>
    }
}
