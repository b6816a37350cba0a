//! `/forgot-password`: a reset link by mail. After the request, "check your inbox", the same
//! page whether or not an account has the address.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::RequestPasswordReset;
use crate::app::components::{
    action_error, posted_error, CheckInbox, Field, FormBanner, FormFields, SubmitButton,
};
use crate::model::{AppError, EmailAddressForm};

#[component]
pub fn ForgotPasswordPage() -> impl IntoView {
    let query = use_query_map();
    let sent = move || query.read().get("sent").is_some();
    view! {
        <Title text="Reset your password"/>
        <Show when=sent fallback=|| view! { <ForgotPasswordCard/> }>
            <CheckInbox lead="If an account uses that address, we have sent it a link to choose a new password. The link works once, for 30 minutes.">
                <p class="card-footer">
                    <a href="/login">"Back to sign in"</a>
                </p>
            </CheckInbox>
        </Show>
    }
}

#[component]
fn ForgotPasswordCard() -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="forgot-title">
            <h1 id="forgot-title">"Reset your password"</h1>
            <p class="card-lead">
                "Enter the email address of your account. We will send it a link to choose a new password."
            </p>
            <ForgotPasswordForm error={posted_error::<RequestPasswordReset>()}/>
            <p class="card-footer">"Remembered it? " <a href="/login">"Sign in"</a></p>
        </section>
    }
}

#[island]
fn ForgotPasswordForm(error: Option<AppError>) -> impl IntoView {
    let action = ServerAction::<RequestPasswordReset>::new();
    let server_error = action_error(action, error);
    let fields = FormFields::new(&["email"], server_error, |form| {
        EmailAddressForm {
            email: form.get("email"),
        }
        .check()
    });
    view! {
        <FormBanner error=server_error/>
        <ActionForm action=action attr:novalidate=true attr:class="form">
            <Field form=fields name="email" label="Email" kind="email" autocomplete="email"/>
            <SubmitButton form=fields label="Send reset link" busy_label="Sending…" pending=action.pending()/>
        </ActionForm>
    }
}
