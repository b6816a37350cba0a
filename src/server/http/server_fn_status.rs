//! Gives server-function errors their real HTTP status.
//!
//! The server-function runtime answers every error with 500, including "your input was
//! invalid" (422), "wrong password" (401) and "malformed arguments" (400): monitoring would
//! count them as server faults and clients could not tell them apart by status. This layer
//! reads the (small, JSON) error body, decodes our closed `AppError`, and sets the status and
//! `Retry-After` it documents. Plain form posts are untouched: they are 302 redirects that
//! carry the error back to the page.
//!
//! Written here because no crate knows the server-function error convention.

use axum::body::{to_bytes, Body};
use axum::http::StatusCode;
use axum::response::Response;

use crate::model::AppError;

/// The marker header leptos' server-function runtime puts on error responses.
pub(super) const SERVER_FN_ERROR_HEADER: &str = "serverfnerror";
/// Error bodies are a few hundred bytes; anything larger is left alone.
pub(super) const MAX_ERROR_BODY: usize = 64 * 1024;

pub async fn set_error_status(response: Response) -> Response {
    if response.status() != StatusCode::INTERNAL_SERVER_ERROR
        || !response.headers().contains_key(SERVER_FN_ERROR_HEADER)
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_ERROR_BODY).await else {
        return Response::from_parts(parts, Body::empty());
    };
    if let Ok(err) = serde_json::from_slice::<AppError>(&bytes) {
        parts.status =
            StatusCode::from_u16(err.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        // Only the runtime answers these (a body it could not read): our own code logs what
        // it refuses, so this is the one log line such a request gets.
        if matches!(err, AppError::BadRequest | AppError::PayloadTooLarge) {
            tracing::info!(
                status = parts.status.as_u16(),
                "server function request could not be read"
            );
        }
        super::error_page::add_retry_headers(&err, &mut parts.headers);
    }
    Response::from_parts(parts, Body::from(bytes))
}
