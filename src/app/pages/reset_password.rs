//! `/reset-password`: the page a reset link opens (its token is in a cookie by now, see
//! `server::http::link_pages`). A new password under the shared policy, with the strength
//! meter; then every session ends and the person signs in with it.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::{password_reset_link, ResetPassword};
use crate::app::components::{
    action_error, posted_error, DeadLink, FormBanner, FormFields, LoadError, NewPasswordFields,
    PasswordPolicyLoad, SubmitButton, WithPasswordPolicy,
};
use crate::model::user::ResetLink;
use crate::model::{self, AppError, PasswordPolicy};

#[component]
pub fn ResetPasswordPage() -> impl IntoView {
    let link = Resource::new_blocking(|| (), |_| password_reset_link());
    let policy = PasswordPolicyLoad::start();
    view! {
        <Title text="Choose a new password"/>
        <WithPasswordPolicy policy let:policy>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match link.await {
                        Ok(link) => view! { <ResetPasswordCard policy link/> }.into_any(),
                        Err(AppError::LinkInvalid) => {
                            view! {
                                <DeadLink>
                                    <p class="card-footer">
                                        <a href="/forgot-password">"Ask for a new link"</a>
                                    </p>
                                </DeadLink>
                            }
                                .into_any()
                        }
                        Err(error) => {
                            view! {
                                <section class="card">
                                    <h1>"Choose a new password"</h1>
                                    <LoadError error/>
                                </section>
                            }
                                .into_any()
                        }
                    }
                })}
            </Suspense>
        </WithPasswordPolicy>
    }
}

#[component]
fn ResetPasswordCard(policy: PasswordPolicy, link: ResetLink) -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="reset-title">
            <h1 id="reset-title">"Choose a new password"</h1>
            <p class="card-lead">
                "For the account " <strong>{link.username.clone()}</strong>
                ". Choosing a new password signs out every device and ends every API access token."
            </p>
            <ResetPasswordForm policy link error={posted_error::<ResetPassword>()}/>
        </section>
    }
}

#[island]
fn ResetPasswordForm(
    policy: PasswordPolicy,
    link: ResetLink,
    error: Option<AppError>,
) -> impl IntoView {
    let action = ServerAction::<ResetPassword>::new();
    let (username, email) = (Signal::stored(link.username), Signal::stored(link.email));
    let server_error = action_error(action, error);
    let names = ["new_password", "new_password_confirm"];
    let fields = FormFields::new(&names, server_error, move |form| {
        model::ResetPasswordForm {
            new_password: form.get("new_password").into(),
            new_password_confirm: form.get("new_password_confirm").into(),
        }
        .check(&policy, &username.read(), &email.read())
    });
    view! {
        <FormBanner error=server_error/>
        <ActionForm action=action attr:novalidate=true attr:class="form">
            // For password managers: the account the new password belongs to.
            <input type="text" autocomplete="username" value=username hidden=true readonly=true/>
            <NewPasswordFields
                form=fields
                policy
                name="new_password"
                label="New password"
                confirm_name="new_password_confirm"
                confirm_label="Confirm new password"
                username
                email
            />
            <SubmitButton form=fields label="Set new password" busy_label="Setting password…" pending=action.pending()/>
        </ActionForm>
    }
}
