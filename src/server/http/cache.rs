//! Cache policy by what a response is.
//!
//! - `/pkg/*` files carry a content hash in their names (cargo-leptos `hash-files`), so a
//!   browser may keep them for a year without asking again. Under `cargo leptos watch` they do
//!   not (LEPTOS_HASH_FILES=false): each rebuild reuses the names, so the browser must revalidate.
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
const REVALIDATE: &str = "no-cache";

pub async fn set_cache_policy(request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    let mut response = next.run(request).await;
    let ok = response.status().is_success() || response.status().is_redirection();
    let value = if path.starts_with("/pkg/") && response.status().is_success() {
        if is_content_hashed(&path) {
            IMMUTABLE
        } else {
            REVALIDATE
        }
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

/// `gatehouse.<hash>.css`: the 22-character base64url MD5 that cargo-leptos `hash-files` puts
/// in a name.
pub fn is_content_hashed(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or_default();
    match name.rsplitn(3, '.').collect::<Vec<_>>()[..] {
        [_extension, hash, _stem] => {
            let base64url = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
            hash.len() == 22 && hash.bytes().all(base64url)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::is_content_hashed;

    #[test]
    fn only_cargo_leptos_hashed_names_count_as_hashed() {
        assert!(is_content_hashed(
            "/pkg/gatehouse.Zq3-_x0aB1cD2eF3gH4iJ5.css"
        ));
        assert!(!is_content_hashed("/pkg/gatehouse.css"));
        assert!(!is_content_hashed("/pkg/gatehouse_bg.wasm"));
        assert!(!is_content_hashed("/pkg/gatehouse.min.js"));
        assert!(!is_content_hashed("/pkg/Zq3-_x0aB1cD2eF3gH4iJ5.js"));
    }
}
