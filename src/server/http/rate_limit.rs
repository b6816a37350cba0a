//! The global per-IP limit on all requests: a ceiling against floods and scrapers, well above
//! what a person clicking through pages does (a page load is ~5 requests). Static assets and
//! health checks are exempt: they are cheap, cached, and a load balancer polls health often.
//! The tight limits on credential endpoints are checked by the auth services.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::server::limits::client_ip::{limit_key_of, ClientIp};
use crate::server::state::AppState;

use super::error_page::error_response;

fn exempt(path: &str) -> bool {
    path.starts_with("/pkg/")
        || matches!(
            path,
            "/healthz" | "/readyz" | "/favicon.ico" | "/robots.txt"
        )
}

pub async fn global_limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if exempt(request.uri().path()) {
        return next.run(request).await;
    }
    // Without a known address the request counts in the shared `unknown` bucket, as it
    // does on the credential endpoints.
    let ip = request
        .extensions()
        .get::<ClientIp>()
        .map(|ClientIp(ip)| *ip);
    let limits = &state.limits;
    match limits.check(&limits.global, limit_key_of(ip)).await {
        Ok(()) => next.run(request).await,
        Err(err) => error_response(&request, err),
    }
}
