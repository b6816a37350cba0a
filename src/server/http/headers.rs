//! Security headers on every response: pages, assets, JSON, errors made by layers.
//!
//! `overriding` for headers with one right value everywhere; `if_not_present` for the CSP,
//! which server-rendered pages set themselves (with their nonce) and everything else takes
//! from here.

use axum::http::header::{
    CONTENT_SECURITY_POLICY, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS, X_XSS_PROTECTION,
};
use axum::http::{HeaderName, HeaderValue};
use axum::Router;
use tower_http::set_header::SetResponseHeaderLayer;

use super::csp::FALLBACK_POLICY;

/// Two years, with sub-domains: past the one year browsers' preload lists ask for.
pub const HSTS_VALUE: &str = "max-age=63072000; includeSubDomains";

pub fn add_security_headers(router: Router, hsts: bool) -> Router {
    let fixed = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value))
    };
    let router = router
        // Never guess a content type: a user-supplied text must not be run as script.
        .layer(fixed(X_CONTENT_TYPE_OPTIONS, "nosniff"))
        // Full URL to our own pages (the no-JS forms return to it), nothing to other sites.
        // Only where the response has none: the pages behind mailed links send `no-referrer`
        // (`link_pages`).
        .layer(SetResponseHeaderLayer::if_not_present(
            REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        // Old browsers without CSP frame-ancestors: no framing (clickjacking).
        .layer(fixed(X_FRAME_OPTIONS, "DENY"))
        // The legacy XSS auditor is itself exploitable; modern advice is to switch it off.
        .layer(fixed(X_XSS_PROTECTION, "0"))
        .layer(fixed(
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ))
        .layer(fixed(
            HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(FALLBACK_POLICY),
        ));
    if hsts {
        router.layer(fixed(STRICT_TRANSPORT_SECURITY, HSTS_VALUE))
    } else {
        router
    }
}
