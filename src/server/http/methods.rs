//! Methods no route of ours answers to. TRACE would echo the request (cookies included) back
//! to a script; TRACK and CONNECT have no business reaching an app server. Refused before
//! routing, because the static-file fallback would otherwise answer any method.

use axum::extract::Request;
use axum::http::header::ALLOW;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

pub async fn refuse_unsupported(request: Request, next: Next) -> Response {
    let method = request.method();
    if method == Method::TRACE || method == Method::CONNECT || method.as_str() == "TRACK" {
        let mut response = StatusCode::METHOD_NOT_ALLOWED.into_response();
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD, POST, OPTIONS"));
        return response;
    }
    next.run(request).await
}
