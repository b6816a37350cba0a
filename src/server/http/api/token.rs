//! `POST /api/v1/token`: the OAuth2 resource owner password grant (RFC 6749 §4.3).
//!
//! Errors follow RFC 6749 §5.2: `invalid_request`, `unsupported_grant_type`, `invalid_grant`
//! (unknown user and wrong password alike). The same per-IP limit and per-account throttle
//! as the browser sign-in apply, because both go through `AuthService::authenticate`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{CONTENT_TYPE, PRAGMA};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::model::{AppError, LoginForm};
use crate::server::limits::client_ip::ClientIp;
use crate::server::state::AppState;

use super::{client_meta, request_id};

#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    /// A JWT to send as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: i64,
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

/// OAuth2 password grant.
#[utoipa::path(
    post,
    path = "/api/v1/token",
    tag = "auth",
    request_body(content_type = "application/x-www-form-urlencoded", description = "grant_type=password&username=…&password=…[&scope=…]"),
    responses(
        (status = 200, description = "Access token issued", body = TokenResponse),
        (status = 400, description = "invalid_request, unsupported_grant_type or invalid_grant (RFC 6749 §5.2)"),
        (status = 429, description = "Too many attempts; see Retry-After"),
        (status = 503, description = "Busy; see Retry-After"),
    )
)]
pub async fn token(
    State(state): State<AppState>,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form_encoded = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form_encoded {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Send the parameters as application/x-www-form-urlencoded.",
        );
    }
    let Ok(params) = serde_urlencoded::from_bytes::<HashMap<String, String>>(&body) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The body could not be read.",
        );
    };
    match params.get("grant_type").map(String::as_str) {
        None => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is required.",
            )
        }
        Some("password") => {}
        Some(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Only grant_type=password is supported.",
            )
        }
    }
    let (Some(username), Some(password)) = (params.get("username"), params.get("password")) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "username and password are required.",
        );
    };
    let id = request_id(&headers);
    let form = LoginForm {
        username: username.clone(),
        password: password.clone(),
    };
    let meta = client_meta(&headers, ip.map(|Extension(ip)| ip));
    let user = match state.auth.authenticate(&form, &meta).await {
        Ok(user) => user,
        Err(err) => {
            return match err.into_app_error(&id) {
                AppError::InvalidCredentials => oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Incorrect username or password",
                ),
                AppError::Validation(_) => oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "username and password must be present and at most 128 characters.",
                ),
                other => super::users::error_json(other, &id),
            };
        }
    };
    match state.auth.issue_access_token(&user, &meta).await {
        Ok((access_token, expires_in)) => {
            let mut response = Json(TokenResponse {
                access_token,
                token_type: "bearer",
                expires_in,
            })
            .into_response();
            // RFC 6749 §5.1: token responses must not be cached (no-store is set by the edge).
            response
                .headers_mut()
                .insert(PRAGMA, axum::http::HeaderValue::from_static("no-cache"));
            response
        }
        Err(err) => super::users::error_json(err.into_app_error(&id), &id),
    }
}
