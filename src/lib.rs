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
}
