//! Who is calling: `Authorization: Bearer <access token or API key>`.
//!
//! Credentials are accepted only in the `Authorization` header. A token in the query string
//! (`?access_token=`) is ignored, because URLs end up in logs, browser history and `Referer`.

use axum::extract::FromRequestParts;
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::server::auth::{Credential, Principal};
use crate::server::http::extract::RequestId;
use crate::server::state::AppState;

use super::error::OrApiError;

/// Any valid credential: an access token or an API key.
pub struct Authenticated(pub Principal);

/// An access token only: key and session management refuse API keys.
pub struct AccessToken(pub Principal);

fn challenge(
    status: StatusCode,
    error: Option<&str>,
    description: &str,
    request_id: RequestId,
) -> Response {
    let value = match error {
        Some(error) => format!(
            r#"Bearer realm="gatehouse", error="{error}", error_description="{description}""#
        ),
        None => r#"Bearer realm="gatehouse""#.to_string(),
    };
    let code = error.unwrap_or("unauthenticated");
    let mut response = (
        status,
        Json(json!({ "error": code, "message": description, "request_id": request_id.as_str() })),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(WWW_AUTHENTICATE, value);
    }
    response
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let id = RequestId::of(&parts.headers);
        let Some(header) = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return Err(challenge(
                StatusCode::UNAUTHORIZED,
                None,
                "Authentication required.",
                id,
            ));
        };
        let credential = match header.split_once(' ') {
            Some((scheme, value)) if scheme.eq_ignore_ascii_case("bearer") => value.trim(),
            _ => {
                return Err(challenge(
                    StatusCode::UNAUTHORIZED,
                    Some("invalid_request"),
                    "Use the Bearer scheme.",
                    id,
                ))
            }
        };
        let resolved = state
            .auth
            .tokens
            .principal_for_bearer(credential)
            .await
            .or_api_error(&id)
            .map_err(IntoResponse::into_response)?;
        match resolved {
            Some(principal) => Ok(Self(principal)),
            None => Err(challenge(
                StatusCode::UNAUTHORIZED,
                Some("invalid_token"),
                "The access token or API key is invalid, expired or revoked.",
                id,
            )),
        }
    }
}

impl FromRequestParts<AppState> for AccessToken {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Authenticated(principal) = Authenticated::from_request_parts(parts, state).await?;
        match principal.via {
            Credential::AccessToken => Ok(Self(principal)),
            Credential::ApiKey { .. } => Err(challenge(
                StatusCode::FORBIDDEN,
                Some("insufficient_scope"),
                "API keys cannot manage keys; use an access token.",
                RequestId::of(&parts.headers),
            )),
        }
    }
}
