//! Content-Security-Policy.
//!
//! Server-rendered pages get a policy built around the per-response nonce that leptos_axum
//! creates and the page's hydration scripts carry (`page_scripts`): only scripts carrying that nonce run,
//! and `'strict-dynamic'` lets them load the wasm bundle's JS glue. `'wasm-unsafe-eval'` allows
//! compiling WebAssembly, nothing more; there is no `'unsafe-inline'` for scripts.
//!
//! Every other response (assets, JSON, errors made by layers) gets `FALLBACK_POLICY` from the
//! header layer, which allows nothing to run at all.

use http::header::CONTENT_SECURITY_POLICY;
use http::HeaderValue;
use leptos::nonce::use_nonce;
use leptos::prelude::use_context;
use leptos_axum::ResponseOptions;

use crate::server::state::AppState;

/// For responses that are not server-rendered pages.
pub const FALLBACK_POLICY: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The policy for one server-rendered page.
pub fn page_policy(nonce: &str, live_reload_port: Option<u16>) -> String {
    // `cargo leptos watch` only: its live-reload script (nonce'd like the rest) opens a
    // websocket to the reload port.
    let connect = match live_reload_port {
        Some(port) => format!("'self' ws://127.0.0.1:{port} ws://localhost:{port}"),
        None => "'self'".to_string(),
    };
    format!(
        "default-src 'self'; \
         script-src 'nonce-{nonce}' 'strict-dynamic' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data:; font-src 'self'; \
         connect-src {connect}; \
         object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    )
}

/// The nonce a page policy names (`'nonce-…'` in `script-src`), if it names one.
pub fn nonce_in(policy: &str) -> Option<&str> {
    let nonce = policy.split("'nonce-").nth(1)?.split('\'').next()?;
    (!nonce.is_empty()).then_some(nonce)
}

/// Called while the shell renders: sets the page's policy with this response's nonce.
pub fn set_page_policy() {
    let (Some(nonce), Some(response)) = (use_nonce(), use_context::<ResponseOptions>()) else {
        return;
    };
    let live_reload = use_context::<AppState>().and_then(|s| s.settings.http.dev_live_reload_port);
    if let Ok(value) = HeaderValue::from_str(&page_policy(&nonce, live_reload)) {
        response.insert_header(CONTENT_SECURITY_POLICY, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_policy_pins_scripts_to_the_nonce() {
        let policy = page_policy("abc123", None);
        assert!(policy.contains("script-src 'nonce-abc123' 'strict-dynamic' 'wasm-unsafe-eval';"));
        for directive in [
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            "form-action 'self'",
        ] {
            assert!(policy.contains(directive), "{directive}");
        }
        assert!(!policy.contains("unsafe-inline"));
        assert!(!policy.contains("ws://"));
    }

    #[test]
    fn the_nonce_is_read_back_from_the_policy() {
        assert_eq!(nonce_in(&page_policy("abc-123_x", None)), Some("abc-123_x"));
        assert_eq!(nonce_in(FALLBACK_POLICY), None);
        assert_eq!(nonce_in("script-src 'nonce-'"), None);
    }

    #[test]
    fn live_reload_adds_only_the_websocket() {
        let policy = page_policy("n", Some(3001));
        assert!(policy.contains("connect-src 'self' ws://127.0.0.1:3001 ws://localhost:3001;"));
    }
}
