//! `/api/v1/keys`: list, create and revoke personal API keys. Access tokens only.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::model::api_key::{ApiKeyView, CreateApiKeyForm, CreatedApiKey};
use crate::server::auth::ClientMeta;
use crate::server::http::extract::RequestId;
use crate::server::state::AppState;

use super::error::{ApiError, OrApiError};
use super::principal::AccessToken;

#[derive(Deserialize, ToSchema)]
pub struct CreateKeyRequest {
    /// A name to recognise the key by (1–64 characters).
    pub name: String,
    /// Days until the key stops working (1–3650); omit for no expiry.
    pub expires_in_days: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct KeyResponse {
    pub id: i64,
    pub name: String,
    /// The public part of the key, to tell keys apart (`gk_<prefix>_…`).
    pub prefix: String,
    pub scopes: Vec<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl From<ApiKeyView> for KeyResponse {
    fn from(key: ApiKeyView) -> Self {
        Self {
            id: key.id,
            name: key.name,
            prefix: key.prefix,
            scopes: key.scopes.split_whitespace().map(str::to_string).collect(),
            created_at: key.created_at,
            expires_at: key.expires_at,
            last_used_at: key.last_used_at,
            revoked_at: key.revoked_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CreatedKeyResponse {
    #[serde(flatten)]
    pub key: KeyResponse,
    /// The full key. Shown this once; only its hash is stored.
    pub secret: String,
}

impl From<CreatedApiKey> for CreatedKeyResponse {
    fn from(created: CreatedApiKey) -> Self {
        Self {
            key: created.key.into(),
            secret: created.secret,
        }
    }
}

/// The caller's keys, newest first.
#[utoipa::path(get, path = "/api/v1/keys", tag = "keys", security(("bearer_jwt" = [])),
    responses((status = 200, body = [KeyResponse]), (status = 401), (status = 403, description = "API keys cannot manage keys")))]
pub async fn list(
    State(state): State<AppState>,
    request_id: RequestId,
    AccessToken(principal): AccessToken,
) -> Result<Json<Vec<KeyResponse>>, ApiError> {
    let keys = state
        .auth
        .api_keys
        .list(principal.user_id)
        .await
        .or_api_error(&request_id)?;
    Ok(Json(keys.into_iter().map(KeyResponse::from).collect()))
}

/// Creates a key with scope `read:profile`; the answer holds the secret, once.
#[utoipa::path(post, path = "/api/v1/keys", tag = "keys", security(("bearer_jwt" = [])), request_body = CreateKeyRequest,
    responses((status = 201, body = CreatedKeyResponse), (status = 401), (status = 403), (status = 422)))]
pub async fn create(
    State(state): State<AppState>,
    request_id: RequestId,
    meta: ClientMeta,
    AccessToken(principal): AccessToken,
    Json(request): Json<CreateKeyRequest>,
) -> Result<(StatusCode, Json<CreatedKeyResponse>), ApiError> {
    let form = CreateApiKeyForm {
        name: request.name,
        expires_in_days: request.expires_in_days,
    };
    let created = state
        .auth
        .api_keys
        .create(principal.user_id, &form, &meta)
        .await
        .or_api_error(&request_id)?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

/// Revokes one of the caller's keys.
#[utoipa::path(delete, path = "/api/v1/keys/{id}", tag = "keys", security(("bearer_jwt" = [])),
    params(("id" = i64, Path, description = "Key id")),
    responses((status = 204), (status = 401), (status = 403), (status = 404)))]
pub async fn revoke(
    State(state): State<AppState>,
    request_id: RequestId,
    meta: ClientMeta,
    AccessToken(principal): AccessToken,
    Path(key_id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    state
        .auth
        .api_keys
        .revoke(principal.user_id, key_id, &meta)
        .await
        .or_api_error(&request_id)?;
    Ok(StatusCode::NO_CONTENT)
}
