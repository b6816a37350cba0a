//! `POST /api/v1/users` (registration) and `GET /api/v1/users/me`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::model::{AppError, RegisterForm};
use crate::server::db::UserRecord;
use crate::server::http::error_page::json_error;
use crate::server::limits::client_ip::ClientIp;
use crate::server::state::AppState;

use super::principal::Authenticated;
use super::{client_meta, request_id};

/// Registration. Unknown fields are ignored; nobody can set a role or an id.
#[derive(Deserialize, ToSchema)]
pub struct RegisterRequest {
    pub email: String,
    pub username: String,
    pub password: String,
}

/// What the API shows of an account: never a hash or an internal id.
#[derive(Serialize, ToSchema)]
pub struct UserResponse {
    pub username: String,
    pub email: String,
    /// Seconds since the Unix epoch (UTC).
    pub created_at: i64,
}

impl From<&UserRecord> for UserResponse {
    fn from(user: &UserRecord) -> Self {
        Self {
            username: user.username.clone(),
            email: user.email.clone(),
            created_at: user.created_at,
        }
    }
}

/// The API's error answer (see `error_page::json_error`), naming this request.
pub fn error_json(err: AppError, request_id: &str) -> Response {
    json_error(&err, Some(request_id))
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
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    Json(request): Json<RegisterRequest>,
) -> Response {
    let id = request_id(&headers);
    let form = RegisterForm {
        email: request.email,
        username: request.username,
        password_confirm: request.password.clone(),
        password: request.password,
    };
    let meta = client_meta(&headers, ip.map(|Extension(ip)| ip));
    match state.auth.create_account(&form, &meta).await {
        Ok(user) => (StatusCode::CREATED, Json(UserResponse::from(&user))).into_response(),
        Err(err) => error_json(err.into_app_error(&id), &id),
    }
}

/// The account behind the access token or API key.
#[utoipa::path(
    get,
    path = "/api/v1/users/me",
    tag = "users",
    security(("bearer_jwt" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The caller's account", body = UserResponse),
        (status = 401, description = "Missing, invalid, expired or revoked credential"),
    )
)]
pub async fn me(Authenticated(principal): Authenticated) -> Json<UserResponse> {
    Json(UserResponse::from(&principal.user))
}
