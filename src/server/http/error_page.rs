//! Error bodies for responses our handlers did not write themselves.
//!
//! tower-http layers answer on their own (413 from the body limit, 408 from the timeout, 500
//! from the panic catcher, 405 from routing) with empty or plain-text bodies. This layer gives
//! those the same shape as every other error: JSON `{"error", "message", "request_id"}` for API
//! and script callers, a small HTML page for browsers, both naming the request id. Responses
//! that already carry JSON or HTML (server functions, rendered pages) pass through untouched.

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{ACCEPT, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::model::AppError;
use crate::server::http::request_id::REQUEST_ID_HEADER;

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: String,
    /// Validation errors only: a message per field.
    #[serde(skip_serializing_if = "Option::is_none")]
    fields: Option<&'a std::collections::BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
}

/// The one JSON error shape, for layers and API handlers alike:
/// `{"error", "message", "fields"?, "request_id"?}` with the status, `Retry-After` and
/// `RateLimit-*` headers of the closed `AppError`.
pub fn json_error(err: &AppError, request_id: Option<&str>) -> Response {
    let status =
        StatusCode::from_u16(err.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = ErrorBody {
        error: err.code(),
        message: err.to_string(),
        fields: match err {
            AppError::Validation(fields) => Some(&fields.0),
            _ => None,
        },
        request_id,
    };
    let mut response = (status, axum::Json(body)).into_response();
    add_retry_headers(err, response.headers_mut());
    response
}

/// What the caller wants back, decided from the request.
#[derive(Clone, Copy)]
enum Flavour {
    Json,
    Html,
}

/// The JSON API always gets JSON; otherwise a browser navigation or plain form post (which
/// asks for `text/html`) gets a page, and scripts get JSON.
fn flavour(path: &str, headers: &HeaderMap) -> Flavour {
    let accept = headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if path.starts_with("/api/") || !accept.contains("text/html") {
        Flavour::Json
    } else {
        Flavour::Html
    }
}

fn request_id(headers: &HeaderMap) -> Option<&str> {
    headers.get(REQUEST_ID_HEADER).and_then(|v| v.to_str().ok())
}

/// An error response for `err`, shaped for the caller of `request`.
pub fn error_response(request: &Request, err: AppError) -> Response {
    render(
        flavour(request.uri().path(), request.headers()),
        &err,
        request_id(request.headers()),
    )
}

fn render(flavour: Flavour, err: &AppError, request_id: Option<&str>) -> Response {
    let status =
        StatusCode::from_u16(err.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let message = err.to_string();
    let mut response = match flavour {
        Flavour::Json => return json_error(err, request_id),
        Flavour::Html => {
            let reference = request_id
                .map(|id| format!("<p>Reference: <code>{}</code></p>", html_escape(id)))
                .unwrap_or_default();
            let html = format!(
                "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
                 <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
                 <title>{code} · Gatehouse</title></head><body>\
                 <main><h1>{title}</h1><p>{message}</p>{reference}<p><a href=\"/\">Go to the home page</a></p></main>\
                 </body></html>",
                code = status.as_u16(),
                title = status.canonical_reason().unwrap_or("Error"),
                message = html_escape(&message),
            );
            (status, [(CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
        }
    };
    add_retry_headers(err, response.headers_mut());
    response
}

/// `Retry-After` for 429 and 503, and the `RateLimit-*` fields (IETF draft
/// "RateLimit header fields for HTTP") naming the rule that refused.
pub fn add_retry_headers(err: &AppError, headers: &mut HeaderMap) {
    if let Some(secs) = err.retry_after_secs() {
        headers.insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    if let AppError::RateLimited {
        retry_after_secs,
        limit,
        window_secs,
    } = err
    {
        if *limit > 0 {
            headers.insert("ratelimit-limit", HeaderValue::from(*limit));
            headers.insert("ratelimit-remaining", HeaderValue::from(0));
            headers.insert("ratelimit-reset", HeaderValue::from(*retry_after_secs));
            if let Ok(policy) = HeaderValue::from_str(&format!("{limit};w={window_secs}")) {
                headers.insert("ratelimit-policy", policy);
            }
        }
    }
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Replaces the bodies of bare error responses (no content type, or plain text).
pub async fn render_bare_errors(request: Request, next: Next) -> Response {
    let flavour = flavour(request.uri().path(), request.headers());
    // Taken from the request: the response gets its id header only further out.
    let id = request_id(request.headers()).map(str::to_string);
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !(content_type.is_empty() || content_type.starts_with("text/plain")) {
        return response;
    }
    let (mut parts, _body) = response.into_parts();
    let err = AppError::from_status(status.as_u16(), id.clone());
    let rendered = render(flavour, &err, id.as_deref());
    let (new_parts, body) = rendered.into_parts();
    // Keep the original headers (request id, security headers, Allow, Retry-After…) and
    // take the new body's type and length.
    parts.headers.remove(CONTENT_LENGTH);
    parts.headers.remove(CONTENT_ENCODING);
    for (name, value) in new_parts.headers.iter() {
        parts.headers.insert(name, value.clone());
    }
    parts.status = status;
    Response::from_parts(parts, Body::new(body))
}
