//! The signed-in state shared by every page: the server actions and the current user.

use leptos::prelude::*;

use crate::api::{get_current_user, Logout, LogoutEverywhere, ResendVerification};
use crate::model::{AppError, PublicUser};

/// Who is signed in, and the forms every page may show around its content. The pages are
/// rendered on the server only (their forms are islands, or plain forms), so nothing here
/// changes within a page: every form ends in a page load.
#[derive(Clone, Copy)]
pub struct Auth {
    pub logout: ServerAction<Logout>,
    pub logout_everywhere: ServerAction<LogoutEverywhere>,
    pub resend_verification: ServerAction<ResendVerification>,
    pub user: Resource<Result<Option<PublicUser>, AppError>>,
}

pub fn provide_auth() {
    // Blocking: the server waits for it before sending the page, so the first HTML already
    // knows who is signed in (and protected pages can redirect with a real 302).
    let user = Resource::new_blocking(|| (), |_| get_current_user());
    provide_context(Auth {
        logout: ServerAction::new(),
        logout_everywhere: ServerAction::new(),
        resend_verification: ServerAction::new(),
        user,
    });
}

pub fn use_auth() -> Auth {
    expect_context::<Auth>()
}

/// Sign-in state in the header: links when signed out, account and sign-out when signed in.
#[component]
pub fn AuthNav() -> impl IntoView {
    let auth = use_auth();
    view! {
        <nav class="site-nav" aria-label="Account">
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match auth.user.await {
                        Ok(Some(user)) => {
                            view! {
                                <span class="nav-user">{user.username}</span>
                                <a href="/account">"Account"</a>
                                <SignOutButton/>
                            }
                                .into_any()
                        }
                        _ => {
                            view! {
                                <a href="/login">"Sign in"</a>
                                <a class="button button-small" href="/register">"Create account"</a>
                            }
                                .into_any()
                        }
                    }
                })}
            </Transition>
        </nav>
    }
}

/// Signing out changes state, so it is a POST form (a plain one: the server answers with the
/// home page).
#[component]
pub fn SignOutButton() -> impl IntoView {
    let logout = use_auth().logout;
    view! {
        <ActionForm action=logout attr:class="inline-form">
            <button type="submit" class="button button-small button-quiet">"Sign out"</button>
        </ActionForm>
    }
}
