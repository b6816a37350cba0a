//! `/verify-email`: the page a confirmation link opens (its token is in a cookie by now, see
//! `server::http::link_pages`). It says what the link will do and asks for a click: mail
//! scanners fetch links, so only the button's POST confirms anything.
//!
//! Without a link it offers a new one by address; after that request, "check your inbox",
//! the same page whether or not an account waits for confirmation.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::{email_confirmation, ConfirmEmail, RequestVerificationLink};
use crate::app::components::{
    action_error, posted_error, CheckInbox, DeadLink, Field, FormBanner, FormFields, LoadError,
    SubmitButton,
};
use crate::model::user::PendingConfirmation;
use crate::model::{AppError, EmailAddressForm};

#[component]
pub fn VerifyEmailPage() -> impl IntoView {
    let query = use_query_map();
    let sent = move || query.read().get("sent").is_some();
    view! {
        <Title text="Confirm your email address"/>
        <Show when=sent fallback=|| view! { <LinkState/> }>
            <CheckInbox lead="If an account with that address is waiting for confirmation, a new link is on its way. It works once, within 24 hours.">
                <p class="card-footer">
                    <a href="/login">"Back to sign in"</a>
                </p>
            </CheckInbox>
        </Show>
    }
}

/// What the link opened in this browser (if any) will do.
#[component]
fn LinkState() -> impl IntoView {
    let link = Resource::new_blocking(|| (), |_| email_confirmation());
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match link.await {
                    Ok(Some(PendingConfirmation::VerifyEmail { address })) => {
                        view! {
                            <ConfirmCard
                                title="Confirm your email address"
                                address
                                lead="as the email address of your Gatehouse account."
                            />
                        }
                            .into_any()
                    }
                    Ok(Some(PendingConfirmation::ChangeEmail { address })) => {
                        view! {
                            <ConfirmCard
                                title="Confirm your new email address"
                                address
                                lead="as the address you sign in with from now on. Your old address gets a message saying so."
                            />
                        }
                            .into_any()
                    }
                    Ok(None) => view! { <NewLinkCard/> }.into_any(),
                    Err(AppError::LinkInvalid) => {
                        view! {
                            <DeadLink>
                                <NewLinkForm/>
                            </DeadLink>
                        }
                            .into_any()
                    }
                    Err(error) => {
                        view! {
                            <section class="card">
                                <h1>"Confirm your email address"</h1>
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
fn ConfirmCard(title: &'static str, address: String, lead: &'static str) -> impl IntoView {
    // A form without an island: the button posts, and the server answers with a page.
    let action = ServerAction::<ConfirmEmail>::new();
    let server_error = Signal::stored(posted_error::<ConfirmEmail>());
    view! {
        <section class="card" aria-labelledby="confirm-title">
            <h1 id="confirm-title">{title}</h1>
            <p class="card-lead">"Confirm " <strong data-testid="confirm-address">{address}</strong> " " {lead}</p>
            <FormBanner error=server_error/>
            <ActionForm action=action attr:class="form">
                <button type="submit" class="button button-primary button-block">
                    "Confirm email address"
                </button>
            </ActionForm>
        </section>
    }
}

/// No link in this browser: a new one by address.
#[component]
fn NewLinkCard() -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="new-link-title">
            <h1 id="new-link-title">"Get a new confirmation link"</h1>
            <p class="card-lead">
                "Enter the address you signed up with. If its account is waiting for confirmation, we will send it a new link."
            </p>
            <NewLinkForm/>
        </section>
    }
}

#[component]
fn NewLinkForm() -> impl IntoView {
    view! { <NewLinkFields error={posted_error::<RequestVerificationLink>()}/> }
}

#[island]
fn NewLinkFields(error: Option<AppError>) -> impl IntoView {
    let action = ServerAction::<RequestVerificationLink>::new();
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
            <SubmitButton form=fields label="Email me a new link" busy_label="Sending…" pending=action.pending()/>
        </ActionForm>
    }
}
