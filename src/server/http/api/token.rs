//! `POST /api/v1/token`: the OAuth2 resource owner password grant (RFC 6749 §4.3).
//!
//! Errors follow RFC 6749 §5.2: `invalid_request` (also for a repeated parameter, §3.2, and
//! a malformed `client_id`), `unsupported_grant_type`, `invalid_grant` (unknown user and wrong
//! password alike). The same per-IP limit and per-account throttle as the browser sign-in
//! apply, because both go through `SignIn::authenticate`.
//!
//! The optional `client_id` names the calling program; it becomes the token's `client_id`
//! claim (RFC 9068 §2.2), `gatehouse-password-grant` when absent. It is not a registered
//! client and proves nothing: it is there so logs and resource servers can tell programs apart.

use std::collections::HashSet;

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
use crate::server::auth::{ClientId, ClientMeta};
use crate::server::http::extract::RequestId;
use crate::server::state::AppState;

use super::error::{ApiError, OrApiError};

/// The token request's parameters (`application/x-www-form-urlencoded`). Each may appear
/// once; unknown parameters (`scope`, for one) are ignored.
#[derive(Default, ToSchema)]
pub struct TokenRequest {
    /// Must be `password`.
    #[schema(required = true, example = "password")]
    pub grant_type: Option<String>,
    /// The username or email address.
    #[schema(required = true)]
    pub username: Option<String>,
    #[schema(required = true, value_type = String, format = Password)]
    pub password: Option<Password>,
    /// Optional: names the calling program, 1–64 printable ASCII characters. Becomes the
    /// token's `client_id` claim; `gatehouse-password-grant` when absent.
    #[schema(max_length = 64, example = "backup-script")]
    pub client_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    /// A JWT to send as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: i64,
}

/// `invalid_grant` for an account with two-factor on (its password was right).
pub const SECOND_FACTOR_REQUIRED: &str = "This account uses two-factor authentication, so the password grant cannot sign it in. Use an API key (created on the account page) instead.";

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

impl OAuthError {
    #[cfg(test)]
    fn error_description(&self) -> &'static str {
        self.description
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
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Access token issued", body = TokenResponse),
        (status = 400, description = "RFC 6749 §5.2 error JSON (`{\"error\", \"error_description\"}`): `invalid_request` (not form-encoded, a parameter missing or repeated, a malformed `client_id`), `unsupported_grant_type`, or `invalid_grant` (wrong username or password, or an account with two-factor authentication on, which uses an API key instead)"),
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
    let request = read_token_request(&body)?;
    match request.grant_type.as_deref() {
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
    let client = match request.client_id.as_deref() {
        None => ClientId::password_grant(),
        Some(raw) => ClientId::parse(raw).ok_or_else(|| {
            invalid_request("client_id must be 1 to 64 printable ASCII characters.")
        })?,
    };
    let (Some(username), Some(password)) = (request.username, request.password) else {
        return Err(invalid_request("username and password are required.").into());
    };
    let form = LoginForm { username, password };
    let issued = state
        .auth
        .tokens
        .password_grant(&form, &client, &meta)
        .await
        .or_api_error(&request_id)
        .map_err(|refused| match refused.error {
            AppError::InvalidCredentials => TokenRefusal::OAuth(OAuthError {
                status: StatusCode::BAD_REQUEST,
                error: "invalid_grant",
                description: "Incorrect username or password",
            }),
            AppError::SecondFactorRequired => TokenRefusal::OAuth(OAuthError {
                status: StatusCode::BAD_REQUEST,
                error: "invalid_grant",
                description: SECOND_FACTOR_REQUIRED,
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

/// Reads the form body into a `TokenRequest`, refusing a body that repeats a parameter
/// (RFC 6749 §3.2: "parameters MUST NOT be included more than once"). A repeat is refused
/// rather than resolved, because which copy wins is exactly what an attacker who appends a
/// second `username` or `client_id` to someone else's request would count on. As §3.1 asks,
/// a parameter sent without a value counts as omitted.
fn read_token_request(body: &[u8]) -> Result<TokenRequest, OAuthError> {
    let Ok(pairs) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body) else {
        return Err(invalid_request("The body could not be read."));
    };
    let mut seen = HashSet::new();
    if !pairs.iter().all(|(name, _)| seen.insert(name.as_str())) {
        return Err(invalid_request(
            "A parameter was included more than once (RFC 6749 §3.2).",
        ));
    }
    let mut request = TokenRequest::default();
    for (name, value) in pairs.into_iter().filter(|(_, value)| !value.is_empty()) {
        match name.as_str() {
            "grant_type" => request.grant_type = Some(value),
            "username" => request.username = Some(value),
            "password" => request.password = Some(Password::from(value)),
            "client_id" => request.client_id = Some(value),
            _ => {}
        }
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(body: &str) -> Result<TokenRequest, &'static str> {
        read_token_request(body.as_bytes()).map_err(|e| e.error_description())
    }

    #[test]
    fn every_parameter_is_read_once_and_empty_ones_count_as_omitted() {
        let request =
            read("grant_type=password&username=ada&password=p%20w&client_id=&scope=x").unwrap();
        assert_eq!(request.grant_type.as_deref(), Some("password"));
        assert_eq!(request.username.as_deref(), Some("ada"));
        assert_eq!(request.password.as_ref().map(Password::expose), Some("p w"));
        assert_eq!(request.client_id, None);
    }

    #[test]
    fn a_repeated_parameter_is_refused_whatever_its_values() {
        for body in [
            "grant_type=password&username=ada&username=eve&password=x",
            "grant_type=password&username=ada&password=x&password=x",
            "grant_type=password&username=ada&password=x&client_id=a&client_id=",
            "grant_type=password&grant_type=password&username=ada&password=x",
            "scope=a&scope=b&grant_type=password&username=ada&password=x",
        ] {
            let refused = read(body).err();
            assert!(
                refused.is_some_and(|d| d.contains("more than once")),
                "{body}"
            );
        }
    }
}
