//! The signed-in state shared by every page: the server actions and the current user.

use leptos::prelude::*;

use crate::api::{
    get_current_user, ConfirmEmail, DeleteAccount, Login, Logout, LogoutEverywhere, Register,
    ResendVerification, ResetPassword, TwoFactorSignIn,
};
use crate::model::{AppError, PublicUser};

#[derive(Clone, Copy)]
pub struct Auth {
    pub register: ServerAction<Register>,
    pub login: ServerAction<Login>,
    /// The code step after the password, for an account with two-factor on.
    pub two_factor_sign_in: ServerAction<TwoFactorSignIn>,
    pub logout: ServerAction<Logout>,
    pub logout_everywhere: ServerAction<LogoutEverywhere>,
    pub delete_account: ServerAction<DeleteAccount>,
    /// Following a confirmation link may sign in (verification required) or confirm the
    /// signed-in account's address: the banner and the header follow.
    pub confirm_email: ServerAction<ConfirmEmail>,
    /// A reset ends every session, this browser's included.
    pub reset_password: ServerAction<ResetPassword>,
    pub resend_verification: ServerAction<ResendVerification>,
    /// Re-fetched whenever one of the actions completes, so the header and pages follow.
    pub user: Resource<Result<Option<PublicUser>, AppError>>,
}

pub fn provide_auth() {
    let register = ServerAction::<Register>::new();
    let login = ServerAction::<Login>::new();
    let two_factor_sign_in = ServerAction::<TwoFactorSignIn>::new();
    let logout = ServerAction::<Logout>::new();
    let logout_everywhere = ServerAction::<LogoutEverywhere>::new();
    let delete_account = ServerAction::<DeleteAccount>::new();
    let confirm_email = ServerAction::<ConfirmEmail>::new();
    let reset_password = ServerAction::<ResetPassword>::new();
    let resend_verification = ServerAction::<ResendVerification>::new();
    // Blocking: the server waits for it before sending the page, so the first HTML already
    // knows who is signed in (and protected pages can redirect with a real 302).
    let user = Resource::new_blocking(
        move || {
            (
                register.version().get(),
                login.version().get(),
                two_factor_sign_in.version().get(),
                logout.version().get(),
                logout_everywhere.version().get(),
                delete_account.version().get(),
                confirm_email.version().get(),
                reset_password.version().get(),
            )
        },
        |_| get_current_user(),
    );
    provide_context(Auth {
        register,
        login,
        two_factor_sign_in,
        logout,
        logout_everywhere,
        delete_account,
        confirm_email,
        reset_password,
        resend_verification,
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

/// Signing out changes state, so it is a POST form (works without JavaScript too).
#[component]
pub fn SignOutButton() -> impl IntoView {
    let logout = use_auth().logout;
    let pending = logout.pending();
    view! {
        <ActionForm action=logout attr:class="inline-form">
            <button type="submit" class="button button-small button-quiet" disabled=pending aria-busy=move || pending.get().to_string()>
                {move || if pending.get() { "Signing out…" } else { "Sign out" }}
            </button>
        </ActionForm>
    }
}
