//! What every server function reads and writes besides its arguments (server only).
//!
//! leptos_axum runs each server function (and each server render) inside a reactive owner
//! that holds the request `Parts`, a `ResponseOptions` for headers and status, and our
//! `AppState`. These helpers read and write those, so the `#[server]` bodies stay three
//! steps: read the context, call a service, map the outcome to the closed `AppError`.

use http::header::{COOKIE, SET_COOKIE};
use http::request::Parts;
use http::{HeaderName, HeaderValue};
use leptos::prelude::use_context;
use leptos_axum::ResponseOptions;

pub use crate::model::AppError;
pub use crate::server::auth::session::StepCookie;
use crate::server::auth::session::{removal_cookie, session_cookie, token_from_cookie_header};
pub use crate::server::auth::{ClientMeta, CurrentSession, LoginOutcome, SignedIn};
use crate::server::auth::{RenderSession, SessionSettings, SessionToken};
use crate::server::error::ServiceError;
use crate::server::http::extract::{self, RequestId};
pub use crate::server::http::link_pages::LinkPage;
pub use crate::server::state::AppState;

fn parts() -> Option<Parts> {
    use_context::<Parts>()
}

/// The application state. Missing only if the router was wired wrongly.
pub fn app_state() -> Result<AppState, AppError> {
    use_context::<AppState>().ok_or_else(|| {
        tracing::error!("AppState missing from the Leptos context");
        AppError::Internal {
            request_id: Some(request_id().0),
        }
    })
}

/// The id the request-id layer gave this request (also in every log line of its span).
pub fn request_id() -> RequestId {
    parts()
        .map(|p| RequestId::of(&p.headers))
        .unwrap_or_else(|| RequestId("unknown".to_string()))
}

/// Address, User-Agent and request id, recorded with sessions and security events.
pub fn client_meta() -> ClientMeta {
    parts()
        .map(|parts| extract::client_meta(&parts))
        .unwrap_or_default()
}

/// The session token from the request's cookie, if it has a well-formed one.
pub fn session_token(state: &AppState) -> Option<SessionToken> {
    from_cookies(state, token_from_cookie_header)
}

/// The first value `read` finds in the request's `Cookie` headers.
fn from_cookies<T>(
    state: &AppState,
    read: impl Fn(&SessionSettings, &str) -> Option<T>,
) -> Option<T> {
    let parts = parts()?;
    let settings = &state.settings.session;
    parts
        .headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|header| read(settings, header))
}

/// The token of the step this browser has in progress (`step`), if any.
pub fn step_token(state: &AppState, step: StepCookie) -> Option<SessionToken> {
    from_cookies(state, |settings, header| {
        step.token_from_header(settings, header)
    })
}

/// Binds a step in progress (a sign-in waiting for its code, a passkey ceremony) to this
/// browser.
pub fn set_step_cookie(state: &AppState, step: StepCookie, token: &SessionToken) {
    append_set_cookie(step.cookie(&state.settings.session, token).to_string());
}

pub fn clear_step_cookie(state: &AppState, step: StepCookie) {
    append_set_cookie(step.removal(&state.settings.session).to_string());
}

/// The session behind the request's cookie and its account, if any. Within a page render,
/// looked up once for the whole page (`RenderSession`).
pub async fn current_session(state: &AppState) -> Result<Option<CurrentSession>, AppError> {
    let Some(token) = session_token(state) else {
        return Ok(None);
    };
    let sessions = &state.auth.sessions;
    match use_context::<RenderSession>() {
        Some(render) => render.current(sessions, &token).await,
        None => sessions.current(&token).await,
    }
    .map_err(fail)
}

/// Like `current_session`, for server functions that need a signed-in person.
pub async fn require_session(state: &AppState) -> Result<CurrentSession, AppError> {
    current_session(state)
        .await?
        .ok_or(AppError::Unauthenticated)
}

/// The token of the mailed link this browser opened on `page` (kept in a cookie by
/// `link_pages`), if any.
pub fn link_token(state: &AppState, page: LinkPage) -> Option<String> {
    from_cookies(state, |settings, header| {
        page.token_from_cookie_header(settings, header)
    })
}

/// Drops the link token of `page`: the link has done its work.
pub fn clear_link_token(state: &AppState, page: LinkPage) {
    append_set_cookie(page.removal_cookie(&state.settings.session).to_string());
}

fn append_set_cookie(value: String) {
    if let (Some(response), Ok(value)) = (
        use_context::<ResponseOptions>(),
        HeaderValue::from_str(&value),
    ) {
        response.append_header(SET_COOKIE, value);
    }
}

/// After a sign-up or sign-in: ends the session this browser came with, if any, so a
/// browser never holds two (ASVS 7.2.4), then sets the new session's cookie.
pub async fn replace_session(state: &AppState, signed_in: &SignedIn) -> Result<(), AppError> {
    if let Some(previous) = session_token(state) {
        state
            .auth
            .sessions
            .end_replaced(&previous)
            .await
            .map_err(fail)?;
    }
    set_session_cookie(state, signed_in);
    Ok(())
}

/// The cookie for a session just started (sign-up, sign-in, password change).
pub fn set_session_cookie(state: &AppState, signed_in: &SignedIn) {
    let settings = &state.settings.session;
    append_set_cookie(session_cookie(settings, &signed_in.token, signed_in.remember).to_string());
}

/// `Clear-Site-Data` on sign-out: the browser drops its cache (pages seen while signed in)
/// and any storage for this origin, whatever a future page may have put there. Not
/// `"cookies"`: that clears every cookie of the registrable domain, so signing out of
/// `auth.example.com` would sign people out of every `*.example.com` app. Our own cookie is
/// expired by name instead (`clear_session_cookie`).
pub fn clear_site_data() {
    if let Some(response) = use_context::<ResponseOptions>() {
        response.insert_header(
            HeaderName::from_static("clear-site-data"),
            HeaderValue::from_static(CLEAR_SITE_DATA),
        );
    }
}

/// What sign-out asks the browser to forget.
pub const CLEAR_SITE_DATA: &str = r#""cache", "storage""#;

pub fn clear_session_cookie(state: &AppState) {
    append_set_cookie(removal_cookie(&state.settings.session).to_string());
}

/// Turns a service failure into the client error, logging anything internal with the
/// request id. The HTTP status follows from the error (`server_fn_status`).
pub fn fail(err: ServiceError) -> AppError {
    err.into_app_error(request_id().as_str())
}

/// The sign-in step that asks for the code, carrying `next` on when it is not `/`.
pub fn two_factor_step_url(next: &str) -> String {
    if next == "/" {
        return "/login/two-factor".to_string();
    }
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("next", next)
        .finish();
    format!("/login/two-factor?{query}")
}

/// A `next=` target is followed only when it is a local path: `/account` yes;
/// `https://evil.example`, `//evil.example` and `/\evil.example` (which browsers treat as
/// protocol-relative) no. Anything else falls back to `/`.
pub fn safe_next(next: Option<&str>) -> String {
    crate::model::forms::local_redirect_target(next)
        .unwrap_or("/")
        .to_string()
}
