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

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().expect("a readable header"))
    }

    fn request(path: &str, accept: Option<&str>, id: Option<&str>) -> Request {
        let mut builder = Request::builder().uri(path);
        if let Some(accept) = accept {
            builder = builder.header(ACCEPT, accept);
        }
        if let Some(id) = id {
            builder = builder.header(REQUEST_ID_HEADER, id);
        }
        builder.body(Body::empty()).unwrap()
    }

    async fn body(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    async fn json_body(response: Response) -> serde_json::Value {
        serde_json::from_str(&body(response).await).unwrap()
    }

    #[test]
    fn a_rate_limit_refusal_names_its_rule_in_the_ratelimit_fields() {
        let refused = AppError::RateLimited {
            retry_after_secs: 7,
            limit: 5,
            window_secs: 60,
        };
        let response = json_error(&refused, None);
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(header(&response, "retry-after"), Some("7"));
        assert_eq!(header(&response, "ratelimit-limit"), Some("5"));
        assert_eq!(header(&response, "ratelimit-remaining"), Some("0"));
        assert_eq!(header(&response, "ratelimit-reset"), Some("7"));
        assert_eq!(header(&response, "ratelimit-policy"), Some("5;w=60"));
    }

    #[test]
    fn a_throttled_account_is_told_when_to_retry_and_no_made_up_rule() {
        // The per-account throttle has no per-window quota to announce (limit 0): a client
        // told "limit 0" would conclude it may never try again.
        let throttled = AppError::RateLimited {
            retry_after_secs: 42,
            limit: 0,
            window_secs: 0,
        };
        let response = json_error(&throttled, None);
        assert_eq!(header(&response, "retry-after"), Some("42"));
        for name in [
            "ratelimit-limit",
            "ratelimit-remaining",
            "ratelimit-reset",
            "ratelimit-policy",
        ] {
            assert_eq!(header(&response, name), None, "{name}");
        }
    }

    #[tokio::test]
    async fn the_api_always_gets_json_and_only_a_browser_asking_for_html_gets_a_page() {
        for (path, accept, html) in [
            ("/api/v1/users/me", Some("text/html"), false),
            ("/login", Some("text/html,application/xhtml+xml"), true),
            ("/login", Some("*/*"), false),
            ("/login", None, false),
        ] {
            let response = error_response(&request(path, accept, None), AppError::NotFound);
            assert_eq!(
                response.status(),
                StatusCode::NOT_FOUND,
                "{path} {accept:?}"
            );
            let expected = if html {
                "text/html; charset=utf-8"
            } else {
                "application/json"
            };
            assert_eq!(
                header(&response, "content-type"),
                Some(expected),
                "{path} {accept:?}"
            );
        }
    }

    #[tokio::test]
    async fn both_shapes_name_the_request_id_and_the_page_escapes_what_it_prints() {
        let id = "\"><script>alert(1)</script>";
        let json = error_response(&request("/api/v1/x", None, Some(id)), AppError::NotFound);
        let json = json_body(json).await;
        assert_eq!(json["request_id"], id);
        assert_eq!(json["error"], "not_found");
        assert_eq!(json["message"], AppError::NotFound.to_string());

        let page = error_response(
            &request("/nowhere", Some("text/html"), Some(id)),
            AppError::NotFound,
        );
        let page = body(page).await;
        assert!(!page.contains("<script>"), "{page}");
        assert!(
            page.contains("<code>&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;</code>"),
            "{page}"
        );
        assert!(
            page.contains(&format!("<p>{}</p>", AppError::NotFound)),
            "{page}"
        );
        assert!(page.contains("<title>404 · Gatehouse</title>"), "{page}");
    }

    #[tokio::test]
    async fn a_validation_error_carries_a_message_per_field() {
        let invalid = AppError::Validation(crate::model::FieldErrors::single(
            "email",
            "Enter an email address.",
        ));
        let response = json_error(&invalid, None);
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let json = json_body(response).await;
        assert_eq!(json["fields"]["email"], "Enter an email address.");
        assert!(json.get("request_id").is_none(), "{json}");
    }

    #[test]
    fn html_escape_covers_the_characters_that_open_markup_or_an_attribute() {
        assert_eq!(
            html_escape(r#"a & b <i> "q""#),
            "a &amp; b &lt;i&gt; &quot;q&quot;"
        );
    }

    #[tokio::test]
    async fn bare_error_responses_get_the_shape_and_keep_their_headers_while_others_pass() {
        use axum::routing::get;
        use tower::ServiceExt;

        let app = axum::Router::new()
            .route(
                "/bare",
                get(|| async {
                    (
                        StatusCode::PAYLOAD_TOO_LARGE,
                        [("x-kept", HeaderValue::from_static("yes"))],
                        "length limit exceeded",
                    )
                }),
            )
            .route(
                "/own",
                get(|| async { json_error(&AppError::Forbidden, Some("mine")) }),
            )
            .route("/fine", get(|| async { "plain text, but a success" }))
            .layer(axum::middleware::from_fn(render_bare_errors));
        let call = |path: &'static str| {
            let app = app.clone();
            async move {
                app.oneshot(request(path, None, Some("id-1")))
                    .await
                    .unwrap()
            }
        };

        let bare = call("/bare").await;
        assert_eq!(bare.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(header(&bare, "x-kept"), Some("yes"));
        assert_eq!(header(&bare, "content-type"), Some("application/json"));
        let json = json_body(bare).await;
        assert_eq!(json["error"], AppError::PayloadTooLarge.code());
        assert_eq!(json["request_id"], "id-1");

        // A body already in our shape, and a success in plain text, are left alone.
        let own = body(call("/own").await).await;
        assert!(own.contains("\"request_id\":\"mine\""), "{own}");
        assert_eq!(body(call("/fine").await).await, "plain text, but a success");
    }
}
