//! Cross-site request forgery defence, with or without JavaScript.
//!
//! Browsers label every request with where it came from: `Sec-Fetch-Site` (Fetch Metadata)
//! and, on POSTs, `Origin`. A state-changing request (anything but GET/HEAD/OPTIONS) is
//! refused with 403 unless:
//! - `Sec-Fetch-Site` is `same-origin` or `none` (typed in the address bar), or
//! - without Fetch Metadata, `Origin` is this site (same host) or a configured allowed origin, or
//! - it carries neither header: then it did not come from a browser (curl, a server), and
//!   forging a request needs a victim's browser.
//!
//! This is the algorithm of Go's `net/http.CrossOriginProtection`, adopted because it needs
//! no token, so plain HTML forms work unchanged. It covers every cookie-authenticated path
//! (server functions, logout, the no-JS forms) and sign-in itself (login CSRF). Bearer-token
//! JSON API calls carry no ambient credential, so they are unaffected in practice.
//!
//! Written here rather than taken from a crate: the ones found either need a token in every
//! form (breaking the no-JS forms' simplicity) or do not fall back to `Origin`.

use axum::extract::{Request, State};
use axum::http::header::{HOST, ORIGIN};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::model::AppError;
use crate::server::http::error_page::error_response;
use crate::server::state::AppState;

pub async fn refuse_cross_site(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if cross_site_allowed(
        request.method(),
        request.headers(),
        &state.settings.http.allowed_origins,
    ) {
        next.run(request).await
    } else {
        tracing::warn!(
            event = "csrf.refused",
            method = %request.method(),
            path = request.uri().path(),
            origin = request.headers().get(ORIGIN).and_then(|v| v.to_str().ok()),
            "cross-site request refused"
        );
        error_response(&request, AppError::Forbidden).into_response()
    }
}

/// The decision alone, from the parts of a request it reads (public for the fuzz target in
/// `fuzz/checks/cross_site.rs`). A header that is present but not visible ASCII counts as
/// present and matching nothing: only a request with no such header at all is a non-browser's.
pub fn cross_site_allowed(
    method: &Method,
    headers: &HeaderMap,
    allowed_origins: &[String],
) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
    let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap_or_default());
    let origin = header(ORIGIN.as_str());
    let origin_allowed =
        || origin.is_some_and(|o| allowed_origins.iter().any(|a| a.eq_ignore_ascii_case(o)));
    match header("sec-fetch-site") {
        Some("same-origin" | "none") => true,
        Some(_) => origin_allowed(),
        None => match origin {
            None => true,
            Some(origin) => same_host(origin, header(HOST.as_str())) || origin_allowed(),
        },
    }
}

/// `Origin: http://host:port` against `Host: host:port`.
fn same_host(origin: &str, host: Option<&str>) -> bool {
    let origin_host = origin.split_once("://").map(|(_, rest)| rest);
    matches!((origin_host, host), (Some(o), Some(h)) if !h.is_empty() && o.eq_ignore_ascii_case(h))
}

#[cfg(test)]
mod tests {
    use axum::body::Body;

    use super::*;

    fn is_allowed(request: &Request, allowed_origins: &[String]) -> bool {
        cross_site_allowed(request.method(), request.headers(), allowed_origins)
    }

    fn post(headers: &[(&str, &str)]) -> Request {
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri("/rpc/logout")
            .header("host", "app.example:3000");
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        builder.body(Body::empty()).unwrap()
    }

    #[test]
    fn fetch_metadata_decides_when_present() {
        assert!(is_allowed(&post(&[("sec-fetch-site", "same-origin")]), &[]));
        assert!(is_allowed(&post(&[("sec-fetch-site", "none")]), &[]));
        assert!(!is_allowed(
            &post(&[
                ("sec-fetch-site", "cross-site"),
                ("origin", "https://evil.example")
            ]),
            &[]
        ));
        assert!(!is_allowed(
            &post(&[
                ("sec-fetch-site", "same-site"),
                ("origin", "https://sub.app.example")
            ]),
            &[]
        ));
    }

    #[test]
    fn an_allowed_origin_may_post_cross_site() {
        let allowed = ["https://admin.example".to_string()];
        assert!(is_allowed(
            &post(&[
                ("sec-fetch-site", "cross-site"),
                ("origin", "https://admin.example")
            ]),
            &allowed
        ));
        assert!(!is_allowed(
            &post(&[("sec-fetch-site", "cross-site"), ("origin", "null")]),
            &allowed
        ));
    }

    #[test]
    fn without_fetch_metadata_origin_must_match_the_host() {
        assert!(is_allowed(
            &post(&[("origin", "http://app.example:3000")]),
            &[]
        ));
        assert!(!is_allowed(
            &post(&[("origin", "http://evil.example")]),
            &[]
        ));
        assert!(!is_allowed(&post(&[("origin", "null")]), &[]));
    }

    #[test]
    fn non_browser_clients_and_safe_methods_pass() {
        assert!(is_allowed(&post(&[]), &[]));
        let get = Request::builder()
            .uri("/")
            .header("sec-fetch-site", "cross-site")
            .body(Body::empty())
            .unwrap();
        assert!(is_allowed(&get, &[]));
    }
}
