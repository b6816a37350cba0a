//! The JSON API for non-browser clients, under `/api/v1`.
//!
//! - `POST /token`: OAuth2 password grant → short-lived JWT access token.
//! - `POST /users`: registration; `GET /users/me`: the caller (JWT, or API key with
//!   `read:profile`).
//! - `POST /password-reset`: a reset link by mail (always 202).
//! - `/keys`: personal API keys (JWT only: a key cannot manage keys).
//! - `GET /openapi.json`: the OpenAPI 3.1 document, generated from these handlers.
//!
//! Every handler is a thin door onto the auth services, like the server functions are: it
//! takes what it needs as extractors (`RequestId`, `ClientMeta`, `Json<T>`, the caller) and
//! returns `Result<_, ApiError>`.
//!
//! CORS applies here and only here: the pages and server functions are same-origin by design.
//! Origins come from `ALLOWED_ORIGINS` and are matched exactly; credentials are allowed only
//! for those origins (the configuration refuses `*` and `null`, so neither can be echoed).

pub mod error;
pub mod keys;
pub mod openapi;
pub mod password_reset;
pub mod principal;
pub mod token;
pub mod users;

use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderValue, Method};
use axum::routing::{delete, get, post};
use axum::Router;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::model::AppError;
use crate::server::state::AppState;

pub fn router(allowed_origins: &[String]) -> Router<AppState> {
    Router::new()
        .route("/token", post(token::token))
        .route("/users", post(users::register))
        .route("/users/me", get(users::me))
        .route("/password-reset", post(password_reset::request))
        .route("/keys", get(keys::list).post(keys::create))
        .route("/keys/{id}", delete(keys::revoke))
        .route("/openapi.json", get(openapi::document))
        .fallback(not_found)
        .layer(cors(allowed_origins))
}

/// Unknown API paths answer in JSON, like the rest of the API.
async fn not_found(request: axum::extract::Request) -> axum::response::Response {
    super::error_page::error_response(&request, AppError::NotFound)
}

fn cors(allowed_origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = allowed_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    let layer = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::DELETE])
        .allow_headers([AUTHORIZATION, CONTENT_TYPE])
        .max_age(std::time::Duration::from_secs(600));
    if origins.is_empty() {
        // No cross-origin caller is trusted: no CORS headers at all.
        layer
    } else {
        layer
            .allow_origin(AllowOrigin::list(origins))
            .allow_credentials(true)
    }
}
