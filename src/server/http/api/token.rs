//! `POST /api/v1/token`: the OAuth2 resource owner password grant (RFC 6749 §4.3).
//!
//! Errors follow RFC 6749 §5.2: `invalid_request`, `unsupported_grant_type`, `invalid_grant`
//! (unknown user and wrong password alike). The same per-IP limit and per-account throttle
//! as the browser sign-in apply, because both go through `SignIn::authenticate`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{CONTENT_TYPE, PRAGMA};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::model::{AppError, LoginForm, Password};
use crate::server::auth::ClientMeta;
use crate::server::http::extract::RequestId;
use crate::server::state::AppState;

use super::error::{ApiError, OrApiError};

#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    /// A JWT to send as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: i64,
}

/// An error answer in the shape RFC 6749 §5.2 prescribes: `{"error", "error_description"}`.
pub struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: &'static str,
}

fn invalid_request(description: &'static str) -> OAuthError {
    OAuthError {
        status: StatusCode::BAD_REQUEST,
        error: "invalid_request",
        description,
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({ "error": self.error, "error_description": self.description })),
        )
            .into_response()
    }
}

/// Why a token request failed: the grant itself (RFC 6749 errors), or the server (limits,
/// throttle, saturation, faults: the API's usual error shape with the request id).
pub enum TokenRefusal {
    OAuth(OAuthError),
    Api(ApiError),
}

impl From<OAuthError> for TokenRefusal {
    fn from(error: OAuthError) -> Self {
        Self::OAuth(error)
    }
}

impl IntoResponse for TokenRefusal {
    fn into_response(self) -> Response {
        match self {
            Self::OAuth(error) => error.into_response(),
            Self::Api(error) => error.into_response(),
        }
    }
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
    request_id: RequestId,
    meta: ClientMeta,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, TokenRefusal> {
    let form_encoded = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form_encoded {
        return Err(
            invalid_request("Send the parameters as application/x-www-form-urlencoded.").into(),
        );
    }
    let Ok(params) = serde_urlencoded::from_bytes::<HashMap<String, String>>(&body) else {
        return Err(invalid_request("The body could not be read.").into());
    };
    match params.get("grant_type").map(String::as_str) {
        None => return Err(invalid_request("grant_type is required.").into()),
        Some("password") => {}
        Some(_) => {
            return Err(OAuthError {
                status: StatusCode::BAD_REQUEST,
                error: "unsupported_grant_type",
                description: "Only grant_type=password is supported.",
            }
            .into())
        }
    }
    let (Some(username), Some(password)) = (params.get("username"), params.get("password")) else {
        return Err(invalid_request("username and password are required.").into());
    };
    let form = LoginForm {
        username: username.clone(),
        password: Password::from(password.as_str()),
    };
    let issued = state
        .auth
        .tokens
        .password_grant(&form, &meta)
        .await
        .or_api_error(&request_id)
        .map_err(|refused| match refused.error {
            AppError::InvalidCredentials => TokenRefusal::OAuth(OAuthError {
                status: StatusCode::BAD_REQUEST,
                error: "invalid_grant",
                description: "Incorrect username or password",
            }),
            AppError::Validation(_) => TokenRefusal::OAuth(invalid_request(
                "username and password must be present and at most 128 characters.",
            )),
            _ => TokenRefusal::Api(refused),
        })?;
    let mut response = Json(TokenResponse {
        access_token: issued.access_token,
        token_type: "bearer",
        expires_in: issued.expires_in,
    })
    .into_response();
    // RFC 6749 §5.1: token responses must not be cached (no-store is set by the edge).
    response
        .headers_mut()
        .insert(PRAGMA, axum::http::HeaderValue::from_static("no-cache"));
    Ok(response)
}
