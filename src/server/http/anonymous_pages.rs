//! The pages every first-time visitor sees, rendered once per process instead of once per visit.
//!
//! A page render is most of a page request's cost, and nearly all of it is the framework's
//! (`docs/benchmarks.md`: Gatehouse's own code is 1 % of `/login`'s profile). But a request
//! with no cookie and no query string cannot be anyone's: `/`, `/login`, `/register` and
//! `/forgot-password` render to the same bytes for every such request, except for the
//! Content-Security-Policy nonce. So the first such render of each is kept, cut at its
//! nonce, and later ones are answered from it with a fresh nonce, in the page and in its
//! policy alike: a nonce is still never sent twice.
//!
//! Why a signed-in or returning visitor never gets a copy, and a copy never holds anything
//! personal:
//! - only `GET`s without a `Cookie` header and without a query string are answered from a
//!   copy or can make one; a session, a pending two-factor step, a mailed link's token or a
//!   signed form error all travel in a cookie or in the query;
//! - only the pages listed in `PAGES` are kept, and each of them renders nothing from the
//!   request beyond those two (`/reset-password` and `/verify-email` read their link's
//!   cookie, `/login/two-factor` its pending step, `/account*` the session: none is listed);
//! - only a `200` whose page carries a nonce and that sets no cookie is kept.
//!
//! Every layer outside this one (request id, security headers, caching policy, compression,
//! rate limits, metrics) still runs for every request. A copy lives as long as the process:
//! the pages change only with a deployment (code and settings are read at start-up).
//! (Written here rather than taken from a caching crate: none splices a per-response nonce
//! into a cached body, and a page without a fresh nonce would break the CSP.)

use std::sync::{Arc, OnceLock};

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_SECURITY_POLICY, COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use leptos::nonce::Nonce;

/// The pages whose signed-out render depends on nothing in a cookie-less, query-less request.
pub const PAGES: [&str; 4] = ["/", "/login", "/register", "/forgot-password"];

/// A page's HTML is a few KB; anything this large is not one of these pages.
const MAX_PAGE_BYTES: usize = 1 << 20;

/// The kept copies, one slot per page of `PAGES`.
#[derive(Default)]
pub struct AnonymousPages {
    slots: [OnceLock<PageCopy>; PAGES.len()],
}

impl AnonymousPages {
    /// The slot for `request`, when it is one that a copy may answer.
    fn slot(&self, request: &Request) -> Option<&OnceLock<PageCopy>> {
        if request.method() != Method::GET
            || request.uri().query().is_some()
            || request.headers().contains_key(COOKIE)
        {
            return None;
        }
        let index = PAGES.iter().position(|p| *p == request.uri().path())?;
        Some(&self.slots[index])
    }
}

/// Answers a visitor with no cookie and no query from the page's copy, making it first.
pub async fn serve(
    State(pages): State<Arc<AnonymousPages>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(slot) = pages.slot(&request) else {
        return next.run(request).await;
    };
    if let Some(copy) = slot.get() {
        return copy.respond(&Nonce::new());
    }
    let response = next.run(request).await;
    let Some(nonce) = page_nonce(&response) else {
        return response;
    };
    let (parts, body) = response.into_parts();
    let Ok(html) = to_bytes(body, MAX_PAGE_BYTES).await else {
        tracing::error!("a page's body could not be read");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let copy = PageCopy::new(&parts.headers, &html, &nonce);
    // This response already has its own fresh nonce: send it as rendered. Two first requests
    // may both render; the copy kept is whichever was first, and both are the same page.
    let _ = slot.set(copy);
    Response::from_parts(parts, Body::from(html))
}

/// The nonce of a rendered page that may be kept: a `200` setting no cookie, with a policy
/// that names its nonce.
fn page_nonce(response: &Response) -> Option<String> {
    if response.status() != StatusCode::OK || response.headers().contains_key(SET_COOKIE) {
        return None;
    }
    let policy = response
        .headers()
        .get(CONTENT_SECURITY_POLICY)?
        .to_str()
        .ok()?;
    let nonce = policy.split("'nonce-").nth(1)?.split('\'').next()?;
    (!nonce.is_empty()).then(|| nonce.to_string())
}

/// One rendered page, its body and its policy cut wherever the render's nonce stood.
struct PageCopy {
    headers: HeaderMap,
    policy: Vec<String>,
    body: Vec<Bytes>,
}

impl PageCopy {
    fn new(headers: &HeaderMap, html: &Bytes, nonce: &str) -> Self {
        let policy = headers
            .get(CONTENT_SECURITY_POLICY)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .split(nonce)
            .map(str::to_string)
            .collect();
        let mut headers = headers.clone();
        headers.remove(CONTENT_SECURITY_POLICY);
        Self {
            headers,
            policy,
            body: split(html, nonce.as_bytes()),
        }
    }

    fn respond(&self, nonce: &str) -> Response {
        let mut body = Vec::with_capacity(self.body.iter().map(Bytes::len).sum::<usize>() + 64);
        for (i, piece) in self.body.iter().enumerate() {
            if i > 0 {
                body.extend_from_slice(nonce.as_bytes());
            }
            body.extend_from_slice(piece);
        }
        let mut response = Response::new(Body::from(body));
        *response.headers_mut() = self.headers.clone();
        // The nonce is base64url, so the policy stays a valid header value.
        if let Ok(policy) = HeaderValue::from_str(&self.policy.join(nonce)) {
            response
                .headers_mut()
                .insert(CONTENT_SECURITY_POLICY, policy);
        }
        response
    }
}

/// `bytes` cut at every occurrence of `separator`.
fn split(bytes: &Bytes, separator: &[u8]) -> Vec<Bytes> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut at = 0;
    while at + separator.len() <= bytes.len() {
        if bytes[at..].starts_with(separator) {
            pieces.push(bytes.slice(start..at));
            at += separator.len();
            start = at;
        } else {
            at += 1;
        }
    }
    pieces.push(bytes.slice(start..));
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_copy_answers_with_the_new_nonce_everywhere_the_old_one_stood() {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("script-src 'nonce-OLD' 'strict-dynamic'"),
        );
        headers.insert("content-type", HeaderValue::from_static("text/html"));
        let html = Bytes::from_static(br#"<script nonce="OLD">a</script><script nonce="OLD">"#);
        let copy = PageCopy::new(&headers, &html, "OLD");
        for nonce in ["NEW", "NEWER"] {
            let response = copy.respond(nonce);
            assert_eq!(
                response.headers()[CONTENT_SECURITY_POLICY],
                format!("script-src 'nonce-{nonce}' 'strict-dynamic'").as_str()
            );
            assert_eq!(response.headers()["content-type"], "text/html");
            let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
            assert_eq!(
                body,
                format!(r#"<script nonce="{nonce}">a</script><script nonce="{nonce}">"#)
            );
        }
    }

    #[test]
    fn split_cuts_at_every_occurrence_and_keeps_the_ends() {
        let pieces = split(&Bytes::from_static(b"xNyNNz"), b"N");
        assert_eq!(pieces, ["x", "y", "", "z"].map(Bytes::from));
        assert_eq!(
            split(&Bytes::from_static(b"abc"), b"N"),
            [Bytes::from("abc")]
        );
        assert_eq!(
            split(&Bytes::from_static(b"N"), b"N"),
            [Bytes::new(), Bytes::new()]
        );
    }

    fn get(path: &str) -> Request {
        Request::get(path).body(Body::empty()).unwrap()
    }

    #[test]
    fn only_cookieless_queryless_gets_of_the_listed_pages_have_a_slot() {
        let pages = AnonymousPages::default();
        for path in PAGES {
            assert!(pages.slot(&get(path)).is_some(), "{path}");
        }
        for path in [
            "/account",
            "/reset-password",
            "/verify-email",
            "/login/two-factor",
            "/x",
        ] {
            assert!(pages.slot(&get(path)).is_none(), "{path}");
        }
        assert!(pages.slot(&get("/login?next=/account")).is_none());
        let mut with_cookie = get("/login");
        with_cookie
            .headers_mut()
            .insert(COOKIE, HeaderValue::from_static("other=1"));
        assert!(pages.slot(&with_cookie).is_none());
        let post = Request::post("/login").body(Body::empty()).unwrap();
        assert!(pages.slot(&post).is_none());
    }

    #[test]
    fn only_a_cookieless_200_with_a_nonce_is_kept() {
        let page = |status: StatusCode, policy: Option<&'static str>, cookie: bool| {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = status;
            if let Some(policy) = policy {
                response
                    .headers_mut()
                    .insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(policy));
            }
            if cookie {
                response
                    .headers_mut()
                    .insert(SET_COOKIE, HeaderValue::from_static("a=b"));
            }
            page_nonce(&response)
        };
        let policy = Some("script-src 'nonce-abc' 'strict-dynamic'");
        assert_eq!(page(StatusCode::OK, policy, false).as_deref(), Some("abc"));
        assert_eq!(page(StatusCode::OK, policy, true), None);
        assert_eq!(page(StatusCode::FOUND, policy, false), None);
        assert_eq!(
            page(StatusCode::OK, Some("default-src 'none'"), false),
            None
        );
        assert_eq!(page(StatusCode::OK, None, false), None);
    }
}
