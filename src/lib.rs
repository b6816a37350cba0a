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

/// The browser entry point: hydrates the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
    mark_hydrated();
}

/// Says that the page is interactive: `<html data-hydrated>` and a `gatehouse:hydrated`
/// performance mark, which the time-to-interactive benchmark reads (end2end/bench/). Called
/// once `hydrate_body` returns: its resources were rendered on the server and travel in the
/// page, so every `Suspense` hydrates within that call (tachys polls each one once at once)
/// and the event handlers are in place.
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
