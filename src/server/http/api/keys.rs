//! `/api/v1/keys`: list, create and revoke personal API keys. Access tokens only.
//!
//! Creating a key needs the account's password in the body, although the caller already holds
//! an access token: the token was itself issued for that password, but it may have been copied
//! from a log or a shell history since, and a key outlives it. The browser form asks for the
//! password the same way (`ApiKeys::create` checks it for both).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use crate::model::api_key::{
    ApiKeyView, CreateApiKeyForm, CreatedApiKey, KeyExpiry, DEFAULT_KEY_EXPIRY_DAYS,
    MAX_KEY_EXPIRY_DAYS, NEVER_EXPIRES,
};
use crate::model::{AppError, FieldErrors, Password};
use crate::server::auth::ClientMeta;
use crate::server::http::extract::RequestId;
use crate::server::state::AppState;

use super::error::{ApiError, OrApiError};
use super::principal::AccessToken;

#[derive(Deserialize, ToSchema)]
pub struct CreateKeyRequest {
    /// A name to recognise the key by (1–64 characters).
    pub name: String,
    /// Days until the key stops working (1–3650), or `"never"`. Omitted or `null`: 90 days.
    #[serde(default)]
    pub expires_in_days: Option<RequestedExpiry>,
    /// The account's current password. A wrong one is a field error on `password` (422) and
    /// counts against the account's sign-in throttle.
    #[serde(default)]
    #[schema(required = true, value_type = String, format = Password)]
    pub password: Password,
}

/// `expires_in_days` as sent: a number of days or `"never"`, read by hand so that any other
/// value is a field error (422 `validation_failed`) like the rest of the form, not a
/// deserialisation failure.
#[derive(Deserialize)]
#[serde(transparent)]
pub struct RequestedExpiry(Value);

impl RequestedExpiry {
    fn choice(&self) -> Result<KeyExpiry, FieldErrors> {
        match &self.0 {
            Value::Null => Ok(KeyExpiry::default()),
            // A whole number out of range (even past u32) gets the shared validation's message.
            Value::Number(days) if days.is_u64() => Ok(KeyExpiry::Days(
                days.as_u64()
                    .and_then(|d| u32::try_from(d).ok())
                    .unwrap_or(u32::MAX),
            )),
            Value::String(word) if word == NEVER_EXPIRES => Ok(KeyExpiry::Never),
            _ => Err(FieldErrors::single(
                "expires_in_days",
                "Give a whole number of days (1 to 3650), or \"never\".",
            )),
        }
    }
}

impl PartialSchema for RequestedExpiry {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(1))
                    .maximum(Some(MAX_KEY_EXPIRY_DAYS)),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some([NEVER_EXPIRES])),
            )
            .description(Some(
                "Days until the key stops working, or \"never\" (only when sent explicitly).",
            ))
            .default(Some(DEFAULT_KEY_EXPIRY_DAYS.into()))
            .into()
    }
}

impl ToSchema for RequestedExpiry {}

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
    responses((status = 200, body = [KeyResponse]), (status = 400, description = "`invalid_request`: an Authorization header that is not one `Bearer <access token>`"), (status = 401), (status = 403, description = "API keys cannot manage keys")))]
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

/// Creates a key with scope `read:profile` after checking the account's password; the answer
/// holds the secret, once. The key expires after 90 days unless `expires_in_days` says
/// otherwise (`"never"` included).
#[utoipa::path(post, path = "/api/v1/keys", tag = "keys", security(("bearer_jwt" = [])), request_body = CreateKeyRequest,
    responses((status = 201, body = CreatedKeyResponse),
        (status = 400, description = "`invalid_request`: an Authorization header that is not one `Bearer <access token>`"),
        (status = 401), (status = 403, description = "API keys cannot manage keys"),
        (status = 422, description = "Field errors (`name`, `expires_in_days`, `password`: missing or wrong)"),
        (status = 429, description = "Too many wrong passwords for this account; see Retry-After")))]
pub async fn create(
    State(state): State<AppState>,
    request_id: RequestId,
    meta: ClientMeta,
    AccessToken(principal): AccessToken,
    Json(request): Json<CreateKeyRequest>,
) -> Result<(StatusCode, Json<CreatedKeyResponse>), ApiError> {
    let expires_in_days = match &request.expires_in_days {
        None => KeyExpiry::default(),
        Some(requested) => requested
            .choice()
            .map_err(|fields| ApiError::new(AppError::Validation(fields), &request_id))?,
    };
    let form = CreateApiKeyForm {
        name: request.name,
        expires_in_days,
        password: request.password,
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
    responses((status = 204), (status = 400, description = "`invalid_request`: an Authorization header that is not one `Bearer <access token>`"), (status = 401), (status = 403), (status = 404)))]
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
