//! The Leptos UI: the HTML shell, the router and the pages.

pub mod auth;
pub mod components;
#[cfg(feature = "ssr")]
pub mod form_pages;
pub mod pages;
pub mod webauthn;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Meta, MetaTags, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{path, SsrMode};

use self::auth::{provide_auth, AuthNav};
use self::components::VerifyEmailBanner;
use self::pages::{
    AccountPage, ForgotPasswordPage, HomePage, LoginPage, NotFound, RecoveryCodesPage,
    RegisterPage, ResetPasswordPage, TwoFactorSetupPage, TwoFactorSignInPage, VerifyEmailPage,
};

/// The document around the app. Server-only in practice: it is rendered once per page
/// request and never hydrated. (The server sets the page's CSP around it, and hands it the
/// stylesheet's name, content hash included, and the hydration scripts carrying the page's
/// CSP nonce: see `server::startup::page_shell`.) The stylesheet's `id="leptos"` is how
/// `cargo leptos watch` finds the link to swap in a new stylesheet.
pub fn shell(
    options: leptos::config::LeptosOptions,
    stylesheet: String,
    hydration_scripts: impl IntoView + 'static,
) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="icon" href="/favicon.ico" sizes="any"/>
                <link rel="stylesheet" id="leptos" href=stylesheet/>
                <AutoReload options/>
                {hydration_scripts}
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// A full page load of `target`: where a server function sends the browser once it
/// succeeded (the redirect hook set in `hydrate`), and where the passkey card goes after adding
/// one. A full load, since the page around the islands is the server's to render (the header,
/// the notice, the lists). Assigning an address that differs from the current one only after
/// `#` merely scrolls, so the page is reloaded then (renaming a passkey twice lands on the
/// same address twice).
pub fn reload_at(target: &str) {
    #[cfg(feature = "hydrate")]
    {
        let location = window().location();
        let here = format!(
            "{}{}",
            location.pathname().unwrap_or_default(),
            location.search().unwrap_or_default()
        );
        let _ = location.assign(target);
        if target.split('#').next() == Some(here.as_str()) {
            let _ = location.reload();
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = target;
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();

    // Async: each page is rendered completely on the server before it is sent, so a page is
    // whole without JavaScript and `/account` can still answer with a redirect.
    view! {
        <Title formatter=|page: String| format!("{page} · Gatehouse")/>
        <Meta name="description" content="Sign up and sign in securely."/>
        <Router>
            <Layout/>
        </Router>
    }
}

/// Everything inside the router: the header and the pages.
#[component]
fn Layout() -> impl IntoView {
    provide_auth();
    view! {
            <a class="skip-link" href="#main">"Skip to content"</a>
            <header class="site-header">
                <a class="brand" href="/">
                    <svg class="brand-mark" viewBox="0 0 24 24" width="24" height="24" aria-hidden="true">
                        <path
                            fill="currentColor"
                            d="M3 21V7l3-3 3 3V5h6v2l3-3 3 3v14h-7v-5a2 2 0 0 0-4 0v5H3Z"
                        />
                    </svg>
                    "Gatehouse"
                </a>
                <AuthNav/>
            </header>
            <main id="main" class="site-main">
                <VerifyEmailBanner/>
                <Routes fallback=NotFound>
                    <Route path=path!("/") view=HomePage ssr=SsrMode::Async/>
                    <Route path=path!("/register") view=RegisterPage ssr=SsrMode::Async/>
                    <Route path=path!("/login") view=LoginPage ssr=SsrMode::Async/>
                    <Route path=path!("/login/two-factor") view=TwoFactorSignInPage ssr=SsrMode::Async/>
                    <Route path=path!("/account") view=AccountPage ssr=SsrMode::Async/>
                    <Route path=path!("/account/two-factor") view=TwoFactorSetupPage ssr=SsrMode::Async/>
                    <Route path=path!("/account/recovery-codes") view=RecoveryCodesPage ssr=SsrMode::Async/>
                    <Route path=path!("/forgot-password") view=ForgotPasswordPage ssr=SsrMode::Async/>
                    <Route path=path!("/reset-password") view=ResetPasswordPage ssr=SsrMode::Async/>
                    <Route path=path!("/verify-email") view=VerifyEmailPage ssr=SsrMode::Async/>
                </Routes>
            </main>
    }
}
