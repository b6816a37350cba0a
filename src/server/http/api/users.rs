//! `POST /api/v1/users` (registration) and `GET /api/v1/users/me`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::model::{Password, PublicUser, RegisterForm};
use crate::server::auth::{ClientMeta, CreatedAccount};
use crate::server::http::extract::RequestId;
use crate::server::state::AppState;

use super::error::{ApiError, OrApiError};
use super::principal::{ReadProfile, Scoped};

/// Registration. Unknown fields are ignored; nobody can set a role or an id.
#[derive(Deserialize, ToSchema)]
pub struct RegisterRequest {
    pub email: String,
    pub username: String,
    #[schema(value_type = String)]
    pub password: Password,
}

/// What the API shows of an account: never a hash or an internal id.
#[derive(Serialize, ToSchema)]
pub struct UserResponse {
    pub username: String,
    pub email: String,
    /// Seconds since the Unix epoch (UTC).
    pub created_at: i64,
    /// The owner has confirmed `email` by following a link mailed to it.
    pub email_verified: bool,
    /// Signing in needs a second factor (an authenticator code or a recovery code).
    pub two_factor_enabled: bool,
}

impl From<PublicUser> for UserResponse {
    fn from(user: PublicUser) -> Self {
        Self {
            username: user.username,
            email: user.email,
            created_at: user.created_at,
            email_verified: user.email_verified,
            two_factor_enabled: user.two_factor_enabled,
        }
    }
}

/// 202: the request was taken; what happens next arrives by mail (or not), and the answer is
/// the same either way.
#[derive(Serialize, ToSchema)]
pub struct AcceptedResponse {
    pub message: &'static str,
}

impl AcceptedResponse {
    pub fn into_response(self) -> Response {
        (StatusCode::ACCEPTED, Json(self)).into_response()
    }
}

/// The answer to every sign-up when verification is required.
pub const CHECK_INBOX: &str =
    "Check your inbox: a message to the address you gave says how to go on.";

/// Creates an account (same rules as the browser form). When the server requires verified
/// addresses (`EMAIL_VERIFICATION=required`), the answer is 202 whether or not the address
/// already had an account: a new account is usable once its owner follows the link mailed to
/// it, and the owner of a taken address is told of the attempt instead.
#[utoipa::path(
    post,
    path = "/api/v1/users",
    tag = "users",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created (verification optional)", body = UserResponse),
        (status = 202, description = "Verification required: check the inbox of the address", body = AcceptedResponse),
        (status = 422, description = "Field errors: {\"error\":\"validation_failed\",\"fields\":{…}}"),
        (status = 429, description = "Too many registrations from this address"),
    )
)]
pub async fn register(
    State(state): State<AppState>,
    request_id: RequestId,
    meta: ClientMeta,
    Json(request): Json<RegisterRequest>,
) -> Result<Response, ApiError> {
    let form = RegisterForm {
        email: request.email,
        username: request.username,
        password_confirm: request.password.clone(),
        password: request.password,
    };
    let created = state
        .auth
        .registration
        .create_account(&form, &meta)
        .await
        .or_api_error(&request_id)?;
    Ok(match created {
        CreatedAccount::Created(user) => {
            (StatusCode::CREATED, Json(UserResponse::from(user))).into_response()
        }
        CreatedAccount::CheckInbox => AcceptedResponse {
            message: CHECK_INBOX,
        }
        .into_response(),
    })
}

/// The account behind the access token or API key.
#[utoipa::path(
    get,
    path = "/api/v1/users/me",
    tag = "users",
    security(("bearer_jwt" = []), ("api_key" = ["read:profile"])),
    responses(
        (status = 200, description = "The caller's account", body = UserResponse),
        (status = 400, description = "`invalid_request`: an Authorization header that is not one `Bearer <credential>`"),
        (status = 401, description = "Missing, invalid, expired or revoked credential"),
        (status = 403, description = "`insufficient_scope`: an API key without `read:profile`"),
    )
)]
pub async fn me(Scoped(principal, _): Scoped<ReadProfile>) -> Json<UserResponse> {
    Json(principal.user.into())
}
