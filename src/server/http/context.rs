//! Request-scoped helpers for server functions.
//!
//! leptos_axum runs each server function (and each server render) inside a reactive owner
//! that holds the request `Parts`, a `ResponseOptions` for headers and status, and our
//! `AppState`. These functions read and write those, so the `#[server]` bodies in `crate::api`
//! stay short: validate → service → client error.

use http::header::{COOKIE, SET_COOKIE, USER_AGENT};
use http::request::Parts;
use http::HeaderValue;
use leptos::prelude::use_context;
use leptos_axum::ResponseOptions;

use crate::model::AppError;
use crate::server::auth::session::{removal_cookie, session_cookie, token_from_cookie_header};
use crate::server::auth::{ClientMeta, SessionToken};
use crate::server::error::ServiceError;
use crate::server::limits::client_ip::ClientIp;
use crate::server::state::AppState;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

fn parts() -> Option<Parts> {
    use_context::<Parts>()
}

/// The application state. Missing only if the router was wired wrongly.
pub fn app_state() -> Result<AppState, AppError> {
    use_context::<AppState>().ok_or_else(|| {
        tracing::error!("AppState missing from the Leptos context");
        AppError::Internal {
            request_id: Some(request_id()),
        }
    })
}

/// The id the request-id layer gave this request (also in every log line of its span).
pub fn request_id() -> String {
    parts()
        .and_then(|p| {
            p.headers
                .get(REQUEST_ID_HEADER)?
                .to_str()
                .ok()
                .map(str::to_string)
        })
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
            .get::<ClientIp>()
            .map(|ClientIp(ip)| ip.to_string()),
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
    if let (Some(response), Ok(value)) = (
        use_context::<ResponseOptions>(),
        HeaderValue::from_str(&value),
    ) {
        response.append_header(SET_COOKIE, value);
    }
}

pub fn set_session_cookie(state: &AppState, token: &SessionToken) {
    append_set_cookie(session_cookie(state.auth.session_settings(), token).to_string());
}

pub fn clear_session_cookie(state: &AppState) {
    append_set_cookie(removal_cookie(state.auth.session_settings()).to_string());
}

/// Turns a service failure into the client error, logging anything internal with the
/// request id. The HTTP status follows from the error (`server_fn_status`).
pub fn fail(err: ServiceError) -> AppError {
    err.into_app_error(&request_id())
}

/// A `next=` target is followed only when it is a local path: `/account` yes;
/// `https://evil.example`, `//evil.example` and `/\evil.example` (which browsers treat as
/// protocol-relative) no. Anything else falls back to `/`.
pub fn safe_next(next: Option<&str>) -> String {
    crate::model::forms::local_redirect_target(next)
        .unwrap_or("/")
        .to_string()
}
