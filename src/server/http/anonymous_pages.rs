//! The pages every first-time visitor sees, rendered once per process instead of once per visit.
//!
//! A page render is most of a page request's cost, and nearly all of it is the framework's
//! (`docs/benchmarks.md`: Gatehouse's own code is 1 % of `/login`'s profile). But a request
//! with no cookie and no query string cannot be anyone's: `/`, `/login`, `/register`,
//! `/forgot-password` and the not-found page (whatever the unknown path: it names nothing of
//! it) render to the same bytes for every such request, except for the
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
//! - only a page with the status it is kept for (`200`; `404` for the not-found page) that
//!   carries a nonce and sets no cookie is kept;
//! - the not-found copy answers only what no route and no file of the site root answered
//!   (`fallback`), so it never stands in for a page or a file.
//!
//! Every layer outside this one (request id, security headers, caching policy, compression,
//! rate limits, metrics) still runs for every request. A copy lives as long as the process:
//! the pages change only with a deployment (code and settings are read at start-up).
//! (Written here rather than taken from a caching crate: none splices a per-response nonce
//! into a cached body, and a page without a fresh nonce would break the CSP.)

use std::future::Future;
use std::sync::{Arc, OnceLock};

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_SECURITY_POLICY, COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use leptos::nonce::Nonce;

use crate::server::http::csp;

/// The pages whose signed-out render depends on nothing in a cookie-less, query-less request.
pub const PAGES: [&str; 4] = ["/", "/login", "/register", "/forgot-password"];

/// A page's HTML is a few KB; anything this large is not one of these pages.
const MAX_PAGE_BYTES: usize = 1 << 20;

/// The kept copies, one slot per page of `PAGES`, and the not-found page's.
#[derive(Default)]
pub struct AnonymousPages {
    slots: [OnceLock<PageCopy>; PAGES.len()],
    not_found: OnceLock<PageCopy>,
}

impl AnonymousPages {
    /// The slot for `request`, when it is one that a copy may answer.
    fn slot(&self, request: &Request) -> Option<&OnceLock<PageCopy>> {
        if !is_anonymous(request) {
            return None;
        }
        let index = PAGES.iter().position(|p| *p == request.uri().path())?;
        Some(&self.slots[index])
    }

    /// Answers a request that no route and no file answered with the not-found page: from its
    /// copy when the request is one a copy may answer, else from `render`.
    pub async fn not_found<F, R>(&self, request: Request, render: R) -> Response
    where
        R: FnOnce(Request) -> F,
        F: Future<Output = Response>,
    {
        if !is_anonymous(&request) {
            return render(request).await;
        }
        answer(&self.not_found, StatusCode::NOT_FOUND, request, render).await
    }
}

/// A request that nothing but its path can tell apart: a `GET` with no query and no cookie.
fn is_anonymous(request: &Request) -> bool {
    request.method() == Method::GET
        && request.uri().query().is_none()
        && !request.headers().contains_key(COOKIE)
}

/// Answers a visitor with no cookie and no query from the page's copy, making it first.
pub async fn serve(
    State(pages): State<Arc<AnonymousPages>>,
    request: Request,
    next: Next,
) -> Response {
    match pages.slot(&request) {
        Some(slot) => answer(slot, StatusCode::OK, request, |r| next.run(r)).await,
        None => next.run(request).await,
    }
}

/// Answers from the copy in `slot`, or renders and keeps the render when it is a page with
/// `status` that may be kept.
async fn answer<F, R>(
    slot: &OnceLock<PageCopy>,
    status: StatusCode,
    request: Request,
    render: R,
) -> Response
where
    R: FnOnce(Request) -> F,
    F: Future<Output = Response>,
{
    if let Some(copy) = slot.get() {
        return copy.respond(&Nonce::new());
    }
    let response = render(request).await;
    let Some(nonce) = page_nonce(&response, status) else {
        return response;
    };
    let (parts, body) = response.into_parts();
    let Ok(html) = to_bytes(body, MAX_PAGE_BYTES).await else {
        tracing::error!("a page's body could not be read");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let copy = PageCopy::new(parts.status, &parts.headers, &html, &nonce);
    // This response already has its own fresh nonce: send it as rendered. Two first requests
    // may both render; the copy kept is whichever was first, and both are the same page.
    let _ = slot.set(copy);
    Response::from_parts(parts, Body::from(html))
}

/// The nonce of a rendered page that may be kept: one with the `status` expected of it,
/// setting no cookie, with a policy that names its nonce.
fn page_nonce(response: &Response, status: StatusCode) -> Option<String> {
    if response.status() != status || response.headers().contains_key(SET_COOKIE) {
        return None;
    }
    let policy = response.headers().get(CONTENT_SECURITY_POLICY)?;
    csp::nonce_in(policy.to_str().ok()?).map(str::to_string)
}

/// One rendered page, its body and its policy cut wherever the render's nonce stood.
struct PageCopy {
    status: StatusCode,
    headers: HeaderMap,
    policy: Vec<String>,
    body: Vec<Bytes>,
}

impl PageCopy {
    fn new(status: StatusCode, headers: &HeaderMap, html: &Bytes, nonce: &str) -> Self {
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
            status,
            headers,
            policy,
            body: split(html, nonce.as_bytes()),
        }
    }

    fn respond(&self, nonce: &str) -> Response {
        let pieces = self.body.iter().map(Bytes::len).sum::<usize>();
        let nonces = nonce.len() * (self.body.len() - 1);
        let mut body = Vec::with_capacity(pieces + nonces);
        for (i, piece) in self.body.iter().enumerate() {
            if i > 0 {
                body.extend_from_slice(nonce.as_bytes());
            }
            body.extend_from_slice(piece);
        }
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = self.status;
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
        let copy = PageCopy::new(StatusCode::NOT_FOUND, &headers, &html, "OLD");
        for nonce in ["NEW", "NEWER"] {
            let response = copy.respond(nonce);
            assert_eq!(response.status(), StatusCode::NOT_FOUND);
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
    fn only_a_cookieless_page_with_the_expected_status_and_a_nonce_is_kept() {
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
            page_nonce(&response, StatusCode::OK)
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
        let mut not_found = Response::new(Body::empty());
        *not_found.status_mut() = StatusCode::NOT_FOUND;
        not_found.headers_mut().insert(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("'nonce-n'"),
        );
        assert_eq!(page_nonce(&not_found, StatusCode::OK), None);
        assert_eq!(
            page_nonce(&not_found, StatusCode::NOT_FOUND).as_deref(),
            Some("n")
        );
    }

    /// What the not-found page is answered with: the kept copy only for anonymous requests;
    /// a render for the rest, which never becomes the copy.
    #[tokio::test]
    async fn the_not_found_copy_answers_only_anonymous_requests() {
        let pages = AnonymousPages::default();
        let render = |label: &'static str| {
            move |_: Request| async move {
                let mut response = Response::new(Body::from(format!("{label} nonce=N")));
                *response.status_mut() = StatusCode::NOT_FOUND;
                response.headers_mut().insert(
                    CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static("'nonce-N'"),
                );
                response
            }
        };
        let body = |response: Response| async move {
            let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
            String::from_utf8(bytes.to_vec()).unwrap()
        };
        let mut with_cookie = get("/nowhere");
        with_cookie
            .headers_mut()
            .insert(COOKIE, HeaderValue::from_static("session=x"));
        let signed_in = pages.not_found(with_cookie, render("signed in")).await;
        assert_eq!(body(signed_in).await, "signed in nonce=N");
        let first = pages.not_found(get("/a"), render("first")).await;
        assert_eq!(body(first).await, "first nonce=N");
        let copy = pages.not_found(get("/b"), render("second")).await;
        assert_eq!(copy.status(), StatusCode::NOT_FOUND);
        let copy = body(copy).await;
        assert!(copy.starts_with("first nonce="), "{copy}");
        assert!(!copy.ends_with("nonce=N"), "a nonce was sent twice");
        let query = pages.not_found(get("/c?x=1"), render("query")).await;
        assert_eq!(body(query).await, "query nonce=N");
    }
}
