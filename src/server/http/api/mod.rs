//! The JSON API for non-browser clients, under `/api/v1`.
//!
//! CORS applies here and only here: the pages and server functions are same-origin by design.
//! Origins come from `ALLOWED_ORIGINS` and are matched exactly; credentials are allowed only
//! for those origins (the configuration refuses `*` and `null`, so neither can be echoed).

use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderValue, Method};
use axum::Router;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::model::AppError;
use crate::server::state::AppState;

pub fn router(allowed_origins: &[String]) -> Router<AppState> {
    Router::new()
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
