//! `POST /api/v1/password-reset`: a reset link by mail, for clients with their own sign-in
//! screens. The link opens the browser page that sets the new password.

use axum::extract::State;
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::model::EmailAddressForm;
use crate::server::auth::ClientMeta;
use crate::server::http::extract::RequestId;
use crate::server::state::AppState;

use super::error::{ApiError, OrApiError};
use super::users::AcceptedResponse;

#[derive(Deserialize, ToSchema)]
pub struct PasswordResetRequest {
    pub email: String,
}

/// Mails a password reset link to the address, if an account has it. The answer is 202 and
/// the same either way, as fast either way: it never tells whether the address has an
/// account.
#[utoipa::path(
    post,
    path = "/api/v1/password-reset",
    tag = "users",
    request_body = PasswordResetRequest,
    responses(
        (status = 202, description = "Taken: if an account has the address, a link is on its way", body = AcceptedResponse),
        (status = 422, description = "Not an email address: {\"error\":\"validation_failed\",\"fields\":{\"email\":…}}"),
        (status = 429, description = "Too many requests for mail from this client address"),
    )
)]
pub async fn request(
    State(state): State<AppState>,
    request_id: RequestId,
    meta: ClientMeta,
    Json(request): Json<PasswordResetRequest>,
) -> Result<Response, ApiError> {
    let form = EmailAddressForm {
        email: request.email,
    };
    state
        .auth
        .password_reset
        .request(&form, &meta)
        .await
        .or_api_error(&request_id)?;
    Ok(AcceptedResponse {
        message: "If an account has this address, a password reset link is on its way to it.",
    }
    .into_response())
}
