//! Gatehouse: a secure sign-up / sign-in front door for Leptos + axum applications.
//!
//! - `model`: validation models and the client-facing error, shared with the browser.
//! - `app`: the Leptos UI (shell, routes, pages, components).
//! - `api`: `#[server]` functions, thin doors onto the services.
//! - `server`: server-only: configuration, start-up, auth services, storage, HTTP plumbing.

pub mod api;
pub mod app;
pub mod model;
#[cfg(feature = "ssr")]
pub mod server;

/// The browser entry point. The pages are rendered on the server and stay static HTML; only
/// their islands (`#[island]`: the forms with their shared validation, the passkey buttons, the
/// API-key card) ship as wasm. Leptos' island script calls this once the bundle has loaded,
/// then hydrates each `<leptos-island>` of the page by calling its exported function.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Set before any island's `ActionForm`, whose own default would win otherwise.
    let _ = leptos::server_fn::redirect::set_redirect_hook(app::reload_at);
    leptos::mount::hydrate_islands();
    // The island script walks the page right after this returns, island by island, each
    // hydrated synchronously between microtasks; a timeout runs after all of them.
    leptos::prelude::set_timeout(mark_hydrated, std::time::Duration::ZERO);
}

/// Says that the page is interactive: `<html data-hydrated>` and a `gatehouse:hydrated`
/// performance mark, which the time-to-interactive benchmark and the end-to-end tests read.
#[cfg(feature = "hydrate")]
fn mark_hydrated() {
    let Some(window) = web_sys::window() else {
        return;
    };
    if let Some(root) = window.document().and_then(|d| d.document_element()) {
        let _ = root.set_attribute("data-hydrated", "");
    }
    if let Some(performance) = window.performance() {
        let _ = performance.mark("gatehouse:hydrated");
    }
}
