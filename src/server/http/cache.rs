//! Cache policy by what a response is.
//!
//! - `/pkg/*` files carry a content hash in their names (cargo-leptos `hash-files`), so a
//!   browser may keep them for a year without asking again.
//! - Everything else the app renders or answers (pages, server functions, API, errors) may
//!   hold personal data: `no-store`, so neither a shared cache nor the back button on a shared
//!   computer shows it to someone else.
//! - Other static files (favicon, robots.txt) get a short public lifetime.

use axum::extract::Request;
use axum::http::header::CACHE_CONTROL;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
pub const NO_STORE: &str = "no-store";
const SHORT: &str = "public, max-age=3600";

pub async fn set_cache_policy(request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    let mut response = next.run(request).await;
    let ok = response.status().is_success() || response.status().is_redirection();
    let value = if path.starts_with("/pkg/") && response.status().is_success() {
        IMMUTABLE
    } else if ok && matches!(path.as_str(), "/favicon.ico" | "/robots.txt") {
        SHORT
    } else {
        NO_STORE
    };
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static(value));
    response
}
