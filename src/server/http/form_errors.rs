//! Errors of forms posted without JavaScript: back to the form's own page, signed.
//!
//! Without JavaScript a form posts to its server function (`/rpc/…`), and the runtime answers
//! an error with a redirect to the request's `Referer` carrying the error in the query
//! (`?__path=…&__err=<base64 JSON>`), which the page then shows next to its fields. Two
//! things are wrong with that as it stands:
//!
//! - Anyone can write such a URL: `/login?__path=/rpc/login&__err=…` would show text of the
//!   attacker's choosing in the real page's error banner (phishing text on a trusted origin).
//!   So the server signs the error it sends back (`__sig`: expiry + HMAC over path, error and
//!   expiry, with a key derived from `SECRET_KEY`, so every instance behind a load balancer
//!   accepts it) and a page request carrying error parameters without a valid signature is
//!   redirected to the same URL without them. Only messages the server chose are ever shown.
//! - It depends on `Referer`: posted without one (privacy settings, extensions) the error is
//!   lost on a redirect to `/`; with one, the absolute URL sent is echoed back. So the
//!   redirect goes to the form's own page (`app::form_pages`), keeping only the query of a
//!   `Referer` that is that same page (a sign-in's `?next=`).
//!
//! Written here: the redirect convention is the server-function runtime's own, and no crate
//! knows it.

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::header::{ACCEPT, LOCATION, REFERER};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use super::server_fn_status::{MAX_ERROR_BODY, SERVER_FN_ERROR_HEADER};
use crate::app::form_pages::form_page;
use crate::server::clock::{Clock as _, SystemClock};

/// The query parameters of the runtime's convention, plus our signature.
const PATH_PARAM: &str = "__path";
const ERROR_PARAM: &str = "__err";
const SIGNATURE_PARAM: &str = "__sig";
/// Long enough to read the message and press reload; short enough that a URL copied out of
/// the address bar soon stops showing it.
const LIFETIME_SECS: i64 = 10 * 60;

type HmacSha256 = Hmac<Sha256>;

/// Signs and checks the error a no-JavaScript form carries back to its page.
#[derive(Clone)]
pub struct FormErrorSigner {
    key: [u8; 32],
}

impl FormErrorSigner {
    /// The key is derived from `SECRET_KEY` for this one purpose, so a signature made here is
    /// never valid as anything else (an access token's MAC, say), and the reverse.
    pub fn new(secret_key: &SecretString) -> Self {
        let mut mac = HmacSha256::new_from_slice(secret_key.expose_secret().as_bytes())
            .expect("HMAC takes keys of any length");
        mac.update(b"gatehouse/no-js-form-error/v1");
        Self {
            key: mac.finalize().into_bytes().into(),
        }
    }

    fn mac(&self, path: &str, error: &str, expires: i64) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        // Length-prefixed, so no two (path, error) pairs share an encoding.
        for part in [path.as_bytes(), error.as_bytes()] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.update(&expires.to_be_bytes());
        mac
    }

    /// `__sig` for the error `error` of the server function at `path`, valid until
    /// `now + LIFETIME_SECS`.
    pub fn sign(&self, path: &str, error: &str, now: i64) -> String {
        let expires = now + LIFETIME_SECS;
        let tag = self.mac(path, error, expires).finalize().into_bytes();
        format!("{expires}.{}", URL_SAFE_NO_PAD.encode(tag))
    }

    /// True when `signature` was made by `sign` for exactly this path and error, and has not
    /// expired. The MAC comparison is constant-time.
    pub fn verify(&self, path: &str, error: &str, signature: &str, now: i64) -> bool {
        let Some((expires, tag)) = signature.split_once('.') else {
            return false;
        };
        let (Ok(expires), Ok(tag)) = (expires.parse::<i64>(), URL_SAFE_NO_PAD.decode(tag)) else {
            return false;
        };
        now <= expires && self.mac(path, error, expires).verify_slice(&tag).is_ok()
    }
}

/// The middleware: signs what form posts send back, and refuses unsigned errors on pages.
pub async fn no_js_form_errors(
    State(signer): State<FormErrorSigner>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_string();
    if path.starts_with("/rpc/") && request.method() == Method::POST {
        // The runtime's own test for "a plain form post" (it redirects only then).
        let plain_form = header_text(&request, ACCEPT).is_some_and(|a| a.contains("text/html"));
        if !plain_form {
            return next.run(request).await;
        }
        let referer = header_text(&request, REFERER).map(str::to_string);
        let response = next.run(request).await;
        return back_to_the_form(&signer, &path, referer.as_deref(), response).await;
    }
    if matches!(*request.method(), Method::GET | Method::HEAD) {
        if let Some(clean) = unsigned_error_removed(&signer, &request) {
            return Redirect::to(&clean).into_response();
        }
    }
    next.run(request).await
}

fn header_text(request: &Request, name: axum::http::HeaderName) -> Option<&str> {
    request.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Rewrites the runtime's redirect after a plain form post: errors go to the form's page with
/// a signed error; a success redirect that merely echoed `Referer` goes to the form's page.
/// Redirects the server function chose itself (relative paths, e.g. `/account?notice=…`)
/// are left alone.
async fn back_to_the_form(
    signer: &FormErrorSigner,
    fn_path: &str,
    referer: Option<&str>,
    response: Response,
) -> Response {
    let Some(page) = form_page(fn_path) else {
        return response;
    };
    let mut query = same_page_query(referer, page);
    if response.headers().contains_key(SERVER_FN_ERROR_HEADER) {
        let (mut parts, body) = response.into_parts();
        let Ok(error_json) = to_bytes(body, MAX_ERROR_BODY).await else {
            return Response::from_parts(parts, Body::empty());
        };
        // The same encoding the page decodes (`ServerFnUrlError::decode_err`).
        let error = URL_SAFE.encode(&error_json);
        let signature = signer.sign(fn_path, &error, SystemClock.now());
        query.extend([
            (PATH_PARAM.to_string(), fn_path.to_string()),
            (ERROR_PARAM.to_string(), error),
            (SIGNATURE_PARAM.to_string(), signature),
        ]);
        parts.status = StatusCode::FOUND;
        set_location(&mut parts.headers, page, &query);
        return Response::from_parts(parts, Body::empty());
    }
    let echoed_referer = response
        .headers()
        .get(LOCATION)
        .and_then(|l| l.to_str().ok())
        .is_some_and(|l| url::Url::parse(l).is_ok());
    if !echoed_referer {
        return response;
    }
    let mut response = response;
    set_location(response.headers_mut(), page, &query);
    response
}

/// The query of `referer` when it is the form's own page (any host: only the query is
/// kept, never the URL), without error parameters of an earlier post.
fn same_page_query(referer: Option<&str>, page: &str) -> Vec<(String, String)> {
    referer
        .and_then(|r| url::Url::parse(r).ok())
        .filter(|url| url.path() == page)
        .map(|url| url.query_pairs().into_owned().collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter(|(key, _)| !is_error_param(key))
        .collect()
}

fn is_error_param(key: &str) -> bool {
    [PATH_PARAM, ERROR_PARAM, SIGNATURE_PARAM].contains(&key)
}

/// `path` with `query` (already decoded pairs), encoded.
fn with_query(path: &str, query: &[(String, String)]) -> String {
    if query.is_empty() {
        return path.to_string();
    }
    let encoded = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(query)
        .finish();
    format!("{path}?{encoded}")
}

fn set_location(headers: &mut axum::http::HeaderMap, page: &str, query: &[(String, String)]) {
    if let Ok(value) = HeaderValue::from_str(&with_query(page, query)) {
        headers.insert(LOCATION, value);
    }
}

/// For a page request carrying error parameters without a valid signature: the same URL
/// without them (where it is redirected). `None` when there is nothing to remove.
fn unsigned_error_removed(signer: &FormErrorSigner, request: &Request) -> Option<String> {
    let query = request.uri().query()?;
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    if !pairs.iter().any(|(key, _)| is_error_param(key)) {
        return None;
    }
    let single = |name: &str| {
        let mut values = pairs.iter().filter(|(key, _)| key == name);
        match (values.next(), values.next()) {
            (Some((_, value)), None) => Some(value.as_str()),
            _ => None,
        }
    };
    if let (Some(path), Some(error), Some(signature)) = (
        single(PATH_PARAM),
        single(ERROR_PARAM),
        single(SIGNATURE_PARAM),
    ) {
        if signer.verify(path, error, signature, SystemClock.now()) {
            return None;
        }
    }
    let kept: Vec<_> = pairs
        .into_iter()
        .filter(|(key, _)| !is_error_param(key))
        .collect();
    Some(with_query(request.uri().path(), &kept))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(key: &str) -> FormErrorSigner {
        FormErrorSigner::new(&SecretString::from(key.to_string()))
    }

    #[test]
    fn a_signature_holds_for_its_own_path_and_error_until_it_expires() {
        let signer = signer("a key long enough for the test, 32+ bytes");
        let signature = signer.sign("/rpc/login", "eyJlcnIiOjF9", 1_000);
        assert!(signer.verify("/rpc/login", "eyJlcnIiOjF9", &signature, 1_000));
        assert!(signer.verify(
            "/rpc/login",
            "eyJlcnIiOjF9",
            &signature,
            1_000 + LIFETIME_SECS
        ));
        assert!(!signer.verify(
            "/rpc/login",
            "eyJlcnIiOjF9",
            &signature,
            1_001 + LIFETIME_SECS
        ));
        assert!(!signer.verify("/rpc/login", "eyJlcnIiOjJ9", &signature, 1_000));
        assert!(!signer.verify("/rpc/register", "eyJlcnIiOjF9", &signature, 1_000));
        // A later expiry written into the signature does not extend it.
        let (_, tag) = signature.split_once('.').unwrap();
        let extended = format!("{}.{tag}", 1_000 + 2 * LIFETIME_SECS);
        assert!(!signer.verify(
            "/rpc/login",
            "eyJlcnIiOjF9",
            &extended,
            1_001 + LIFETIME_SECS
        ));
    }

    #[test]
    fn another_secret_key_signs_differently() {
        let signature = signer("first key, long enough for the test").sign("/rpc/login", "e", 5);
        assert!(!signer("second key, long enough for the test").verify(
            "/rpc/login",
            "e",
            &signature,
            5
        ));
        for garbage in ["", ".", "5.", "x.AAAA", "5.not base64!"] {
            assert!(!signer("first key, long enough for the test").verify(
                "/rpc/login",
                "e",
                garbage,
                5
            ));
        }
    }
}
