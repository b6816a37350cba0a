//! Request-scoped helpers for server functions.
//!
//! leptos_axum runs each server function (and each server render) inside a reactive owner
//! that holds the request `Parts`, a `ResponseOptions` for headers and status, and our
//! `AppState`. These functions read and write those, so the `#[server]` bodies in `crate::api`
//! stay short: validate → service → client error.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use http::header::{ACCEPT, COOKIE, RETRY_AFTER, SET_COOKIE, USER_AGENT};
use http::request::Parts;
use http::{HeaderValue, StatusCode};
use leptos::prelude::use_context;
use leptos_axum::ResponseOptions;

use crate::model::AppError;
use crate::server::auth::session::{removal_cookie, session_cookie, token_from_cookie_header};
use crate::server::auth::{ClientMeta, SessionToken};
use crate::server::error::ServiceError;
use crate::server::state::AppState;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

fn parts() -> Option<Parts> {
    use_context::<Parts>()
}

/// The application state. Missing only if the router was wired wrongly.
pub fn app_state() -> Result<AppState, AppError> {
    use_context::<AppState>().ok_or_else(|| {
        tracing::error!("AppState missing from the Leptos context");
        AppError::Internal { request_id: Some(request_id()) }
    })
}

/// The id the request-id layer gave this request (also in every log line of its span).
pub fn request_id() -> String {
    parts()
        .and_then(|p| p.headers.get(REQUEST_ID_HEADER)?.to_str().ok().map(str::to_string))
        .unwrap_or_else(|| "unknown".to_string())
}

/// The peer address and User-Agent, recorded with a new session.
pub fn client_meta() -> ClientMeta {
    let Some(parts) = parts() else {
        return ClientMeta::default();
    };
    ClientMeta {
        ip: parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_string()),
        user_agent: parts
            .headers
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    }
}

/// The session token from the request's cookie, if it has a well-formed one.
pub fn session_token(state: &AppState) -> Option<SessionToken> {
    let parts = parts()?;
    let settings = state.auth.session_settings();
    parts
        .headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|header| token_from_cookie_header(settings, header))
}

fn append_set_cookie(value: String) {
    if let (Some(response), Ok(value)) = (use_context::<ResponseOptions>(), HeaderValue::from_str(&value)) {
        response.append_header(SET_COOKIE, value);
    }
}

pub fn set_session_cookie(state: &AppState, token: &SessionToken) {
    append_set_cookie(session_cookie(state.auth.session_settings(), token).to_string());
}

pub fn clear_session_cookie(state: &AppState) {
    append_set_cookie(removal_cookie(state.auth.session_settings()).to_string());
}

/// True when a plain HTML form (no JavaScript) made this request: the answer must then be a
/// redirect the browser follows, not a status code it would show as an error page.
fn is_plain_form_post() -> bool {
    parts()
        .and_then(|p| p.headers.get(ACCEPT)?.to_str().ok().map(|v| v.contains("text/html")))
        .unwrap_or(false)
}

/// Turns a service failure into the client error and, for script callers, the matching HTTP
/// status (plain form posts keep the redirect leptos sets up, which carries the error).
pub fn fail(err: ServiceError) -> AppError {
    let err = err.into_app_error(&request_id());
    respond_with(&err);
    err
}

/// Sets status and `Retry-After` for `err` on the current response.
pub fn respond_with(err: &AppError) {
    if is_plain_form_post() {
        return;
    }
    let Some(response) = use_context::<ResponseOptions>() else {
        return;
    };
    if let Ok(status) = StatusCode::from_u16(err.status_code()) {
        response.set_status(status);
    }
    if let Some(secs) = err.retry_after_secs() {
        response.insert_header(RETRY_AFTER, HeaderValue::from(secs));
    }
}

/// A `next=` target is followed only when it is a local path: `/account` yes;
/// `https://evil.example`, `//evil.example` and `/\evil.example` (which browsers treat as
/// protocol-relative) no. Anything else falls back to `/`.
pub fn safe_next(next: Option<&str>) -> String {
    crate::model::forms::local_redirect_target(next).unwrap_or("/").to_string()
}
