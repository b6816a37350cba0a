//! `POST /api/v1/users` (registration) and `GET /api/v1/users/me`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::model::{Password, PublicUser, RegisterForm};
use crate::server::auth::ClientMeta;
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
}

impl From<PublicUser> for UserResponse {
    fn from(user: PublicUser) -> Self {
        Self {
            username: user.username,
            email: user.email,
            created_at: user.created_at,
        }
    }
}

/// Creates an account (same rules as the browser form).
#[utoipa::path(
    post,
    path = "/api/v1/users",
    tag = "users",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created", body = UserResponse),
        (status = 422, description = "Field errors: {\"error\":\"validation_failed\",\"fields\":{…}}"),
        (status = 429, description = "Too many registrations from this address"),
    )
)]
pub async fn register(
    State(state): State<AppState>,
    request_id: RequestId,
    meta: ClientMeta,
    Json(request): Json<RegisterRequest>,
) -> Result<(StatusCode, Json<UserResponse>), ApiError> {
    let form = RegisterForm {
        email: request.email,
        username: request.username,
        password_confirm: request.password.clone(),
        password: request.password,
    };
    let user = state
        .auth
        .registration
        .create_account(&form, &meta)
        .await
        .or_api_error(&request_id)?;
    Ok((StatusCode::CREATED, Json(user.into())))
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
