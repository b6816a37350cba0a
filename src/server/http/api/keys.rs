//! `/api/v1/keys`: list, create and revoke personal API keys. Access tokens only.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::server::db::ApiKeyRecord;
use crate::server::limits::client_ip::ClientIp;
use crate::server::state::AppState;

use super::principal::AccessToken;
use super::users::error_json;
use super::{client_meta, request_id};

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

impl From<&ApiKeyRecord> for KeyResponse {
    fn from(key: &ApiKeyRecord) -> Self {
        Self {
            id: key.id,
            name: key.name.clone(),
            prefix: key.prefix.clone(),
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

/// The caller's keys, newest first.
#[utoipa::path(get, path = "/api/v1/keys", tag = "keys", security(("bearer_jwt" = [])),
    responses((status = 200, body = [KeyResponse]), (status = 401), (status = 403, description = "API keys cannot manage keys")))]
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    AccessToken(principal): AccessToken,
) -> Response {
    match state.auth.api_keys(principal.user.id).await {
        Ok(keys) => Json(keys.iter().map(KeyResponse::from).collect::<Vec<_>>()).into_response(),
        Err(err) => {
            let id = request_id(&headers);
            error_json(err.into_app_error(&id), &id)
        }
    }
}

/// Creates a key with scope `read:profile`; the answer holds the secret, once.
#[utoipa::path(post, path = "/api/v1/keys", tag = "keys", security(("bearer_jwt" = [])), request_body = CreateKeyRequest,
    responses((status = 201, body = CreatedKeyResponse), (status = 401), (status = 403), (status = 422)))]
pub async fn create(
    State(state): State<AppState>,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    AccessToken(principal): AccessToken,
    Json(request): Json<CreateKeyRequest>,
) -> Response {
    let meta = client_meta(&headers, ip.map(|Extension(ip)| ip));
    match state
        .auth
        .create_api_key(
            principal.user.id,
            &request.name,
            request.expires_in_days,
            &meta,
        )
        .await
    {
        Ok(created) => (
            StatusCode::CREATED,
            Json(CreatedKeyResponse {
                key: KeyResponse::from(&created.record),
                secret: created.secret,
            }),
        )
            .into_response(),
        Err(err) => {
            let id = request_id(&headers);
            error_json(err.into_app_error(&id), &id)
        }
    }
}

/// Revokes one of the caller's keys.
#[utoipa::path(delete, path = "/api/v1/keys/{id}", tag = "keys", security(("bearer_jwt" = [])),
    params(("id" = i64, Path, description = "Key id")),
    responses((status = 204), (status = 401), (status = 403), (status = 404)))]
pub async fn revoke(
    State(state): State<AppState>,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    AccessToken(principal): AccessToken,
    Path(key_id): Path<i64>,
) -> Response {
    let meta = client_meta(&headers, ip.map(|Extension(ip)| ip));
    match state
        .auth
        .revoke_api_key(principal.user.id, key_id, &meta)
        .await
    {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(err) => {
            let id = request_id(&headers);
            error_json(err.into_app_error(&id), &id)
        }
    }
}
